"""The waitlist: holds on free and freed slots, first come first served, expiry to the next, confirm and withdraw.

The specialist's calendar is narrowed to one morning with two slots (absences before and after), so every slot
the tests talk about is known. The sweep that the worker runs every minute is run here directly, on a pinned now.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Role
from telecon.errors import Conflict
from telecon.organizations.models import Profession
from telecon.outbox.models import OutboxMessage, Topic
from telecon.scheduling.booking import book_consultation
from telecon.scheduling.links import JoinLinks
from telecon.scheduling.services import SchedulingPolicy, Slot
from telecon.settings import Settings
from telecon.waitlist import services as waitlist
from telecon.waitlist.models import WaitlistEntry, WaitlistStatus
from telecon.worker import run_waitlist
from tests.conftest import (
    BACKENDS,
    World,
    assert_problem,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    now,
    seed_world,
    utc_text,
)
from tests.mailserver import MailServer, parts

DAY = next_weekday(2, weeks_ahead=2)  # a Wednesday: the physician's only morning in these tests


async def only_two_slots(client: httpx.AsyncClient, world: World) -> None:
    """The physician is away from now until ``DAY`` 09:00 and from ``DAY`` 10:00 on: 09:00 and 09:30 are left."""
    doctor = await login(client, world.specialist)
    for start, end in (
        (now() - timedelta(days=1), berlin_time(DAY, 9)),
        (berlin_time(DAY, 10), now() + timedelta(days=90)),
    ):
        body = {"start": start.isoformat(), "end": end.isoformat(), "kind": "absence"}
        added = await client.post(f"/api/v1/specialists/{world.specialist_id}/overrides", json=body, headers=doctor)
        assert added.status_code == 201, added.text


async def participant(client: httpx.AsyncClient, coach: dict[str, str], name: str) -> str:
    created = await client.post("/api/v1/participants", json={"display_name": name}, headers=coach)
    assert created.status_code == 201, created.text
    pid: str = created.json()["id"]
    consent = {"kind": "video_consultation", "granted": True}
    answer = await client.post(f"/api/v1/participants/{pid}/consents", json=consent, headers=coach)
    assert answer.status_code == 201, answer.text
    return pid


def entry_body(world: World, participant_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "participant_id": participant_id,
        "consultation_type_id": str(world.type_id),
        "profession": "physician",
        **extra,
    }


async def sweep(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, at: datetime) -> dict[str, int]:
    return await run_waitlist(sessionmaker, settings, now=at)


async def free_starts(client: httpx.AsyncClient, world: World, headers: dict[str, str]) -> list[str]:
    params = {
        "consultation_type_id": str(world.type_id),
        "specialist_id": str(world.specialist_id),
        "start": berlin(DAY, 0),
        "end": berlin(DAY + timedelta(days=1), 0),
    }
    found = await client.get("/api/v1/slots", params=params, headers=headers)
    assert found.status_code == 200, found.text
    return [s["start"] for s in found.json()["slots"]]


async def test_a_free_slot_is_held_at_once_and_nobody_books_through_it(client: httpx.AsyncClient, world: World) -> None:
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    admin = await login(client, world.admin)
    assert await free_starts(client, world, coach) == [utc_text(berlin_time(DAY, 9)), utc_text(berlin_time(DAY, 9, 30))]

    added = await client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    assert added.status_code == 201, added.text
    entry = added.json()
    assert entry["status"] == "held"
    assert entry["hold"]["start"] == utc_text(berlin_time(DAY, 9))
    assert entry["hold"]["specialist_id"] == str(world.specialist_id)
    expires = datetime.fromisoformat(entry["hold"]["expires_at"])
    assert timedelta(minutes=119) < expires - now() <= timedelta(minutes=120)

    # Held: slot search no longer offers it, and booking it is a conflict (on PostgreSQL by the constraint).
    assert await free_starts(client, world, admin) == [utc_text(berlin_time(DAY, 9, 30))]
    taken = await client.post("/api/v1/consultations", json=booking_body(world, berlin(DAY, 9)), headers=admin)
    assert_problem(taken, 409, "start")
    # A hold is no consultation: no list shows it.
    listed = await client.get("/api/v1/consultations", headers=admin)
    assert listed.json() == []

    confirmed = await client.post(f"/api/v1/waitlist/{entry['id']}/confirm", json={"purpose": "Rücken"}, headers=coach)
    assert confirmed.status_code == 201, confirmed.text
    consultation = confirmed.json()
    assert consultation["status"] == "scheduled"
    assert consultation["start"] == utc_text(berlin_time(DAY, 9))
    assert {n["topic"] for n in consultation["notifications"]} >= {"email.invitation"}
    after = (await client.get(f"/api/v1/waitlist/{entry['id']}", headers=coach)).json()
    assert after["status"] == "booked"
    assert after["hold"] is None
    assert after["consultation_id"] == consultation["id"]
    assert (await client.get("/api/v1/waitlist", headers=coach)).json() == []
    again = await client.post(f"/api/v1/waitlist/{entry['id']}/confirm", headers=coach)
    assert_problem(again, 409, "entry_id")


async def test_a_freed_slot_goes_to_the_first_waiting_and_on_expiry_to_the_next(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    booked = []
    for hour, minute in ((9, 0), (9, 30)):
        made = await client.post(
            "/api/v1/consultations", json=booking_body(world, berlin(DAY, hour, minute)), headers=coach
        )
        assert made.status_code == 201, made.text
        booked.append(made.json()["id"])
    ali = await participant(client, coach, "Ali Beispiel")
    bea = await participant(client, coach, "Bea Beispiel")
    first = (await client.post("/api/v1/waitlist", json=entry_body(world, ali), headers=coach)).json()
    second = (await client.post("/api/v1/waitlist", json=entry_body(world, bea), headers=coach)).json()
    assert (first["status"], second["status"]) == ("waiting", "waiting")
    assert await sweep(sessionmaker, settings, now()) == {
        "holds_expired": 0,
        "entries_past_latest_date": 0,
        "holds_made": 0,
    }

    cancelled = await client.post(f"/api/v1/consultations/{booked[1]}/cancel", json={"reason": "krank"}, headers=coach)
    assert cancelled.status_code == 200, cancelled.text
    assert (await sweep(sessionmaker, settings, now()))["holds_made"] == 1
    queue = {e["id"]: e for e in (await client.get("/api/v1/waitlist", headers=coach)).json()}
    assert queue[first["id"]]["status"] == "held"  # the older entry first
    assert queue[first["id"]]["hold"]["start"] == utc_text(berlin_time(DAY, 9, 30))
    assert queue[second["id"]]["status"] == "waiting"
    async with sessionmaker() as session:
        offers = (await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == Topic.waitlist_offer))).all()
    assert len(offers) == 1

    # Nobody confirms: past the hold, the slot goes to the next entry, and the first one ends.
    later = now() + settings.waitlist_hold_minutes * timedelta(minutes=1) + timedelta(minutes=1)
    assert await sweep(sessionmaker, settings, later) == {
        "holds_expired": 1,
        "entries_past_latest_date": 0,
        "holds_made": 1,
    }
    queue = {e["id"]: e for e in (await client.get("/api/v1/waitlist?include_ended=true", headers=coach)).json()}
    assert queue[first["id"]]["status"] == "expired"
    assert queue[second["id"]]["status"] == "held"
    assert queue[second["id"]]["hold"]["start"] == utc_text(berlin_time(DAY, 9, 30))
    # The first offer stays on record (sent or void), detached from the hold that is gone.
    async with sessionmaker() as session:
        offers = (await session.scalars(select(OutboxMessage).where(OutboxMessage.topic == Topic.waitlist_offer))).all()
    assert len(offers) == 2
    assert sorted(o.consultation_id is None for o in offers) == [False, True]
    late = await client.post(f"/api/v1/waitlist/{first['id']}/confirm", headers=coach)
    assert_problem(late, 409, "entry_id")


async def test_withdrawing_frees_the_slot(client: httpx.AsyncClient, world: World) -> None:
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    entry = (
        await client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    ).json()
    assert await free_starts(client, world, coach) == [utc_text(berlin_time(DAY, 9, 30))]
    withdrawn = await client.post(f"/api/v1/waitlist/{entry['id']}/withdraw", headers=coach)
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "withdrawn"
    assert await free_starts(client, world, coach) == [utc_text(berlin_time(DAY, 9)), utc_text(berlin_time(DAY, 9, 30))]
    assert_problem(await client.post(f"/api/v1/waitlist/{entry['id']}/withdraw", headers=coach), 409, "entry_id")


async def test_a_hold_that_ran_out_cannot_be_confirmed_before_the_sweep(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from tests.conftest import LiveServer, MovableClock

    moving = MovableClock()
    with LiveServer(settings, app_clock=moving) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            await only_two_slots(http, world)
            coach = await login(http, world.coach)
            entry = (
                await http.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
            ).json()
            assert entry["status"] == "held"
            moving.move_to(datetime.fromisoformat(entry["hold"]["expires_at"]) + timedelta(seconds=1))
            assert_problem(await http.post(f"/api/v1/waitlist/{entry['id']}/confirm", headers=coach), 409, "entry_id")


async def test_language_and_latest_date_narrow_the_search(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    # Nobody speaks Turkish; the only slots fall after a day before DAY.
    turkish = await client.post(
        "/api/v1/waitlist", json=entry_body(world, str(world.participant_id), language="tr"), headers=coach
    )
    assert turkish.status_code == 201, turkish.text
    assert turkish.json()["status"] == "waiting"
    ali = await participant(client, coach, "Ali Beispiel")
    early = entry_body(world, ali, latest_date=(DAY - timedelta(days=1)).isoformat())
    too_early = await client.post("/api/v1/waitlist", json=early, headers=coach)
    assert too_early.json()["status"] == "waiting"
    # The day after the latest date, the entry expires.
    after = berlin_time(DAY, 12)
    assert (await sweep(sessionmaker, settings, after))["entries_past_latest_date"] == 1
    ended = (await client.get(f"/api/v1/waitlist/{too_early.json()['id']}", headers=coach)).json()
    assert ended["status"] == "expired"


async def test_bad_requests_name_the_field(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    admin = await login(client, world.admin)
    pid = str(world.participant_id)
    yesterday = (now().date() - timedelta(days=2)).isoformat()
    assert_problem(
        await client.post("/api/v1/waitlist", json=entry_body(world, pid, latest_date=yesterday), headers=coach),
        422,
        "latest_date",
    )
    far = entry_body(world, pid, latest_date="9999-12-31")
    assert_problem(await client.post("/api/v1/waitlist", json=far, headers=coach), 422, "latest_date")
    assert_problem(
        await client.post("/api/v1/waitlist", json=entry_body(world, pid, profession="astrologer"), headers=coach),
        422,
        "profession",
    )
    narrow = await client.post(
        "/api/v1/consultation-types",
        json={"name": "Psychologisches Gespräch", "duration_minutes": 30, "professions": ["psychologist"]},
        headers=admin,
    )
    assert narrow.status_code == 201, narrow.text
    wrong = {**entry_body(world, pid), "consultation_type_id": narrow.json()["id"]}
    assert_problem(await client.post("/api/v1/waitlist", json=wrong, headers=coach), 422, "profession")
    no_consent = await client.post("/api/v1/participants", json={"display_name": "Ohne Zustimmung"}, headers=coach)
    assert_problem(
        await client.post("/api/v1/waitlist", json=entry_body(world, no_consent.json()["id"]), headers=coach),
        409,
        "participant_id",
    )
    first = await client.post("/api/v1/waitlist", json=entry_body(world, pid), headers=coach)
    assert first.status_code == 201, first.text
    assert_problem(
        await client.post("/api/v1/waitlist", json=entry_body(world, pid), headers=coach), 409, "participant_id"
    )
    assert_problem(
        await client.post("/api/v1/waitlist", json={**entry_body(world, pid), "extra": 1}, headers=coach), 422, "extra"
    )


async def test_another_organization_sees_nothing(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, "Jobcenter Anderswo", prefix="other-")
    coach = await login(client, world.coach)
    stranger = await login(client, other.coach)
    entry = (
        await client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    ).json()
    assert entry["status"] == "held"
    assert_problem(await client.get(f"/api/v1/waitlist/{entry['id']}", headers=stranger), 404)
    assert_problem(await client.post(f"/api/v1/waitlist/{entry['id']}/confirm", headers=stranger), 404)
    assert_problem(await client.post(f"/api/v1/waitlist/{entry['id']}/withdraw", headers=stranger), 404)
    assert (await client.get("/api/v1/waitlist", headers=stranger)).json() == []
    # Their participant on our list: not found.
    theirs = entry_body(world, str(other.participant_id))
    assert_problem(await client.post("/api/v1/waitlist", json=theirs, headers=coach), 404)
    doctor = await login(client, world.specialist)
    assert_problem(await client.get("/api/v1/waitlist", headers=doctor), 403)


@pytest.mark.dates
async def test_the_hold_is_found_across_a_weekend(client: httpx.AsyncClient, world: World) -> None:
    """Whatever the test day, the first hold is the physician's first slot at least hold + notice ahead."""
    coach = await login(client, world.coach)
    earliest = now() + timedelta(minutes=240)
    params = {
        "consultation_type_id": str(world.type_id),
        "profession": "physician",
        "start": earliest.isoformat(),
        "end": (earliest + timedelta(days=14)).isoformat(),
    }
    expected = (await client.get("/api/v1/slots", params=params, headers=coach)).json()["slots"][0]
    entry = (
        await client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    ).json()
    assert entry["hold"]["start"] == expected["start"]
    assert date.fromisoformat(expected["start"][:10]) >= now().date()


async def test_the_coach_is_emailed_the_hold_without_health_data(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    """A real SMTP server receives the offer: the time, the deadline and the link, nothing of the participant."""
    await only_two_slots(smtp_client, world)
    coach = await login(smtp_client, world.coach)
    entry = await smtp_client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    assert entry.json()["status"] == "held"
    [offer] = mail_server.wait_for(
        lambda ms: any(m["To"].endswith("coach@test.invalid>") or m["To"] == "coach@test.invalid" for m in ms)
    )
    assert "Termin von der Warteliste reserviert" in str(offer["Subject"])
    text = parts(offer)["text/plain"].get_content()
    assert "http://telecon.test/waitlist" in text
    assert "09:00" in text  # the held slot, in the coach's zone (Europe/Berlin)
    for private in ("Maria", "Muster", "physician", "Arzt", "Ärzt", "doctor"):
        assert private not in text, private
    assert "text/calendar" not in parts(offer)  # no calendar entry: nothing is booked yet


@pytest.mark.parametrize("database_url", BACKENDS[-1:], indirect=True)  # PostgreSQL when there is one
async def test_a_slot_booked_between_search_and_hold_is_refused_by_the_constraint(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    """The race the savepoint is for: the search saw 09:00 free, a booking commits it, then the hold is tried.

    On PostgreSQL the exclusion constraint refuses the hold and the entry keeps waiting (SQLite holds its write lock
    from the search on, so there the race cannot happen and nothing is to test).
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("the race needs PostgreSQL's concurrent writers")
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    ali = await participant(client, coach, "Ali Beispiel")
    async with sessionmaker() as session, session.begin():
        entry = WaitlistEntry(
            organization_id=world.organization_id,
            participant_id=uuid.UUID(ali),
            consultation_type_id=world.type_id,
            profession=Profession.physician,
            status=WaitlistStatus.waiting,
        )
        session.add(entry)
    booked = await client.post("/api/v1/consultations", json=booking_body(world, berlin(DAY, 9)), headers=coach)
    assert booked.status_code == 201, booked.text
    policy = SchedulingPolicy.of(settings, JoinLinks(b"k" * 32, settings.public_url))
    slot = Slot(world.specialist_id, berlin_time(DAY, 9), berlin_time(DAY, 9, 30))
    async with sessionmaker() as session, session.begin():
        fresh = await session.get_one(WaitlistEntry, entry.id)
        assert await waitlist._hold(session, policy, fresh, slot, now=now(), until=now() + policy.hold_for) is False
        assert fresh.status is WaitlistStatus.waiting
        # The transaction goes on after the refused savepoint: the next slot is held.
        later = Slot(world.specialist_id, berlin_time(DAY, 9, 30), berlin_time(DAY, 10))
        assert await waitlist._hold(session, policy, fresh, later, now=now(), until=now() + policy.hold_for) is True
    shown = (await client.get(f"/api/v1/waitlist/{entry.id}", headers=coach)).json()
    assert shown["status"] == "held"
    assert shown["hold"]["start"] == utc_text(berlin_time(DAY, 9, 30))


@pytest.mark.parametrize("database_url", BACKENDS[-1:], indirect=True)  # PostgreSQL when there is one
async def test_a_booking_racing_a_confirmation_is_a_conflict_not_a_deadlock_error(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    database_url: str,
) -> None:
    """Found by bench/soak.py: a confirmation deletes its hold and books the slot; a coach books the same slot
    from an older search at that moment. The booking waits for the hold's deletion, the confirmation then waits
    for the booking: PostgreSQL fails one of them with a deadlock. That one must answer 409 like any lost race."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers: no two bookings are ever in flight together")
    await only_two_slots(client, world)
    coach = await login(client, world.coach)
    entry = (
        await client.post("/api/v1/waitlist", json=entry_body(world, str(world.participant_id)), headers=coach)
    ).json()
    ali = await participant(client, coach, "Ali Beispiel")
    me = (await client.get("/api/v1/me", headers=coach)).json()
    actor = Actor(uuid.UUID(me["id"]), world.organization_id, Role.coach)
    policy = SchedulingPolicy.of(settings, JoinLinks(b"k" * 32, settings.public_url))
    slot = berlin_time(DAY, 9)

    async def book(session: AsyncSession, participant_id: uuid.UUID) -> str:
        try:
            await book_consultation(
                session,
                actor,
                policy,
                participant_id=participant_id,
                specialist_id=world.specialist_id,
                consultation_type_id=world.type_id,
                starts_at=slot,
                purpose=None,
                now=now(),
            )
        except Conflict:
            return "409"
        return "booked"

    async def other_coach() -> str:
        async with sessionmaker() as session, session.begin():
            return await book(session, uuid.UUID(ali))

    async with sessionmaker() as confirming:
        await confirming.begin()
        async with sessionmaker() as reading:
            hold_id = (await reading.get_one(WaitlistEntry, uuid.UUID(entry["id"]))).hold_id
        assert hold_id is not None
        await waitlist._drop_hold(confirming, hold_id)  # the confirmation's first step, not committed yet
        racing = asyncio.create_task(other_coach())
        await asyncio.sleep(0.5)  # the other booking now waits for the hold's deletion
        mine = await book(confirming, world.participant_id)
        if mine == "booked":
            await confirming.commit()
        else:
            await confirming.rollback()
    theirs = await racing
    assert "409" in (mine, theirs)
    assert sorted((mine, theirs)) in (["409", "409"], ["409", "booked"])
