"""Booking through real HTTP: the rules that protect a sick person's slot."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import World, assert_problem, berlin, berlin_time, booking_body, login, next_weekday, utc_text

pytestmark = pytest.mark.dates  # every booking lies a week or two after the test day


def booking(world: World, start: str, **extra: Any) -> dict[str, Any]:
    return booking_body(world, start, purpose="Rückenschmerzen, Belastbarkeit klären", **extra)


async def test_book_reschedule_cancel_and_case_file(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    created = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 9)), headers=coach)
    assert created.status_code == 201, created.text
    consultation = created.json()
    assert consultation["status"] == "scheduled"
    # 09:00 in Berlin, in UTC: 08:00 in winter, 07:00 in summer; the offset comes from the zone, not the test.
    assert consultation["start"] == utc_text(berlin_time(monday, 9))
    assert consultation["end"] == utc_text(berlin_time(monday, 9) + timedelta(minutes=30))
    assert {a["kind"] for a in consultation["attendees"]} == {"participant", "specialist"}
    # The participant has not consented to email contact: only the specialist is emailed.
    specialist = next(a for a in consultation["attendees"] if a["kind"] == "specialist")
    participant = next(a for a in consultation["attendees"] if a["kind"] == "participant")
    assert [(n["topic"], n["status"], n["attendee_id"]) for n in consultation["notifications"]] == [
        ("email.invitation", "pending", specialist["id"])
    ]
    assert specialist["delivery"]["status"] == "pending"
    assert participant["delivery"] is None
    assert consultation["room"].startswith("tc-")
    assert "maria" not in consultation["room"].lower()

    moved = await client.post(
        f"/api/v1/consultations/{consultation['id']}/reschedule", json={"start": berlin(monday, 10)}, headers=coach
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["sequence"] == 1
    assert moved.json()["start"] == utc_text(berlin_time(monday, 10))

    cancelled = await client.post(
        f"/api/v1/consultations/{consultation['id']}/cancel", json={"reason": "participant ill"}, headers=coach
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["sequence"] == 2
    assert all(a["revoked"] for a in cancelled.json()["attendees"])
    topics = [n["topic"] for n in cancelled.json()["notifications"]]
    assert topics == ["email.invitation", "email.rescheduled", "email.cancelled"]

    timeline = await client.get(f"/api/v1/participants/{world.participant_id}/case-file", headers=coach)
    kinds = [e["kind"] for e in timeline.json()["entries"]]
    assert kinds[-3:] == ["consultation_booked", "consultation_rescheduled", "consultation_cancelled"]
    assert "Rücken" not in timeline.text  # the purpose is for the specialist, not the timeline


async def test_concurrent_bookings_of_one_slot_give_one_success(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    start = berlin(next_weekday(1), 9, 30)
    responses = await asyncio.gather(
        *(client.post("/api/v1/consultations", json=booking(world, start), headers=coach) for _ in range(50))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1, [r.text for r in responses if r.status_code not in (201, 409)]
    assert statuses.count(409) == 49
    for conflict in (r for r in responses if r.status_code == 409):
        assert_problem(conflict, 409, "start")
    listed = await client.get(
        "/api/v1/consultations", params={"specialist_id": str(world.specialist_id)}, headers=coach
    )
    assert len(listed.json()) == 1


async def test_overlapping_start_conflicts_and_cancel_frees_the_slot(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    day = next_weekday(2)
    first = await client.post("/api/v1/consultations", json=booking(world, berlin(day, 10, 30)), headers=coach)
    assert first.status_code == 201
    # A 60-minute type starting at 10:00 would run into the first one at 10:30.
    admin = await login(client, world.admin)
    long_type = await client.post(
        "/api/v1/consultation-types", json={"name": "Lang", "duration_minutes": 60}, headers=admin
    )
    overlapping = booking(world, berlin(day, 10), consultation_type_id=long_type.json()["id"])
    assert_problem(await client.post("/api/v1/consultations", json=overlapping, headers=coach), 409, "start")

    await client.post(f"/api/v1/consultations/{first.json()['id']}/cancel", json={}, headers=coach)
    again = await client.post("/api/v1/consultations", json=overlapping, headers=coach)
    assert again.status_code == 201, again.text


async def test_idempotency_key_replays_and_refuses_a_different_body(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    body = booking(world, berlin(next_weekday(3), 11))
    headers = {**coach, "Idempotency-Key": "booking-42"}
    first = await client.post("/api/v1/consultations", json=body, headers=headers)
    second = await client.post("/api/v1/consultations", json=body, headers=headers)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    changed = await client.post("/api/v1/consultations", json={**body, "purpose": "other"}, headers=headers)
    assert_problem(changed, 422, "Idempotency-Key")


async def test_concurrent_requests_with_one_idempotency_key_book_once(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    body = booking(world, berlin(next_weekday(3), 9))
    headers = {**coach, "Idempotency-Key": "double-click"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/consultations", json=body, headers=headers) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["id"] for r in responses}) == 1


async def test_booking_rules(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    naive = booking(world, f"{monday.isoformat()}T09:00:00")
    assert_problem(await client.post("/api/v1/consultations", json=naive, headers=coach), 422, "start")
    off_grid = booking(world, berlin(monday, 9, 10))
    assert_problem(await client.post("/api/v1/consultations", json=off_grid, headers=coach), 422, "start")
    outside = booking(world, berlin(monday, 15))
    assert_problem(await client.post("/api/v1/consultations", json=outside, headers=coach), 422, "start")
    unknown = {**booking(world, berlin(monday, 9)), "diagnosis": "x"}
    assert_problem(await client.post("/api/v1/consultations", json=unknown, headers=coach), 422, "diagnosis")
    psych_type = await client.post(
        "/api/v1/consultation-types",
        json={"name": "Psycho", "duration_minutes": 50, "professions": ["psychologist"]},
        headers=await login(client, world.admin),
    )
    wrong_profession = booking(world, berlin(monday, 9), consultation_type_id=psych_type.json()["id"])
    assert_problem(
        await client.post("/api/v1/consultations", json=wrong_profession, headers=coach), 422, "specialist_id"
    )
    # Withdrawn consent blocks booking.
    withdrawn = await client.post(
        f"/api/v1/participants/{world.participant_id}/consents",
        json={"kind": "video_consultation", "granted": False, "evidence": "phone call"},
        headers=coach,
    )
    assert withdrawn.status_code == 201
    assert_problem(
        await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 9)), headers=coach),
        409,
        "participant_id",
    )
    listed = await client.get("/api/v1/consultations", headers=coach)
    assert listed.json() == []  # nothing half-written stays behind
