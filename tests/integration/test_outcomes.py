"""Outcomes: recorded by the specialist (account or link), seen exactly as far as the participant consented."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.settings import Settings
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
from tests.mailserver import MailServer, parts

SUMMARY = "PLANTED-SUMMARY-4411: Rückenschule empfohlen"
NOTES = "PLANTED-NOTES-9902: lumbale Diskopathie"
RECOMMENDATION_TEXT = "PLANTED-RECOMMENDATION-3307"


@dataclass
class Scene:
    client: httpx.AsyncClient
    clock: MovableClock
    world: World
    consultation: dict[str, Any]
    coach: dict[str, str]
    admin: dict[str, str]
    specialist: dict[str, str]


def outcome_body(**extra: Any) -> dict[str, Any]:
    return {
        "attendance": "attended",
        "summary_for_coach": SUMMARY,
        "recommendations": [{"code": "prevention_course", "text": RECOMMENDATION_TEXT}],
        "work_capacity": "three_to_six_hours",
        "follow_up_weeks": 6,
        "clinical_notes": NOTES,
        **extra,
    }


@pytest.fixture
async def scene(
    smtp_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], mail_server: MailServer
) -> AsyncIterator[Scene]:
    world = await seed_world(sessionmaker)
    movable = MovableClock()
    with LiveServer(smtp_settings, app_clock=movable) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            day = next_weekday(1)
            booked = await client.post("/api/v1/consultations", json=booking_body(world, berlin(day, 9)), headers=coach)
            assert booked.status_code == 201, booked.text
            movable.move_to(berlin_time(day, 9) + timedelta(minutes=40))  # just after the end
            yield Scene(
                client=client,
                clock=movable,
                world=world,
                consultation=booked.json(),
                coach=coach,
                admin=await login(client, world.admin),
                specialist=await login(client, world.specialist),
            )


async def consent(scene: Scene, kind: str, granted: bool) -> None:
    answer = await scene.client.post(
        f"/api/v1/participants/{scene.world.participant_id}/consents",
        json={"kind": kind, "granted": granted},
        headers=scene.coach,
    )
    assert answer.status_code == 201, answer.text


async def outcome_as(scene: Scene, headers: dict[str, str]) -> httpx.Response:
    return await scene.client.get(f"/api/v1/consultations/{scene.consultation['id']}/outcome", headers=headers)


async def case_file_outcome(scene: Scene, headers: dict[str, str]) -> tuple[dict[str, Any], str]:
    answer = await scene.client.get(f"/api/v1/participants/{scene.world.participant_id}/case-file", headers=headers)
    assert answer.status_code == 200, answer.text
    [entry] = [e for e in answer.json()["entries"] if e["kind"] == "outcome_recorded"][-1:]
    return entry["outcome"], answer.text


async def test_recording_completes_the_consultation_and_only_the_author_reads_the_notes(
    scene: Scene, mail_server: MailServer
) -> None:
    recorded = await scene.client.put(
        f"/api/v1/consultations/{scene.consultation['id']}/outcome", json=outcome_body(), headers=scene.specialist
    )
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["clinical_notes"] == NOTES
    assert recorded.json()["version"] == 1
    consultation = (
        await scene.client.get(f"/api/v1/consultations/{scene.consultation['id']}", headers=scene.coach)
    ).json()
    assert consultation["status"] == "completed"

    # Without the release: attendance and that it exists, for coach and admin alike; never the notes.
    for headers in (scene.coach, scene.admin):
        seen = (await outcome_as(scene, headers)).json()
        assert (seen["attendance"], seen["release_missing"]) == ("attended", True)
        assert seen["summary_for_coach"] is seen["recommendations"] is seen["work_capacity"] is None
        assert seen["clinical_notes"] is None
        shown, raw = await case_file_outcome(scene, headers)
        assert (shown["attendance"], shown["release_missing"]) == ("attended", True)
        assert "summary_for_coach" not in shown
        assert SUMMARY not in raw
        assert NOTES not in raw
        assert RECOMMENDATION_TEXT not in raw
    author = (await outcome_as(scene, scene.specialist)).json()
    assert (author["summary_for_coach"], author["clinical_notes"]) == (SUMMARY, NOTES)

    # The coach's notice says that there is an outcome, nothing of it.
    notices = mail_server.wait_for(lambda ms: any(m["To"].addresses[0].addr_spec == scene.world.coach for m in ms))
    [notice] = [m for m in notices if m["To"].addresses[0].addr_spec == scene.world.coach]
    body = parts(notice)["text/plain"].get_content() + parts(notice)["text/html"].get_content()
    assert "Ergebnis" in str(notice["Subject"])
    assert SUMMARY not in body
    assert NOTES not in body
    assert RECOMMENDATION_TEXT not in body
    assert "prevention" not in body

    # With the release: the coach sees the summary and the rest, still not the notes; withdrawn: hidden again.
    await consent(scene, "share_outcome_with_coach", True)
    seen = (await outcome_as(scene, scene.coach)).json()
    assert (seen["summary_for_coach"], seen["work_capacity"], seen["follow_up_weeks"]) == (
        SUMMARY,
        "three_to_six_hours",
        6,
    )
    assert seen["recommendations"] == [{"code": "prevention_course", "text": RECOMMENDATION_TEXT}]
    assert seen["clinical_notes"] is None
    shown, raw = await case_file_outcome(scene, scene.coach)
    assert shown["summary_for_coach"] == SUMMARY
    assert NOTES not in raw
    await consent(scene, "share_outcome_with_coach", False)
    seen = (await outcome_as(scene, scene.coach)).json()
    assert (seen["release_missing"], seen["summary_for_coach"]) == (True, None)

    # Every read is audited, without the content.
    events = await scene.client.get(
        "/api/v1/audit-events", params={"object_id": scene.consultation["id"]}, headers=scene.admin
    )
    reads = [e for e in events.json() if e["action"] == "outcome.read"]
    assert len(reads) >= 6
    assert SUMMARY not in events.text
    assert NOTES not in events.text


async def test_other_readers_see_nothing(scene: Scene, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    await scene.client.put(
        f"/api/v1/consultations/{scene.consultation['id']}/outcome", json=outcome_body(), headers=scene.specialist
    )
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="b-")
    for email in (other.coach, other.admin, other.specialist):
        assert_problem(await outcome_as(scene, await login(scene.client, email)), 404)
    psychologist = await login(scene.client, "psych@test.invalid")  # same organization, not the author
    assert_problem(await outcome_as(scene, psychologist), 404)
    refused = await scene.client.put(
        f"/api/v1/consultations/{scene.consultation['id']}/outcome", json=outcome_body(), headers=scene.coach
    )
    assert_problem(refused, 403)


async def test_amending_keeps_every_version(scene: Scene) -> None:
    path = f"/api/v1/consultations/{scene.consultation['id']}/outcome"
    await scene.client.put(path, json=outcome_body(), headers=scene.specialist)
    amended = await scene.client.put(
        path, json=outcome_body(summary_for_coach="zweite Fassung", clinical_notes="notes v2"), headers=scene.specialist
    )
    assert amended.json()["version"] == 2
    versions = (await scene.client.get(path + "/versions", headers=scene.specialist)).json()
    assert [(v["version"], v["summary_for_coach"], v["clinical_notes"]) for v in versions] == [
        (1, SUMMARY, NOTES),
        (2, "zweite Fassung", "notes v2"),
    ]
    assert_problem(await scene.client.get(path + "/versions", headers=scene.coach), 403)


async def test_the_specialists_link_alone_records_for_14_days(scene: Scene) -> None:
    links = {a["kind"]: a.get("join_url") for a in scene.consultation["attendees"]}
    # The coach never sees the specialist's link; the specialist does, on their own view.
    own = (await scene.client.get(f"/api/v1/consultations/{scene.consultation['id']}", headers=scene.specialist)).json()
    specialist_token = next(a["join_url"] for a in own["attendees"] if a["kind"] == "specialist").rsplit("/", 1)[1]
    participant_token = links["participant"].rsplit("/", 1)[1]

    by_link = await scene.client.put(f"/api/v1/join/{specialist_token}/outcome", json=outcome_body())
    assert by_link.status_code == 200, by_link.text
    assert by_link.json()["clinical_notes"] == NOTES
    assert_problem(await scene.client.put(f"/api/v1/join/{participant_token}/outcome", json=outcome_body()), 403)
    assert_problem(await scene.client.put("/api/v1/join/not-a-token/outcome", json=outcome_body()), 404)

    end = datetime.fromisoformat(scene.consultation["end"].replace("Z", "+00:00"))
    scene.clock.move_to(end + timedelta(days=14, minutes=1))
    assert_problem(await scene.client.put(f"/api/v1/join/{specialist_token}/outcome", json=outcome_body()), 403)
    scene.clock.move_to(end + timedelta(days=13))
    again = await scene.client.put(f"/api/v1/join/{specialist_token}/outcome", json=outcome_body())
    assert again.json()["version"] == 2


async def test_no_show_and_not_before_the_start(scene: Scene) -> None:
    path = f"/api/v1/consultations/{scene.consultation['id']}/outcome"
    scene.clock.move_to(datetime.fromisoformat(scene.consultation["start"].replace("Z", "+00:00")) - timedelta(hours=1))
    assert_problem(await scene.client.put(path, json=outcome_body(), headers=scene.specialist), 409, "consultation_id")
    scene.clock.move_to(datetime.fromisoformat(scene.consultation["end"].replace("Z", "+00:00")))
    answer = await scene.client.put(path, json={"attendance": "participant_no_show"}, headers=scene.specialist)
    assert answer.status_code == 200, answer.text
    shown = (await scene.client.get(f"/api/v1/consultations/{scene.consultation['id']}", headers=scene.coach)).json()
    assert shown["status"] == "no_show"


async def test_clinical_notes_are_not_stored_in_clear(
    scene: Scene, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    answer = await scene.client.put(
        f"/api/v1/consultations/{scene.consultation['id']}/outcome", json=outcome_body(), headers=scene.specialist
    )
    assert answer.status_code == 200
    async with sessionmaker() as session:
        stored = (await session.execute(text("SELECT clinical_notes, notes_key_id FROM outcome_version"))).one()
    assert stored.notes_key_id
    assert NOTES.encode() not in bytes(stored.clinical_notes)
    assert b"PLANTED" not in bytes(stored.clinical_notes)
    if settings.is_sqlite:
        path = Path(settings.database_url.split("///", 1)[1])
        files = [f for f in (path, path.with_name(path.name + "-wal")) if f.exists()]
        raw = b"".join(f.read_bytes() for f in files)
        assert b"PLANTED-SUMMARY" in raw  # the summary is stored as text: reading the files finds text
        assert b"PLANTED-NOTES" not in raw
    else:
        async with sessionmaker() as session:
            as_text = await session.scalar(text("SELECT encode(clinical_notes, 'escape') FROM outcome_version"))
        assert "PLANTED" not in str(as_text)


# reader -> (sees the summary when released, sees the notes); None: the outcome answers 404 to them
READERS: dict[str, tuple[bool, bool] | None] = {
    "coach": (True, False),
    "admin": (True, False),
    "author": (True, True),
    "other specialist": None,
    "other organization's coach": None,
    "other organization's admin": None,
}


@pytest.mark.parametrize("released", [False, True], ids=["without release", "with release"])
async def test_consent_matrix(scene: Scene, sessionmaker: async_sessionmaker[AsyncSession], released: bool) -> None:
    """Every reader × release, through the API and the case file: exactly the planted strings each may see."""
    await scene.client.put(
        f"/api/v1/consultations/{scene.consultation['id']}/outcome", json=outcome_body(), headers=scene.specialist
    )
    if released:
        await consent(scene, "share_outcome_with_coach", True)
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="b-")
    headers = {
        "coach": scene.coach,
        "admin": scene.admin,
        "author": scene.specialist,
        "other specialist": await login(scene.client, "psych@test.invalid"),
        "other organization's coach": await login(scene.client, other.coach),
        "other organization's admin": await login(scene.client, other.admin),
    }
    for reader, expected in READERS.items():
        answer = await outcome_as(scene, headers[reader])
        if expected is None:
            assert_problem(answer, 404)
            assert SUMMARY not in answer.text
            continue
        sees_summary, sees_notes = expected
        assert answer.status_code == 200, (reader, answer.text)
        assert (SUMMARY in answer.text) == (sees_summary and (released or reader == "author")), reader
        assert (RECOMMENDATION_TEXT in answer.text) == (SUMMARY in answer.text), reader
        assert (NOTES in answer.text) == sees_notes, reader
        assert answer.json()["release_missing"] == (not released and reader != "author"), reader

        case_file = await scene.client.get(
            f"/api/v1/participants/{scene.world.participant_id}/case-file", headers=headers[reader]
        )
        if reader == "author":
            assert_problem(case_file, 403)  # the case file is the job centre's, not the specialist's
            continue
        assert case_file.status_code == 200, (reader, case_file.text)
        assert (SUMMARY in case_file.text) == released, reader
        assert NOTES not in case_file.text, reader
    for reader in ("other organization's coach", "other organization's admin"):
        foreign = await scene.client.get(
            f"/api/v1/participants/{scene.world.participant_id}/case-file", headers=headers[reader]
        )
        assert_problem(foreign, 404)
