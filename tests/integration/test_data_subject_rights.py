"""A participant's rights: the export (Art. 15 GDPR), erasure (Art. 17), retention; and the lists staff work from."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import JSON, String, Text, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.models import Base
from telecon.outcomes.models import OutcomeVersion
from telecon.participants.models import Participant
from telecon.scheduling.models import Attendee, Consultation
from telecon.settings import Settings
from telecon.worker import run_housekeeping
from tests.conftest import (
    LiveServer,
    MovableClock,
    World,
    assert_problem,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    seed_world,
)

NAME = "Maria Muster"
EMAIL = "maria@test.invalid"
NOTES = "PLANTED-NOTES-5150: Angststörung"


@dataclass
class Scene:
    client: httpx.AsyncClient
    clock: MovableClock
    world: World
    past: dict[str, Any]
    future: dict[str, Any]
    admin: dict[str, str]
    coach: dict[str, str]
    specialist: dict[str, str]


@pytest.fixture
async def scene(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Scene]:
    world = await seed_world(sessionmaker)
    movable = MovableClock()
    with LiveServer(settings, app_clock=movable) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            day = next_weekday(1)
            past = await client.post("/api/v1/consultations", json=booking_body(world, berlin(day, 9)), headers=coach)
            assert past.status_code == 201, past.text
            later = next_weekday(2, weeks_ahead=4)
            future = await client.post(
                "/api/v1/consultations", json=booking_body(world, berlin(later, 10)), headers=coach
            )
            assert future.status_code == 201, future.text
            movable.move_to(berlin_time(day, 9) + timedelta(minutes=40))
            yield Scene(
                client=client,
                clock=movable,
                world=world,
                past=past.json(),
                future=future.json(),
                admin=await login(client, world.admin),
                coach=coach,
                specialist=await login(client, world.specialist),
            )


async def _fill_the_record(scene: Scene) -> None:
    """Personal data in every place it can be: a note, consent evidence, an outcome with summary and notes."""
    pid = scene.world.participant_id
    note = await scene.client.post(
        f"/api/v1/participants/{pid}/notes", json={"text": f"{NAME} ruft an: {EMAIL}"}, headers=scene.coach
    )
    assert note.status_code == 201, note.text
    consent = await scene.client.post(
        f"/api/v1/participants/{pid}/consents",
        json={"kind": "share_outcome_with_coach", "granted": True, "evidence": f"Unterschrift {NAME}"},
        headers=scene.coach,
    )
    assert consent.status_code == 201, consent.text
    outcome = await scene.client.put(
        f"/api/v1/consultations/{scene.past['id']}/outcome",
        json={
            "attendance": "attended",
            "summary_for_coach": f"{NAME} kann sechs Stunden arbeiten",
            "recommendations": [{"code": "physiotherapy", "text": f"für {NAME}"}],
            "work_capacity": "six_hours_or_more",
            "clinical_notes": f"{NOTES} ({NAME})",
        },
        headers=scene.specialist,
    )
    assert outcome.status_code == 200, outcome.text


async def _text_columns_holding(sessionmaker: async_sessionmaker[AsyncSession], *needles: str) -> list[str]:
    """Every table.column whose text (strings and JSON) contains one of ``needles``, case-insensitively."""
    found = []
    async with sessionmaker() as session:
        for table in Base.metadata.tables.values():
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            if not columns:
                continue
            for row in await session.execute(select(*columns)):
                for column, value in zip(columns, row, strict=True):
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    if any(n.lower() in text.lower() for n in needles):
                        found.append(f"{table.name}.{column.name}")
    return found


def _sqlite_bytes(settings: Settings) -> bytes:
    """The SQLite database file and its write-ahead log, after a checkpoint (SQLite makes one by itself after
    enough writes; an erasure's old values are then gone from the file, ``secure_delete`` zeroes them)."""
    path = Path(settings.database_url.split("///", 1)[1])
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def test_the_export_holds_the_record_and_never_the_clinical_notes(scene: Scene) -> None:
    await _fill_the_record(scene)
    pid = scene.world.participant_id
    answer = await scene.client.get(f"/api/v1/participants/{pid}/export", headers=scene.admin)
    assert answer.status_code == 200, answer.text
    export = answer.json()
    assert export["participant"]["display_name"] == NAME
    assert export["participant"]["email"] == EMAIL
    assert [c["kind"] for c in export["consents"]] == ["video_consultation", "share_outcome_with_coach"]
    assert {e["kind"] for e in export["case_file"]} >= {"note", "consultation_booked", "outcome_recorded"}
    consultations = {c["id"]: c for c in export["consultations"]}
    assert set(consultations) == {scene.past["id"], scene.future["id"]}
    past = consultations[scene.past["id"]]
    assert past["consultation_type"] == "Erstgespräch"
    assert past["specialist_id"] == str(scene.world.specialist_id)
    assert past["specialist_name"] == "doctor"
    assert {a["kind"] for a in past["attendees"]} == {"participant", "specialist"}
    assert all(
        set(a) == {"kind", "first_joined_at", "last_joined_at", "join_count", "revoked_at"} for a in past["attendees"]
    )
    assert past["outcome"]["summary_for_coach"] == f"{NAME} kann sechs Stunden arbeiten"  # released
    assert consultations[scene.future["id"]]["outcome"] is None
    assert "PLANTED-NOTES" not in answer.text
    assert "clinical_notes" not in answer.text
    assert "join/" not in answer.text
    assert "token" not in answer.text
    actions = {e["action"] for e in export["audit_events"]}
    assert {"consultation.booked", "outcome.recorded", "case_file.note_added"} <= actions
    assert all("details" not in e and "remote_address" not in e for e in export["audit_events"])

    events = await scene.client.get(
        "/api/v1/audit-events", params={"action": "participant.exported"}, headers=scene.admin
    )
    assert [e["object_id"] for e in events.json()] == [str(pid)]


async def test_only_the_organizations_admin_exports_or_erases(
    scene: Scene, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter B", prefix="b-")
    other_admin = await login(scene.client, other.admin)
    pid = scene.world.participant_id
    for method, path in (("GET", f"/api/v1/participants/{pid}/export"), ("POST", f"/api/v1/participants/{pid}/erase")):
        assert_problem(await scene.client.request(method, path, headers=scene.coach), 403)
        assert_problem(await scene.client.request(method, path, headers=scene.specialist), 403)
        assert_problem(await scene.client.request(method, path, headers=other_admin), 404, "participant_id")
    shown = await scene.client.get(f"/api/v1/participants/{pid}", headers=scene.coach)
    assert shown.json()["display_name"] == NAME


async def test_erasure_cancels_what_lies_ahead_and_leaves_no_name_or_address(
    scene: Scene, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _fill_the_record(scene)
    assert set(await _text_columns_holding(sessionmaker, NAME, EMAIL)) >= {
        "participant.display_name",
        "participant.email",
        "attendee.name",
        "attendee.email",
        "case_file_entry.text",
        "consent.evidence",
        "outcome_version.summary_for_coach",
        "outcome_version.recommendations",
    }  # the search finds them where they are

    if settings.database_url.startswith("sqlite"):
        assert NAME.encode() in _sqlite_bytes(settings)  # the file search finds it where it is
    pid = scene.world.participant_id
    erased = await scene.client.post(f"/api/v1/participants/{pid}/erase", headers=scene.admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["cancelled_consultations"] == 1
    assert erased.json()["outcome_versions"] == 1

    future = await scene.client.get(f"/api/v1/consultations/{scene.future['id']}", headers=scene.coach)
    assert future.json()["status"] == "cancelled"
    past = await scene.client.get(f"/api/v1/consultations/{scene.past['id']}", headers=scene.coach)
    assert past.json()["status"] == "completed"
    outcome = await scene.client.get(f"/api/v1/consultations/{scene.past['id']}/outcome", headers=scene.coach)
    assert outcome.json()["attendance"] == "attended"  # the statistics stay
    assert outcome.json()["work_capacity"] == "six_hours_or_more"
    assert outcome.json()["summary_for_coach"] is None
    assert outcome.json()["recommendations"] == [{"code": "physiotherapy", "text": None}]
    shown = await scene.client.get(f"/api/v1/participants/{pid}", headers=scene.coach)
    assert (shown.json()["display_name"], shown.json()["email"]) == ("erased", None)
    events = await scene.client.get(
        "/api/v1/audit-events", params={"action": "participant.erased"}, headers=scene.admin
    )
    assert [e["object_id"] for e in events.json()] == [str(pid)]

    assert await _text_columns_holding(sessionmaker, NAME, EMAIL) == []
    async with sessionmaker() as session:
        assert list(await session.scalars(select(OutcomeVersion.clinical_notes))) == [None]

    if settings.database_url.startswith("sqlite"):
        content = _sqlite_bytes(settings)
        for needle in (NAME, EMAIL, "Angststörung"):
            assert needle.encode() not in content, needle


async def test_the_missing_outcomes_are_listed_until_recorded(scene: Scene) -> None:
    cancelled = await scene.client.post(
        "/api/v1/consultations",
        json=booking_body(scene.world, berlin(next_weekday(1, weeks_ahead=2), 9)),
        headers=scene.coach,
    )
    assert cancelled.status_code == 201, cancelled.text
    cancel = await scene.client.post(
        f"/api/v1/consultations/{cancelled.json()['id']}/cancel", json={"reason": "krank"}, headers=scene.coach
    )
    assert cancel.status_code == 200, cancel.text
    scene.clock.move_to(berlin_time(next_weekday(1, weeks_ahead=2), 11))  # both have ended

    async def missing(headers: dict[str, str]) -> list[str]:
        answer = await scene.client.get("/api/v1/outcomes/missing", headers=headers)
        assert answer.status_code == 200, answer.text
        return [c["id"] for c in answer.json()]

    assert await missing(scene.specialist) == [scene.past["id"]]
    assert await missing(scene.coach) == [scene.past["id"]]
    assert await missing(scene.admin) == [scene.past["id"]]
    psychologist = await login(scene.client, "psych@test.invalid")
    assert await missing(psychologist) == []
    no_show = await scene.client.put(
        f"/api/v1/consultations/{scene.past['id']}/outcome",
        json={"attendance": "participant_no_show"},
        headers=scene.specialist,
    )
    assert no_show.status_code == 200, no_show.text
    assert await missing(scene.specialist) == []
    listed = await scene.client.get("/api/v1/consultations", params={"status": "no_show"}, headers=scene.coach)
    assert [c["id"] for c in listed.json()] == [scene.past["id"]]


async def test_the_audit_trail_filters_by_actor_and_object_type(scene: Scene) -> None:
    pid = scene.world.participant_id
    assert (await scene.client.get(f"/api/v1/participants/{pid}/export", headers=scene.admin)).status_code == 200
    note = await scene.client.post(f"/api/v1/participants/{pid}/notes", json={"text": "x"}, headers=scene.coach)
    assert note.status_code == 201
    me = (await scene.client.get("/api/v1/me", headers=scene.admin)).json()
    mine = await scene.client.get("/api/v1/audit-events", params={"actor_id": me["id"]}, headers=scene.admin)
    assert mine.status_code == 200, mine.text
    assert {e["actor_id"] for e in mine.json()} == {me["id"]}
    assert "participant.exported" in {e["action"] for e in mine.json()}
    assert "case_file.note_added" not in {e["action"] for e in mine.json()}
    about = await scene.client.get("/api/v1/audit-events", params={"object_type": "participant"}, headers=scene.admin)
    assert {e["object_type"] for e in about.json()} == {"participant"}
    assert {"participant.exported", "case_file.note_added"} <= {e["action"] for e in about.json()}
    nobody = await scene.client.get("/api/v1/audit-events", params={"actor_id": str(uuid.uuid4())}, headers=scene.admin)
    assert nobody.json() == []


async def test_the_case_file_comes_in_pages(scene: Scene) -> None:
    pid = scene.world.participant_id
    path = f"/api/v1/participants/{pid}/case-file"
    for n in range(3):
        added = await scene.client.post(
            f"/api/v1/participants/{pid}/notes", json={"text": f"n{n}"}, headers=scene.coach
        )
        assert added.status_code == 201
    everything = (await scene.client.get(path, headers=scene.coach)).json()
    assert everything["next"] is None
    ids = [e["id"] for e in everything["entries"]]
    assert len(ids) == 5  # two bookings, three notes
    paged: list[str] = []
    after = None
    while True:
        params = {"limit": "2"} | ({"after": after} if after else {})
        page = (await scene.client.get(path, params=params, headers=scene.coach)).json()
        paged += [e["id"] for e in page["entries"]]
        after = page["next"]
        if after is None:
            break
        assert len(page["entries"]) == 2
    assert paged == ids
    assert_problem(await scene.client.get(path, params={"after": "yesterday"}, headers=scene.coach), 422, "after")


async def test_housekeeping_forgets_join_records_and_erases_ended_participations(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    coach = await login(client, world.coach)
    first = await client.post(
        "/api/v1/consultations", json=booking_body(world, berlin(next_weekday(0), 9)), headers=coach
    )
    second = await client.post(
        "/api/v1/consultations", json=booking_body(world, berlin(next_weekday(0, weeks_ahead=4), 9)), headers=coach
    )
    assert first.status_code == second.status_code == 201
    first_end = datetime.fromisoformat(first.json()["end"])
    second_end = datetime.fromisoformat(second.json()["end"])
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Attendee)
            .where(Attendee.consultation_id.in_([uuid.UUID(first.json()["id"]), uuid.UUID(second.json()["id"])]))
            .values(first_joined_at=first_end, last_joined_at=first_end, join_count=2)
        )

    async def housekeeping(at: datetime) -> dict[str, int]:
        done = await run_housekeeping(sessionmaker, settings, now=at)
        return {k: done[k] for k in ("join_records", "erased_participants")}

    async def participant() -> Participant:
        async with sessionmaker() as session:
            return await session.get_one(Participant, world.participant_id)

    assert await housekeeping(first_end + timedelta(days=89)) == {"join_records": 0, "erased_participants": 0}
    assert await housekeeping(first_end + timedelta(days=91)) == {"join_records": 2, "erased_participants": 0}
    async with sessionmaker() as session:
        kept = await session.execute(
            select(Consultation.id, Attendee.join_count).join(Consultation, Consultation.id == Attendee.consultation_id)
        )
        counts = {str(cid): n for cid, n in kept}
    assert counts == {first.json()["id"]: 0, second.json()["id"]: 2}

    retention = timedelta(days=settings.participant_retention_days)
    assert retention == timedelta(days=730)
    # Ended long ago, but the second consultation is more recent: the participation has not ended that long.
    assert (await housekeeping(first_end + retention + timedelta(days=1)))["erased_participants"] == 0
    assert (await participant()).display_name == NAME
    assert (await housekeeping(second_end + retention + timedelta(days=1)))["erased_participants"] == 1
    erased = await participant()
    assert (erased.display_name, erased.email) == ("erased", None)
    assert await _text_columns_holding(sessionmaker, NAME, EMAIL) == []
    assert (await housekeeping(second_end + retention + timedelta(days=2)))["erased_participants"] == 0
