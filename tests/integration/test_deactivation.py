"""Deactivating and ending memberships, over real HTTP: an admin acts in their own organization only, and
every path (login, tokens, lists, lookups, slots, booking, consultations, join links) respects it at once."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations.models import Membership, User
from telecon.settings import Settings
from tests.conftest import TEST_PASSWORD, World, assert_problem, berlin, login, next_weekday, seed_world
from tests.conftest import booking_body as booking
from tests.integration.test_cli import telecon
from tests.integration.test_video import book_soon, token_of, urls_by_kind

pytestmark = pytest.mark.dates  # consultations lie in the days after the test day


async def user_id(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> uuid.UUID:
    async with sessionmaker() as session:
        found = await session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return found


async def test_admin_deactivates_and_reactivates_a_coach_at_once(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login(client, world.admin)
    coach = await login(client, world.coach)
    coach_id = await user_id(sessionmaker, world.coach)

    off = await client.post(f"/api/v1/users/{coach_id}/deactivate", headers=admin)
    assert off.status_code == 200, off.text
    assert off.json()["active"] is False
    assert off.json()["deactivated_at"] is not None
    assert (off.json()["user_id"], off.json()["role"]) == (str(coach_id), "coach")
    again = await client.post(f"/api/v1/users/{coach_id}/deactivate", headers=admin)
    assert again.json()["deactivated_at"] == off.json()["deactivated_at"]  # repeating changes nothing

    # The token the coach already holds stops working, and a new login is refused like a wrong password.
    assert_problem(await client.get("/api/v1/me", headers=coach), 401)
    assert_problem(await client.get("/api/v1/participants", headers=coach), 401)
    start = berlin(next_weekday(0), 9)
    assert_problem(await client.post("/api/v1/consultations", json=booking(world, start), headers=coach), 401)
    refused = await client.post("/api/v1/auth/login", json={"email": world.coach, "password": TEST_PASSWORD})
    assert_problem(refused, 401)

    on = await client.post(f"/api/v1/users/{coach_id}/reactivate", headers=admin)
    assert on.status_code == 200, on.text
    assert (on.json()["active"], on.json()["deactivated_at"]) == (True, None)
    assert (await client.get("/api/v1/me", headers=coach)).status_code == 200
    assert (await client.get("/api/v1/me", headers=await login(client, world.coach))).status_code == 200

    events = (await client.get("/api/v1/audit-events", headers=admin)).json()
    actions = [(e["action"], e["object_id"]) for e in events if e["action"].startswith("membership.")]
    assert actions == [("membership.reactivated", str(coach_id)), ("membership.deactivated", str(coach_id))]


async def test_only_an_admin_of_the_organization_and_never_on_themselves(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Other", prefix="other-")
    coach_id = await user_id(sessionmaker, world.coach)
    admin_id = await user_id(sessionmaker, world.admin)
    stranger = await login(client, other.admin)
    for path in (f"/api/v1/users/{coach_id}/deactivate", f"/api/v1/users/{coach_id}/reactivate"):
        assert_problem(await client.post(path, headers=stranger), 404, "user_id")
    assert_problem(await client.delete(f"/api/v1/users/{coach_id}/membership", headers=stranger), 404, "user_id")
    admin = await login(client, world.admin)
    assert_problem(await client.post(f"/api/v1/users/{uuid.uuid4()}/deactivate", headers=admin), 404, "user_id")
    assert_problem(await client.post(f"/api/v1/users/{admin_id}/deactivate", headers=admin), 409, "user_id")
    assert_problem(await client.delete(f"/api/v1/users/{admin_id}/membership", headers=admin), 409, "user_id")
    for who in (world.coach, world.specialist):
        headers = await login(client, who)
        assert_problem(await client.post(f"/api/v1/users/{coach_id}/deactivate", headers=headers), 403)
    # Nothing above switched the coach off.
    assert (await client.get("/api/v1/me", headers=await login(client, world.coach))).status_code == 200


async def test_a_shared_specialist_is_switched_off_in_one_organization_only(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Other", prefix="other-")
    async with sessionmaker() as session, session.begin():
        session.add(
            Membership(user_id=world.specialist_id, organization_id=other.organization_id, role=Role.specialist)
        )
    admin = await login(client, world.admin)
    assert (await client.post(f"/api/v1/users/{world.specialist_id}/deactivate", headers=admin)).status_code == 200

    here = await login(client, world.coach)
    there = await login(client, other.coach)
    assert_problem(await client.get(f"/api/v1/specialists/{world.specialist_id}", headers=here), 404, "specialist_id")
    assert (await client.get(f"/api/v1/specialists/{world.specialist_id}", headers=there)).status_code == 200
    # The specialist still logs in, into the other organization.
    response = await client.post("/api/v1/auth/login", json={"email": world.specialist, "password": TEST_PASSWORD})
    assert response.status_code == 200, response.text
    assert response.json()["organization_id"] == str(other.organization_id)
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"})).json()
    assert [m["organization_id"] for m in me["memberships"]] == [str(other.organization_id)]


async def test_a_deactivated_specialist_is_neither_listed_nor_searched_nor_booked(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = await login(client, world.admin)
    coach = await login(client, world.coach)
    monday = next_weekday(0)
    booked = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 9)), headers=coach)
    assert booked.status_code == 201, booked.text
    assert booked.json()["specialist_available"] is True
    cid = booked.json()["id"]
    window = {"consultation_type_id": str(world.type_id), "start": berlin(monday, 0), "end": berlin(monday, 23)}

    assert (await client.post(f"/api/v1/users/{world.specialist_id}/deactivate", headers=admin)).status_code == 200

    listed = await client.get("/api/v1/specialists", headers=coach)
    assert [s["id"] for s in listed.json()] == [str(world.psychologist_id)]
    lookup = await client.get(f"/api/v1/specialists/{world.specialist_id}", headers=coach)
    assert_problem(lookup, 404, "specialist_id")
    availability = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=coach)
    assert_problem(availability, 404, "specialist_id")
    one = await client.get("/api/v1/slots", params={**window, "specialist_id": str(world.specialist_id)}, headers=coach)
    assert_problem(one, 404, "specialist_id")
    by_profession = await client.get("/api/v1/slots", params={**window, "profession": "physician"}, headers=coach)
    assert by_profession.status_code == 200, by_profession.text
    assert by_profession.json()["slots"] == []
    refused = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 10)), headers=coach)
    assert_problem(refused, 404, "specialist_id")
    doctor_token = await client.post("/api/v1/auth/login", json={"email": world.specialist, "password": TEST_PASSWORD})
    assert_problem(doctor_token, 401)

    # The booked consultation stays, and tells the coach it needs a new specialist.
    seen = await client.get(f"/api/v1/consultations/{cid}", headers=coach)
    assert (seen.json()["status"], seen.json()["specialist_available"]) == ("scheduled", False)
    listed_consultations = (await client.get("/api/v1/consultations", headers=coach)).json()
    assert [(c["id"], c["specialist_available"]) for c in listed_consultations] == [(cid, False)]
    moved = await client.post(
        f"/api/v1/consultations/{cid}/reschedule", json={"start": berlin(monday, 11)}, headers=coach
    )
    assert_problem(moved, 409, "specialist_id")
    # Cancelling it (to book someone else) still works.

    assert (await client.post(f"/api/v1/users/{world.specialist_id}/reactivate", headers=admin)).status_code == 200
    assert (await client.get(f"/api/v1/consultations/{cid}", headers=coach)).json()["specialist_available"] is True
    again = await client.post("/api/v1/consultations", json=booking(world, berlin(monday, 10)), headers=coach)
    assert again.status_code == 201, again.text
    cancelled = await client.post(f"/api/v1/consultations/{cid}/cancel", json={}, headers=coach)
    assert cancelled.status_code == 200, cancelled.text


async def test_ending_a_membership_removes_the_user_from_the_organization(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login(client, world.admin)
    coach = await login(client, world.coach)
    doctor = await login(client, world.specialist)
    booked = await client.post("/api/v1/consultations", json=booking(world, berlin(next_weekday(0), 9)), headers=coach)
    assert booked.status_code == 201, booked.text

    ended = await client.delete(f"/api/v1/users/{world.specialist_id}/membership", headers=admin)
    assert ended.status_code == 204, ended.text
    assert_problem(await client.get("/api/v1/me", headers=doctor), 401)
    assert_problem(await client.post(f"/api/v1/users/{world.specialist_id}/reactivate", headers=admin), 404)
    assert_problem(await client.get(f"/api/v1/specialists/{world.specialist_id}", headers=coach), 404)
    consultation = (await client.get(f"/api/v1/consultations/{booked.json()['id']}", headers=coach)).json()
    assert consultation["specialist_available"] is False
    async with sessionmaker() as session:
        assert await session.get(User, world.specialist_id) is not None  # the account itself stays
    events = (await client.get("/api/v1/audit-events", params={"action": "membership.ended"}, headers=admin)).json()
    assert [e["object_id"] for e in events] == [str(world.specialist_id)]


async def test_a_deactivated_specialists_link_opens_no_room(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    view = await book_soon(sessionmaker, settings, world)
    urls = urls_by_kind(settings, view)
    assert (await client.get(f"/api/v1/join/{token_of(urls['specialist'])}")).json()["jwt"]
    admin = await login(client, world.admin)
    assert (await client.post(f"/api/v1/users/{world.specialist_id}/deactivate", headers=admin)).status_code == 200

    specialist = (await client.get(f"/api/v1/join/{token_of(urls['specialist'])}")).json()
    assert (specialist["status"], specialist["jwt"]) == ("cancelled", None)
    # The participant's link still opens: the coach decides what happens to the appointment.
    participant = (await client.get(f"/api/v1/join/{token_of(urls['participant'])}")).json()
    assert participant["status"] == "open"
    assert participant["jwt"]

    assert (await client.post(f"/api/v1/users/{world.specialist_id}/reactivate", headers=admin)).status_code == 200
    assert (await client.get(f"/api/v1/join/{token_of(urls['specialist'])}")).json()["jwt"]


async def test_the_operator_switches_a_whole_account_off_and_on(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    coach = await login(client, world.coach)
    off = telecon(settings, "deactivate-user", "--email", world.coach.upper())
    assert off.returncode == 0, off.stderr
    assert world.coach in off.stdout
    assert_problem(await client.get("/api/v1/me", headers=coach), 401)
    assert_problem(await client.post("/api/v1/auth/login", json={"email": world.coach, "password": TEST_PASSWORD}), 401)
    admin = await login(client, world.admin)
    events = (await client.get("/api/v1/audit-events", params={"action": "account.deactivated"}, headers=admin)).json()
    assert len(events) == 1
    assert events[0]["actor_id"] is None

    unknown = telecon(settings, "deactivate-user", "--email", "nobody@test.invalid")
    assert unknown.returncode == 2
    assert "no user with this email" in unknown.stderr

    on = telecon(settings, "reactivate-user", "--email", world.coach)
    assert on.returncode == 0, on.stderr
    assert (await client.get("/api/v1/me", headers=coach)).status_code == 200
