"""Slot search and the specialists' own availability through real HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.db import end_reads
from telecon.organizations.models import Profession
from telecon.participants.models import Participant
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.services import SchedulingPolicy, read_slots
from telecon.settings import Settings
from tests.conftest import (
    LiveServer,
    World,
    assert_problem,
    berlin,
    berlin_time,
    login,
    next_dst_changes,
    next_weekday,
    now,
    utc_text,
)
from tests.conftest import (
    booking_body as booking,
)

BERLIN = ZoneInfo("Europe/Berlin")
pytestmark = pytest.mark.dates  # searches and bookings lie in the weeks after the test day


async def search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> httpx.Response:
    return await client.get("/api/v1/slots", params={k: str(v) for k, v in params.items()}, headers=headers)


async def slots_of(
    client: httpx.AsyncClient, headers: dict[str, str], world: World, start: str, end: str, **params: Any
) -> list[dict[str, Any]]:
    params.setdefault("consultation_type_id", world.type_id)
    if "profession" not in params:
        params.setdefault("specialist_id", world.specialist_id)
    response = await search(client, headers, start=start, end=end, **params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["slots"]
    return found


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def berlin_clock(slot: dict[str, Any]) -> str:
    return instant(slot["start"]).astimezone(BERLIN).strftime("%Y-%m-%d %H:%M")


def clocks_on(found: list[dict[str, Any]], day: date) -> list[str]:
    return [
        instant(s["start"]).astimezone(BERLIN).strftime("%H:%M")
        for s in found
        if instant(s["start"]).astimezone(BERLIN).date() == day
    ]


def week(monday: date) -> tuple[str, str]:
    return berlin(monday, 0), berlin(monday + timedelta(days=7), 0)


async def create_type(client: httpx.AsyncClient, world: World, **body: Any) -> str:
    response = await client.post("/api/v1/consultation-types", json=body, headers=await login(client, world.admin))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def put_availability(
    client: httpx.AsyncClient, headers: dict[str, str], specialist_id: Any, timezone: str, weekly: list[dict[str, Any]]
) -> httpx.Response:
    return await client.put(
        f"/api/v1/specialists/{specialist_id}/availability",
        json={"timezone": timezone, "weekly": weekly},
        headers=headers,
    )


# --- searching -------------------------------------------------------------------------------------------


async def test_a_week_of_one_specialist_in_utc(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    found = await slots_of(client, coach, world, *week(monday))
    assert len(found) == 30  # Mon–Fri 09:00–12:00, 30 minutes: 6 a day
    for offset in range(5):
        day = monday + timedelta(days=offset)
        assert clocks_on(found, day) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]
    for slot in found:
        assert slot["specialist_id"] == str(world.specialist_id)
        assert slot["start"].endswith("Z"), slot
        assert slot["end"].endswith("Z"), slot
        assert instant(slot["end"]) - instant(slot["start"]) == timedelta(minutes=30)
    starts = [instant(s["start"]) for s in found]
    assert starts == sorted(set(starts))
    first = datetime(monday.year, monday.month, monday.day, 9, tzinfo=BERLIN).astimezone(UTC)
    assert found[0]["start"] == first.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_booked_slot_disappears_and_returns_after_cancel(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    booked = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 10)), headers=coach)
    assert booked.status_code == 201, booked.text
    found = await slots_of(client, coach, world, *week(monday))
    assert len(found) == 29
    assert clocks_on(found, monday) == ["09:00", "09:30", "10:30", "11:00", "11:30"]
    # The other specialist is not affected by this booking.
    other = await slots_of(client, coach, world, *week(monday), specialist_id=world.psychologist_id)
    assert len(other) == 30

    cancelled = await client.post(f"/api/v1/consultations/{booked.json()['id']}/cancel", json={}, headers=coach)
    assert cancelled.status_code == 200, cancelled.text
    again = await slots_of(client, coach, world, *week(monday))
    assert len(again) == 30


async def test_a_buffer_hides_the_slot_right_after_a_booking(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    buffered = await create_type(client, world, name="Mit Puffer", duration_minutes=30, buffer_minutes=15)
    tuesday = next_weekday(1)
    day = (berlin(tuesday, 0), berlin(tuesday + timedelta(days=1), 0))
    assert len(await slots_of(client, coach, world, *day, consultation_type_id=buffered)) == 6

    body = booking(world, berlin(tuesday, 10), consultation_type_id=buffered)
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text

    # Booked 10:00–10:30, blocked until 10:45: 10:30 is gone for every type. With the buffered type
    # 09:30 goes too, because 09:30–10:00 plus its own 15 minutes would run into 10:00.
    plain = await slots_of(client, coach, world, *day)
    assert clocks_on(plain, tuesday) == ["09:00", "09:30", "11:00", "11:30"]
    with_buffer = await slots_of(client, coach, world, *day, consultation_type_id=buffered)
    assert clocks_on(with_buffer, tuesday) == ["09:00", "11:00", "11:30"]

    # The search agrees with booking: the hidden 10:30 slot really cannot be booked.
    refused = await client.post("/api/v1/consultations", json=booking(world, berlin(tuesday, 10, 30)), headers=coach)
    assert_problem(refused, 409, "start")


async def test_the_longest_consultation_with_the_longest_buffer_still_blocks_at_its_end(
    client: httpx.AsyncClient, world: World
) -> None:
    """The busy-time query bounds the start from below by LONGEST_BLOCK (an index range, not every past row):
    a consultation of 8 hours with a buffer of 4, starting at 00:00, still blocks a search from 11:00."""
    coach = await login(client, world.coach)
    doctor = await login(client, world.specialist)
    longest = await create_type(client, world, name="Ganztägig", duration_minutes=480, buffer_minutes=240)
    sunday = next_weekday(6)
    extra = {"start": berlin(sunday, 0), "end": berlin(sunday + timedelta(days=1), 0), "kind": "extra"}
    added = await client.post(f"/api/v1/specialists/{world.specialist_id}/overrides", json=extra, headers=doctor)
    assert added.status_code == 201, added.text
    booked = await client.post(
        "/api/v1/consultations", json=booking(world, berlin(sunday, 0), consultation_type_id=longest), headers=coach
    )
    assert booked.status_code == 201, booked.text
    # Blocked 00:00–12:00 (8 h and the 4-hour buffer): from 11:00 the first free half hour is 12:00.
    found = await slots_of(client, coach, world, berlin(sunday, 11), berlin(sunday, 13))
    assert clocks_on(found, sunday) == ["12:00", "12:30"]
    refused = await client.post("/api/v1/consultations", json=booking(world, berlin(sunday, 11, 30)), headers=coach)
    assert_problem(refused, 409, "start")


async def test_a_booking_just_past_the_search_end_still_blocks_a_buffered_slot(
    client: httpx.AsyncClient, world: World
) -> None:
    """A slot near the end of the range: its buffer reaches past ``end + duration`` into a booking."""
    coach = await login(client, world.coach)
    short = await create_type(client, world, name="Kurz", duration_minutes=10)
    buffered = await create_type(client, world, name="Puffer", duration_minutes=30, buffer_minutes=15)
    monday = next_weekday(0)
    booked = await client.post(
        "/api/v1/consultations", json=booking(world, berlin(monday, 10, 10), consultation_type_id=short), headers=coach
    )
    assert booked.status_code == 201, booked.text

    # 09:30–10:00 plus 15 minutes of buffer runs into the 10:10 booking, so 09:30 is no slot.
    whole_morning = await slots_of(
        client, coach, world, berlin(monday, 9), berlin(monday, 12), consultation_type_id=buffered
    )
    assert "09:30" not in clocks_on(whole_morning, monday)
    refused = await client.post(
        "/api/v1/consultations",
        json=booking(world, berlin(monday, 9, 30), consultation_type_id=buffered),
        headers=coach,
    )
    assert_problem(refused, 409, "start")
    # A narrower range must not change the answer for the slots it still contains.
    narrow = await slots_of(
        client, coach, world, berlin(monday, 9), berlin(monday, 9, 31), consultation_type_id=buffered
    )
    assert clocks_on(narrow, monday) == ["09:00"]


async def test_search_by_profession(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    physicians = await slots_of(client, coach, world, *week(monday), profession="physician")
    assert len(physicians) == 30
    assert {s["specialist_id"] for s in physicians} == {str(world.specialist_id)}
    psychologists = await slots_of(client, coach, world, *week(monday), profession="psychologist")
    assert len(psychologists) == 30
    assert {s["specialist_id"] for s in psychologists} == {str(world.psychologist_id)}
    assert await slots_of(client, coach, world, *week(monday), profession="psychotherapist") == []


async def test_the_search_gives_its_connection_back_before_computing(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    """What the API and the booking page do: read, ``end_reads``, then compute without a connection."""
    engine = sessionmaker.kw["bind"]
    policy = SchedulingPolicy(links=JoinLinks(derive_link_key("x" * 32), "http://telecon.test"))
    monday = next_weekday(0)
    async with sessionmaker() as session:
        search = await read_slots(
            session,
            world.organization_id,
            policy,
            consultation_type_id=world.type_id,
            start=berlin_time(monday, 0),
            end=berlin_time(monday, 0) + timedelta(days=7),
            profession=Profession.physician,
            now=now(),
        )
        assert engine.pool.checkedout() == 1
        await end_reads(session)
        assert engine.pool.checkedout() == 0
        assert not session.in_transaction()
        found = search.slots()
        assert engine.pool.checkedout() == 0
    assert len(found) == 30  # as test_search_by_profession finds through HTTP
    assert {slot.specialist_id for slot in found} == {world.specialist_id}


async def test_reads_cannot_be_ended_after_a_change(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessionmaker() as session:
        participant = await session.get_one(Participant, world.participant_id)
        participant.display_name = "Changed"
        with pytest.raises(RuntimeError, match="end_reads after a change"):
            await end_reads(session)
        await session.rollback()


async def test_a_type_for_psychologists_offers_only_psychologists(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    psych_type = await create_type(client, world, name="Psycho", duration_minutes=50, professions=["psychologist"])
    monday = next_weekday(0)
    found = await slots_of(
        client, coach, world, *week(monday), profession="psychologist", consultation_type_id=psych_type
    )
    assert {s["specialist_id"] for s in found} == {str(world.psychologist_id)}
    assert clocks_on(found, monday) == ["09:00", "09:50", "10:40"]  # 11:30 + 50 min would pass 12:00
    assert len(found) == 15
    assert all(instant(s["end"]) - instant(s["start"]) == timedelta(minutes=50) for s in found)

    by_profession = await slots_of(
        client, coach, world, *week(monday), profession="physician", consultation_type_id=psych_type
    )
    assert by_profession == []
    by_id = await search(
        client,
        coach,
        specialist_id=world.specialist_id,
        consultation_type_id=psych_type,
        start=week(monday)[0],
        end=week(monday)[1],
    )
    assert by_id.status_code == 200, by_id.text
    assert by_id.json()["slots"] == []


async def test_both_specialists_sorted_by_start(client: httpx.AsyncClient, world: World) -> None:
    """Without a profession filter on the type, all specialists of a profession are merged in start order."""
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    day = (berlin(monday, 0), berlin(monday + timedelta(days=1), 0))
    physicians = await slots_of(client, coach, world, *day, profession="physician")
    psychologists = await slots_of(client, coach, world, *day, profession="psychologist")
    assert len(physicians) == len(psychologists) == 6
    assert [s["start"] for s in physicians] == [s["start"] for s in psychologists]


async def test_a_search_may_span_62_days_but_not_more(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=UTC)
    ok = await search(
        client,
        coach,
        specialist_id=world.specialist_id,
        consultation_type_id=world.type_id,
        start=start.isoformat(),
        end=(start + timedelta(days=62)).isoformat(),
    )
    assert ok.status_code == 200, ok.text
    assert len(ok.json()["slots"]) == 9 * 5 * 6  # Monday to the Saturday eight weeks later: nine working weeks
    too_long = await search(
        client,
        coach,
        specialist_id=world.specialist_id,
        consultation_type_id=world.type_id,
        start=start.isoformat(),
        end=(start + timedelta(days=62, minutes=1)).isoformat(),
    )
    assert_problem(too_long, 400, "end")
    backwards = await search(
        client,
        coach,
        specialist_id=world.specialist_id,
        consultation_type_id=world.type_id,
        start=start.isoformat(),
        end=(start - timedelta(days=1)).isoformat(),
    )
    assert_problem(backwards, 400, "end")


async def test_naive_times_are_refused_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    common = {"specialist_id": world.specialist_id, "consultation_type_id": world.type_id}
    naive_start = await search(client, coach, start=f"{monday}T09:00:00", end=berlin(monday, 12), **common)
    assert_problem(naive_start, 422, "start")
    naive_end = await search(client, coach, start=berlin(monday, 9), end=f"{monday}T12:00:00", **common)
    assert_problem(naive_end, 422, "end")


async def test_a_specialist_or_a_profession_is_required(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    start, end = week(next_weekday(0))
    neither = await search(client, coach, consultation_type_id=world.type_id, start=start, end=end)
    assert_problem(neither, 400)
    both = await search(
        client,
        coach,
        consultation_type_id=world.type_id,
        start=start,
        end=end,
        specialist_id=world.specialist_id,
        profession="physician",
    )
    assert_problem(both, 400)


async def test_minimum_notice_hides_near_slots(client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    coach = await login(client, world.coach)
    before = now()
    start, end = before.isoformat(), (before + timedelta(days=21)).isoformat()
    default = await slots_of(client, coach, world, start, end)
    assert default
    assert all(instant(s["start"]) >= before + timedelta(minutes=120) for s in default)
    notice = timedelta(days=10)
    assert any(instant(s["start"]) < before + notice for s in default)

    with LiveServer(settings.model_copy(update={"min_notice_minutes": int(notice.total_seconds() // 60)})) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as far_client:
            far_coach = await login(far_client, world.coach)
            far = await slots_of(far_client, far_coach, world, start, end)
    assert far
    assert all(instant(s["start"]) >= before + notice for s in far)
    assert len(far) < len(default)
    # Beyond the notice both servers agree.
    horizon = now() + notice
    assert [s for s in far if instant(s["start"]) >= horizon] == [s for s in default if instant(s["start"]) >= horizon]


# --- the specialist's own availability -----------------------------------------------------------------


async def test_specialist_sets_sunday_hours_and_dst_sundays_open_at_eight(
    client: httpx.AsyncClient, world: World
) -> None:
    doctor = await login(client, world.specialist)
    sunday_only = [{"weekday": 6, "start": "08:00", "end": "12:00"}]
    put = await put_availability(client, doctor, world.specialist_id, "Europe/Berlin", sunday_only)
    assert put.status_code == 200, put.text

    coach = await login(client, world.coach)
    spring_sunday, autumn_sunday = next_dst_changes(BERLIN)

    def around(sunday: date, days: int) -> tuple[str, str]:
        return berlin(sunday - timedelta(days=1), 0), berlin(sunday + timedelta(days=days - 1), 0)

    def hours(sunday: date) -> list[str]:
        return [f"{sunday} {h:02d}:{m:02d}" for h in range(8, 12) for m in (0, 30)]

    spring = await slots_of(client, coach, world, *around(spring_sunday, 4))
    assert [berlin_clock(s) for s in spring] == hours(spring_sunday)
    assert spring[0]["start"] == f"{spring_sunday}T06:00:00Z"  # 08:00 in summer time
    autumn = await slots_of(client, coach, world, *around(autumn_sunday, 4))
    assert [berlin_clock(s) for s in autumn] == hours(autumn_sunday)
    assert autumn[0]["start"] == f"{autumn_sunday}T07:00:00Z"  # 08:00 in winter time

    # Saturday, Sunday and Monday around both changes: 08:00 local every day, the UTC hour moves.
    weekend = [{"weekday": d, "start": "08:00", "end": "12:00"} for d in (5, 6, 0)]
    put = await put_availability(client, doctor, world.specialist_id, "Europe/Berlin", weekend)
    assert put.status_code == 200, put.text
    spring = await slots_of(client, coach, world, *around(spring_sunday, 3))
    autumn = await slots_of(client, coach, world, *around(autumn_sunday, 3))
    assert len(spring) == len(autumn) == 24

    def firsts(found: list[dict[str, Any]]) -> list[str]:
        seen: dict[date, str] = {}
        for s in found:
            seen.setdefault(instant(s["start"]).astimezone(BERLIN).date(), s["start"])
        return list(seen.values())

    def eight_oclock(sunday: date) -> list[str]:
        return [utc_text(berlin_time(sunday + timedelta(days=d), 8)) for d in (-1, 0, 1)]

    assert firsts(spring) == eight_oclock(spring_sunday)
    assert [s[11:13] for s in firsts(spring)] == ["07", "06", "06"]
    assert firsts(autumn) == eight_oclock(autumn_sunday)
    assert [s[11:13] for s in firsts(autumn)] == ["06", "07", "07"]


async def test_an_absence_removes_that_days_slots(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    wednesday = monday + timedelta(days=2)
    absence = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": berlin(wednesday, 0), "end": berlin(wednesday + timedelta(days=1), 0), "kind": "absence"},
        headers=doctor,
    )
    assert absence.status_code == 201, absence.text
    assert absence.json()["kind"] == "absence"
    found = await slots_of(client, coach, world, *week(monday))
    assert clocks_on(found, wednesday) == []
    assert len(found) == 24
    assert clocks_on(found, monday + timedelta(days=3)) == ["09:00", "09:30", "10:00", "10:30", "11:00", "11:30"]

    # A partial absence (an appointment at the dentist) takes only the slots it touches.
    partial = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": berlin(monday, 10, 15), "end": berlin(monday, 11), "kind": "absence"},
        headers=doctor,
    )
    assert partial.status_code == 201, partial.text
    found = await slots_of(client, coach, world, *week(monday))
    assert clocks_on(found, monday) == ["09:00", "09:30", "11:00", "11:30"]

    # Booking checks the same calendar: not inside an absence, but right after one.
    for start in (berlin(wednesday, 9), berlin(monday, 10, 30), berlin(monday, 10)):
        refused = await client.post("/api/v1/consultations", json=booking(world, start), headers=coach)
        assert_problem(refused, 422, "start")
    after = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 11)), headers=coach)
    assert after.status_code == 201, after.text
    moved = await client.post(
        f"/api/v1/consultations/{after.json()['id']}/reschedule", json={"start": berlin(wednesday, 10)}, headers=coach
    )
    assert_problem(moved, 422, "start")

    listed = await client.get(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        params={"start": week(monday)[0], "end": week(monday)[1]},
        headers=doctor,
    )
    assert listed.status_code == 200, listed.text
    assert [o["kind"] for o in listed.json()] == ["absence", "absence"]


async def test_extra_hours_on_a_saturday_add_slots(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    coach = await login(client, world.coach)
    saturday = next_weekday(5)
    weekend = (berlin(saturday, 0), berlin(saturday + timedelta(days=2), 0))
    assert await slots_of(client, coach, world, *weekend) == []
    extra = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": berlin(saturday, 10), "end": berlin(saturday, 12), "kind": "extra"},
        headers=doctor,
    )
    assert extra.status_code == 201, extra.text
    found = await slots_of(client, coach, world, *weekend)
    assert clocks_on(found, saturday) == ["10:00", "10:30", "11:00", "11:30"]
    assert len(found) == 4
    # The extra hours are bookable, too.
    booked = await client.post("/api/v1/consultations", json=booking(world, berlin(saturday, 10, 30)), headers=coach)
    assert booked.status_code == 201, booked.text
    found = await slots_of(client, coach, world, *weekend)
    assert clocks_on(found, saturday) == ["10:00", "11:00", "11:30"]


async def test_naive_override_times_are_refused(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    saturday = next_weekday(5)
    naive = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": f"{saturday}T10:00:00", "end": berlin(saturday, 12), "kind": "extra"},
        headers=doctor,
    )
    assert_problem(naive, 422, "start")
    backwards = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": berlin(saturday, 12), "end": berlin(saturday, 10), "kind": "extra"},
        headers=doctor,
    )
    assert_problem(backwards, 422, "end")


async def test_only_the_specialist_edits_their_own_availability(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    coach = await login(client, world.coach)
    admin = await login(client, world.admin)
    window = [{"weekday": 6, "start": "08:00", "end": "12:00"}]
    others = await put_availability(client, doctor, world.psychologist_id, "Europe/Berlin", window)
    assert others.status_code in (403, 404), others.text
    assert_problem(others, others.status_code)
    for staff in (coach, admin):
        refused = await put_availability(client, staff, world.specialist_id, "Europe/Berlin", window)
        assert refused.status_code in (403, 404), refused.text
        assert_problem(refused, refused.status_code)
    saturday = next_weekday(5)
    override = await client.post(
        f"/api/v1/specialists/{world.psychologist_id}/overrides",
        json={"start": berlin(saturday, 10), "end": berlin(saturday, 12), "kind": "extra"},
        headers=doctor,
    )
    assert override.status_code in (403, 404), override.text

    # Nothing changed: the psychologist still has the seeded week and no Saturday.
    unchanged = await client.get(f"/api/v1/specialists/{world.psychologist_id}/availability", headers=coach)
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.json()["weekly"] == [{"weekday": d, "start": "09:00", "end": "12:00"} for d in range(5)]
    weekend = (berlin(saturday, 0), berlin(saturday + timedelta(days=1), 0))
    assert await slots_of(client, coach, world, *weekend, specialist_id=world.psychologist_id) == []
    mine = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=coach)
    assert len(mine.json()["weekly"]) == 5


async def test_get_availability_returns_what_was_put(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    weekly = [
        {"weekday": 2, "start": "13:00", "end": "17:00"},
        {"weekday": 0, "start": "14:00", "end": "24:00"},
        {"weekday": 0, "start": "09:00", "end": "12:30"},
    ]
    put = await put_availability(client, doctor, world.specialist_id, "America/New_York", weekly)
    assert put.status_code == 200, put.text
    expected = {
        "specialist_id": str(world.specialist_id),
        "timezone": "America/New_York",
        "weekly": sorted(weekly, key=lambda w: (w["weekday"], w["start"])),
    }
    assert put.json() == expected
    for who in (doctor, await login(client, world.coach)):
        got = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=who)
        assert got.status_code == 200, got.text
        assert got.json() == expected

    # The rules now apply in New York time: Wednesday 13:00 there.
    coach = await login(client, world.coach)
    wednesday = next_weekday(2)
    new_york = ZoneInfo("America/New_York")
    day_start = datetime(wednesday.year, wednesday.month, wednesday.day, tzinfo=new_york)
    found = await slots_of(client, coach, world, day_start.isoformat(), (day_start + timedelta(days=1)).isoformat())
    assert len(found) == 8
    assert instant(found[0]["start"]).astimezone(new_york).strftime("%H:%M") == "13:00"

    # Replacing removes the old rules.
    put = await put_availability(client, doctor, world.specialist_id, "Europe/Berlin", [])
    assert put.status_code == 200, put.text
    got = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=doctor)
    assert got.json()["weekly"] == []
    assert got.json()["timezone"] == "Europe/Berlin"


async def test_a_window_until_midnight_offers_its_last_slot(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    put = await put_availability(
        client, doctor, world.specialist_id, "Europe/Berlin", [{"weekday": 0, "start": "22:00", "end": "24:00"}]
    )
    assert put.status_code == 200, put.text
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    found = await slots_of(client, coach, world, berlin(monday, 0), berlin(monday + timedelta(days=1), 12))
    assert clocks_on(found, monday) == ["22:00", "22:30", "23:00", "23:30"]


async def test_invalid_availability_is_refused_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    bad_zone = await put_availability(
        client, doctor, world.specialist_id, "Mars/Olympus", [{"weekday": 0, "start": "09:00", "end": "12:00"}]
    )
    assert_problem(bad_zone, 422, "timezone")
    backwards = await put_availability(
        client, doctor, world.specialist_id, "Europe/Berlin", [{"weekday": 0, "start": "12:00", "end": "09:00"}]
    )
    assert_problem(backwards, 422, "weekly[0].end")
    bad_day = await put_availability(
        client, doctor, world.specialist_id, "Europe/Berlin", [{"weekday": 7, "start": "09:00", "end": "12:00"}]
    )
    assert bad_day.status_code in (400, 422), bad_day.text
    got = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=doctor)
    assert len(got.json()["weekly"]) == 5  # the refused requests changed nothing
