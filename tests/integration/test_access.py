"""Who may see and do what: login, throttling, tokens, tenancy, roles and the audit trail, over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.organizations.models import Membership, User
from telecon.settings import Settings
from telecon.web import make_jwt_auth
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    World,
    assert_problem,
    berlin,
    booking_body,
    login,
    next_weekday,
    seed_world,
)

PURPOSE = "Verdacht auf Depression, Schlafstörungen"


def booking(world: World, start: str, **extra: Any) -> dict[str, Any]:
    return booking_body(world, start, purpose=PURPOSE, **extra)


async def book(client: httpx.AsyncClient, world: World, headers: dict[str, str], weekday: int = 0) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/consultations", json=booking(world, berlin(next_weekday(weekday), 9)), headers=headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


# --- login ---------------------------------------------------------------------------------------------


async def test_login_returns_a_bearer_token(client: httpx.AsyncClient, world: World, settings: Settings) -> None:
    response = await attempt(client, world.coach, TEST_PASSWORD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str)
    assert body["access_token"].count(".") == 2
    assert body["expires_in"] == settings.access_token_minutes * 60
    assert body["role"] == "coach"
    assert body["organization_id"] == str(world.organization_id)
    # The email is matched case-insensitively, as it is stored normalised.
    upper = await attempt(client, world.coach.upper(), TEST_PASSWORD)
    assert upper.status_code == 200, upper.text


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient, world: World) -> None:
    wrong_password = await attempt(client, world.coach, "not the password at all")
    unknown_email = await attempt(client, "nobody@test.invalid", "not the password at all")
    first = assert_problem(wrong_password, 401)
    second = assert_problem(unknown_email, 401)
    assert first == second
    assert "access_token" not in first
    assert world.coach not in wrong_password.text


async def test_login_rejects_unknown_fields(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/v1/auth/login", json={"email": world.coach, "password": TEST_PASSWORD, "remember_me": True}
    )
    assert_problem(response, 422, "remember_me")


@pytest.mark.dates
async def test_failed_logins_for_one_account_from_one_address_wait_longer_and_longer(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    assert settings.login_free_failures == 3  # the documented default
    for _ in range(3):
        assert_problem(await attempt(client, world.coach, "a wrong guess"), 401)
    # Then each failure doubles the wait (2 s, 4 s, 8 s, …), so a guesser soon meets 429. (A loop, not one
    # try: a slow machine may outwait 2 s. tests/integration/test_accounts.py pins the clock instead.)
    for _ in range(10):
        throttled = await attempt(client, world.coach, "a wrong guess")
        if throttled.status_code == 429:
            break
        assert_problem(throttled, 401)
    body = assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) > 0
    assert "access_token" not in body
    # Other accounts from the same address are not affected (the address limit is higher).
    assert (await attempt(client, world.admin, TEST_PASSWORD)).status_code == 200


@pytest.mark.dates
async def test_failed_logins_from_one_address_are_throttled(settings: Settings, world: World) -> None:
    strict = settings.model_copy(update={"login_max_failures_per_address": 3, "login_max_failures_per_account": 100})
    with LiveServer(strict) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            # Different accounts each time: only the address links the attempts.
            for n in range(3):
                assert_problem(await attempt(client, f"guess{n}@test.invalid", "a wrong guess"), 401)
            throttled = await attempt(client, world.admin, TEST_PASSWORD)
            assert_problem(throttled, 429)
            assert int(throttled.headers["Retry-After"]) > 0
            assert_problem(await attempt(client, world.coach, TEST_PASSWORD), 429)


# --- tokens and routes ---------------------------------------------------------------------------------


async def test_missing_or_invalid_bearer_token_is_401(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    assert_problem(await client.get("/api/v1/me"), 401)
    assert_problem(await client.get("/api/v1/participants"), 401)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"}), 401)
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}), 401)
    # A token for a real user, signed with another secret, is not accepted; the same claims signed right are.
    coach = await login(client, world.coach)
    coach_id = (await client.get("/api/v1/me", headers=coach)).json()["id"]
    claims = {"identifier": coach_id, "token_extras": {"org": str(world.organization_id)}}
    forged = make_jwt_auth(Settings(secret_key=SecretStr("another-secret-key-long-enough-for-hs256"))).create_token(
        **claims
    )
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401)
    genuine = make_jwt_auth(settings).create_token(**claims)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {genuine}"})).status_code == 200
    # A genuine token for an organization the user is not a member of is refused as well.
    elsewhere = make_jwt_auth(settings).create_token(identifier=coach_id, token_extras={"org": str(uuid.uuid4())})
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": f"Bearer {elsewhere}"}), 401)


async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient, world: World) -> None:
    assert_problem(await client.get("/api/v1/no-such-thing"), 404)
    coach = await login(client, world.coach)
    assert_problem(await client.get("/api/v1/no-such-thing", headers=coach), 404)


async def test_me_describes_the_logged_in_user(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/v1/me", headers=await login(client, world.specialist))
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["id"] == str(world.specialist_id)
    assert me["email"] == world.specialist
    assert me["role"] == "specialist"
    assert me["profession"] == "physician"
    assert me["organization_id"] == str(world.organization_id)
    assert [(m["organization_id"], m["role"]) for m in me["memberships"]] == [
        (str(world.organization_id), "specialist")
    ]
    assert "password" not in response.text
    assert "password_hash" not in me


async def test_naive_query_times_are_422_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    naive = f"{next_weekday(0).isoformat()}T09:00:00"
    response = await client.get("/api/v1/consultations", params={"start": naive}, headers=coach)
    assert_problem(response, 422, "start")


# --- tenancy -------------------------------------------------------------------------------------------


@pytest.mark.dates
async def test_another_organization_sees_nothing_and_gets_404(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Other", prefix="other-")
    coach = await login(client, world.coach)
    consultation = await book(client, world, coach)
    stranger = await login(client, other.coach)
    pid = world.participant_id
    cid = consultation["id"]

    checks = [
        ("GET", f"/api/v1/participants/{pid}", None),
        ("GET", f"/api/v1/participants/{pid}/consents", None),
        ("POST", f"/api/v1/participants/{pid}/consents", {"kind": "email_contact", "granted": True}),
        ("GET", f"/api/v1/participants/{pid}/case-file", None),
        ("POST", f"/api/v1/participants/{pid}/notes", {"text": "not mine"}),
        ("GET", f"/api/v1/consultations/{cid}", None),
        ("POST", f"/api/v1/consultations/{cid}/reschedule", {"start": berlin(next_weekday(0), 10)}),
        ("POST", f"/api/v1/consultations/{cid}/cancel", {"reason": "not mine"}),
        ("GET", f"/api/v1/specialists/{world.specialist_id}", None),
    ]
    for method, path, body in checks:
        response = await client.request(method, path, json=body, headers=stranger)
        assert_problem(response, 404)
        assert "Maria" not in response.text, (method, path)
        assert PURPOSE not in response.text, (method, path)

    # Booking the other organization's participant, even with one's own specialist and type.
    foreign = booking(
        other,
        berlin(next_weekday(1), 9),
        participant_id=str(pid),
    )
    assert_problem(await client.post("/api/v1/consultations", json=foreign, headers=stranger), 404, "participant_id")

    # Lists hold only the caller's own rows.
    other_consultation = await book(client, other, stranger, weekday=2)
    listed = await client.get("/api/v1/consultations", headers=stranger)
    assert listed.status_code == 200, listed.text
    assert [c["id"] for c in listed.json()] == [other_consultation["id"]]
    by_participant = await client.get("/api/v1/consultations", params={"participant_id": str(pid)}, headers=stranger)
    assert by_participant.json() == []
    people = await client.get("/api/v1/participants", headers=stranger)
    assert people.status_code == 200, people.text
    assert [p["id"] for p in people.json()] == [str(other.participant_id)]
    mine = await client.get("/api/v1/participants", headers=coach)
    assert [p["id"] for p in mine.json()] == [str(pid)]
    own_list = await client.get("/api/v1/consultations", headers=coach)
    assert [c["id"] for c in own_list.json()] == [cid]

    # Nothing above changed the first organization's data.
    unchanged = await client.get(f"/api/v1/consultations/{cid}", headers=coach)
    assert unchanged.json()["status"] == "scheduled"
    assert unchanged.json()["sequence"] == 0
    timeline = await client.get(f"/api/v1/participants/{pid}/case-file", headers=coach)
    assert [e["kind"] for e in timeline.json()["entries"]] == ["consultation_booked"]
    consents = await client.get(f"/api/v1/participants/{pid}/consents", headers=coach)
    assert [c["kind"] for c in consents.json()] == ["video_consultation"]

    # Audit trails are per organization too.
    other_admin = await login(client, other.admin)
    events = await client.get("/api/v1/audit-events", headers=other_admin)
    assert events.status_code == 200, events.text
    assert cid not in events.text
    assert all(e["object_id"] != str(pid) for e in events.json())


# --- roles ---------------------------------------------------------------------------------------------


async def test_only_admins_manage_users_and_consultation_types(client: httpx.AsyncClient, world: World) -> None:
    new_user = {
        "email": "new-coach@test.invalid",
        "password": "a long enough password",
        "display_name": "New Coach",
        "role": "coach",
    }
    new_type = {"name": "Nachgespräch", "duration_minutes": 30}
    for who in (world.coach, world.specialist):
        headers = await login(client, who)
        assert_problem(await client.post("/api/v1/users", json=new_user, headers=headers), 403)
        assert_problem(await client.post("/api/v1/consultation-types", json=new_type, headers=headers), 403)
    # Nothing was created by the refused requests.
    assert (await attempt(client, new_user["email"], new_user["password"])).status_code == 401
    admin = await login(client, world.admin)
    types = await client.get("/api/v1/consultation-types", headers=admin)
    assert [t["name"] for t in types.json()] == ["Erstgespräch"]

    created_type = await client.post("/api/v1/consultation-types", json=new_type, headers=admin)
    assert created_type.status_code == 201, created_type.text
    assert created_type.json()["duration_minutes"] == 30


async def test_admin_creates_users(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, world.admin)
    body = {
        "email": "New.Specialist@Test.invalid",
        "password": "a long enough password",
        "display_name": "Dr. Neu",
        "role": "specialist",
        "profession": "psychotherapist",
        "languages": ["de", "tr"],
    }
    created = await client.post("/api/v1/users", json=body, headers=admin)
    assert created.status_code == 201, created.text
    user = created.json()
    assert user["email"] == "new.specialist@test.invalid"
    assert user["role"] == "specialist"
    assert "password" not in created.text
    assert "argon2" not in created.text

    # The new user can log in and is a specialist of the organization.
    headers = await login(client, "new.specialist@test.invalid", "a long enough password")
    me = (await client.get("/api/v1/me", headers=headers)).json()
    assert (me["id"], me["role"], me["organization_id"]) == (user["id"], "specialist", str(world.organization_id))

    duplicate = await client.post("/api/v1/users", json={**body, "email": "new.specialist@test.invalid"}, headers=admin)
    assert_problem(duplicate, 409, "email")
    short = await client.post(
        "/api/v1/users", json={**body, "email": "short@test.invalid", "password": "short"}, headers=admin
    )
    assert_problem(short, 422, "password")
    unknown = await client.post(
        "/api/v1/users", json={**body, "email": "x@test.invalid", "is_superuser": True}, headers=admin
    )
    assert_problem(unknown, 422, "is_superuser")
    bad_email = await client.post("/api/v1/users", json={**body, "email": "not-an-email"}, headers=admin)
    assert_problem(bad_email, 422, "email")
    # The refused requests left no users behind.
    for email in ("short@test.invalid", "x@test.invalid"):
        assert (await attempt(client, email, "a long enough password")).status_code == 401


async def test_admin_password_is_stored_as_argon2(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from sqlalchemy import select

    from telecon.organizations.models import User

    admin = await login(client, world.admin)
    body = {
        "email": "hashed@test.invalid",
        "password": "a long enough password",
        "display_name": "Hashed",
        "role": "coach",
    }
    assert (await client.post("/api/v1/users", json=body, headers=admin)).status_code == 201
    async with sessionmaker() as session:
        stored = await session.scalar(select(User.password_hash).where(User.email == "hashed@test.invalid"))
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert "a long enough password" not in stored


async def test_specialists_edit_only_their_own_availability(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    week = {"timezone": "Europe/Berlin", "weekly": [{"weekday": 1, "start": "14:00", "end": "16:30"}]}
    doctor = await login(client, world.specialist)

    own = await client.put(f"/api/v1/specialists/{world.specialist_id}/availability", json=week, headers=doctor)
    assert own.status_code == 200, own.text
    assert own.json()["weekly"] == [{"weekday": 1, "start": "14:00", "end": "16:30"}]

    before = await client.get(f"/api/v1/specialists/{world.psychologist_id}/availability", headers=doctor)
    assert before.status_code == 200, before.text
    colleague = await client.put(f"/api/v1/specialists/{world.psychologist_id}/availability", json=week, headers=doctor)
    assert_problem(colleague, 404, "specialist_id")

    coach = await login(client, world.coach)
    # A coach is refused for lack of the role (the specialist exists in the coach's own organization).
    by_coach = await client.put(f"/api/v1/specialists/{world.psychologist_id}/availability", json=week, headers=coach)
    assert_problem(by_coach, 403)
    admin = await login(client, world.admin)
    by_admin = await client.put(f"/api/v1/specialists/{world.psychologist_id}/availability", json=week, headers=admin)
    assert_problem(by_admin, 403)

    after = await client.get(f"/api/v1/specialists/{world.psychologist_id}/availability", headers=doctor)
    assert after.json() == before.json()
    assert len(after.json()["weekly"]) == 5

    # Another organization's specialist does not even exist for this one.
    other = await seed_world(sessionmaker, name="Jobcenter Other", prefix="other-")
    stranger = await login(client, other.specialist)
    foreign = await client.put(f"/api/v1/specialists/{world.specialist_id}/availability", json=week, headers=stranger)
    assert_problem(foreign, 404, "specialist_id")


@pytest.mark.dates
async def test_coaches_book_and_specialists_do_not(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    refused = await client.post(
        "/api/v1/consultations", json=booking(world, berlin(next_weekday(0), 9)), headers=doctor
    )
    assert_problem(refused, 403)
    # Who asks is checked before what is asked for: not a 404 for a participant that does not exist.
    unknown = booking(world, berlin(next_weekday(0), 9), participant_id=str(uuid.uuid4()))
    assert_problem(await client.post("/api/v1/consultations", json=unknown, headers=doctor), 403)
    coach = await login(client, world.coach)
    assert (await client.get("/api/v1/consultations", headers=coach)).json() == []


@pytest.mark.dates
async def test_a_login_whose_membership_is_gone_is_refused_at_once(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    coach = await login(client, world.coach)
    async with sessionmaker() as session, session.begin():
        user_id = await session.scalar(select(User.id).where(User.email == world.coach))
        await session.execute(delete(Membership).where(Membership.user_id == user_id))
    # The bearer token is still valid, but every request checks the membership behind it again.
    assert_problem(await client.get("/api/v1/me", headers=coach), 401)
    start = berlin(next_weekday(0), 9)
    assert_problem(await client.post("/api/v1/consultations", json=booking(world, start), headers=coach), 401)
    unknown = booking(world, start, participant_id=str(uuid.uuid4()))
    assert_problem(await client.post("/api/v1/consultations", json=unknown, headers=coach), 401)
    admin = await login(client, world.admin)
    assert (await client.get("/api/v1/consultations", headers=admin)).json() == []


# --- audit ---------------------------------------------------------------------------------------------


@pytest.mark.dates
async def test_audit_trail_records_changes_without_health_data(client: httpx.AsyncClient, world: World) -> None:
    admin = await login(client, world.admin)
    coach = await login(client, world.coach)
    created_user = await client.post(
        "/api/v1/users",
        json={
            "email": "audited@test.invalid",
            "password": "a long enough password",
            "display_name": "Audited",
            "role": "coach",
        },
        headers=admin,
    )
    assert created_user.status_code == 201, created_user.text
    consultation = await book(client, world, coach)
    note = await client.post(
        f"/api/v1/participants/{world.participant_id}/notes", json={"text": "Diagnose: Bandscheibe"}, headers=coach
    )
    assert note.status_code == 201, note.text

    response = await client.get("/api/v1/audit-events", headers=admin)
    assert response.status_code == 200, response.text
    events = response.json()
    by_action = {e["action"]: e for e in events}
    assert by_action["user.added"]["object_id"] == created_user.json()["id"]
    assert by_action["consultation.booked"]["object_id"] == consultation["id"]
    assert by_action["case_file.note_added"]["object_id"] == str(world.participant_id)
    assert "auth.login" in by_action
    assert by_action["consultation.booked"]["remote_address"] == "127.0.0.1"
    # Who did it: the coach booked, the admin created the user.
    me_admin = (await client.get("/api/v1/me", headers=admin)).json()
    assert by_action["user.added"]["actor_id"] == me_admin["id"]
    assert by_action["consultation.booked"]["actor_id"] != me_admin["id"]
    # Newest first.
    times = [e["occurred_at"] for e in events]
    assert times == sorted(times, reverse=True)
    # No health data and no free text.
    assert PURPOSE not in response.text
    assert "Bandscheibe" not in response.text
    assert "Maria" not in response.text

    filtered = await client.get("/api/v1/audit-events", params={"action": "consultation.booked"}, headers=admin)
    assert [e["object_id"] for e in filtered.json()] == [consultation["id"]]

    assert_problem(await client.get("/api/v1/audit-events", headers=coach), 403)
    assert_problem(await client.get("/api/v1/audit-events", headers=await login(client, world.specialist)), 403)
