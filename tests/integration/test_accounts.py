"""Accounts across organizations and logins under attack: invitations instead of silent joins, no probing of
other organizations' addresses, throttles that a stranger cannot turn against the account holder, the
``Bearer`` scheme only, and argon2 off the event loop."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor
from telecon.audit.models import AuditEvent
from telecon.auth import services as auth
from telecon.errors import TooManyRequests
from telecon.organizations.models import Membership, MembershipInvitation, User
from telecon.passwords import Passwords, hash_password
from telecon.settings import Settings
from tests.conftest import TEST_PASSWORD, TEST_PASSWORD_HASH, LiveServer, World, assert_problem, login, seed_world

# A fixed instant, far from today: these tests pin the clock instead of waiting.
T0 = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)
HOME, STRANGER, ELSEWHERE = "198.51.100.7", "203.0.113.66", "192.0.2.1"


# --- login throttles, with the clock pinned ----------------------------------------------------------


async def try_login(
    sessionmaker: async_sessionmaker[AsyncSession],
    email: str,
    password: str,
    address: str,
    now: datetime,
    policy: auth.LoginPolicy | None = None,
) -> Actor | int | None:
    """The actor on success, ``None`` for a wrong password, the Retry-After seconds when throttled."""
    async with sessionmaker() as session:
        try:
            actor = await auth.authenticate(
                session,
                email=email,
                password=password,
                remote_address=address,
                policy=policy or auth.LoginPolicy(),
                passwords=Passwords(2),
                now=now,
            )
        except TooManyRequests as refused:
            return refused.retry_after
        await session.commit()
        return actor


def test_the_delay_doubles_after_the_free_failures_up_to_a_cap() -> None:
    policy = auth.LoginPolicy(free_failures=3, max_delay=timedelta(minutes=15))
    delays = [policy.delay(n).total_seconds() for n in range(14)]
    assert delays == [0, 0, 0, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert policy.delay(10_000) == timedelta(minutes=15)


async def test_failures_from_one_address_make_that_address_wait_longer_and_longer(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    now = T0
    for _ in range(3):
        assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now) is None
    # The fourth try waits 2 s; even the right password is refused unread, and a refusal is no failure.
    assert await try_login(sessionmaker, world.coach, TEST_PASSWORD, STRANGER, now) == 2
    assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now + timedelta(seconds=1)) == 1
    now += timedelta(seconds=2)
    assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now) is None
    assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now) == 4
    now += timedelta(seconds=4)
    assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now) is None
    assert await try_login(sessionmaker, world.coach, "wrong guess", STRANGER, now) == 8
    # An address the account has never used is not held up by the pair's delay (the account cap is far).
    assert isinstance(await try_login(sessionmaker, world.coach, TEST_PASSWORD, ELSEWHERE, now), Actor)
    # Unknown accounts are slowed down just the same: the delay tells nothing about who exists.
    for _ in range(3):
        assert await try_login(sessionmaker, "nobody@test.invalid", "guess", STRANGER, now) is None
    assert await try_login(sessionmaker, "nobody@test.invalid", "guess", STRANGER, now) == 2
    # The right password after the wait succeeds and forgets that pair's failures.
    now += timedelta(seconds=8)
    assert isinstance(await try_login(sessionmaker, world.coach, TEST_PASSWORD, STRANGER, now), Actor)
    for _ in range(3):
        assert await try_login(sessionmaker, world.coach, "typo", STRANGER, now) is None


async def test_a_stranger_cannot_keep_the_account_holder_out_at_a_known_address(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    policy = auth.LoginPolicy(max_failures_per_account=10, max_failures_per_address=20)
    # The coach has logged in from the job centre before: that address is known for the account.
    assert isinstance(await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, T0, policy), Actor)
    now = T0 + timedelta(days=30)
    # A stranger guesses from four addresses (three each before the pair's delay): ten failures, the cap.
    strangers = [f"203.0.113.{n // 3}" for n in range(10)]
    for address in strangers:
        assert await try_login(sessionmaker, world.coach, "guess", address, now, policy) is None
    # Any address the account has not logged in from is now refused for this account (even with the password) …
    assert await try_login(sessionmaker, world.coach, TEST_PASSWORD, ELSEWHERE, now, policy) == 15 * 60
    assert await try_login(sessionmaker, world.coach, "guess", "203.0.113.99", now, policy) == 15 * 60
    # … but the coach at the known address works as usual.
    actor = await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, now, policy)
    assert isinstance(actor, Actor)
    assert actor.organization_id == world.organization_id
    # The account holder's own typos at home are slowed like anyone's, but not locked by the account cap.
    for _ in range(3):
        assert await try_login(sessionmaker, world.coach, "typo", HOME, now, policy) is None
    assert await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, now + timedelta(seconds=2), policy)
    # A known address is forgotten after a while without logins.
    later = T0 + timedelta(days=200)
    for address in strangers:
        assert await try_login(sessionmaker, world.coach, "guess", address, later, policy) is None
    assert await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, later, policy) == 15 * 60


async def test_one_address_guessing_across_accounts_meets_its_cap(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    policy = auth.LoginPolicy(max_failures_per_address=5)
    for n in range(5):
        assert await try_login(sessionmaker, f"guess{n}@test.invalid", "guess", STRANGER, T0, policy) is None
    assert await try_login(sessionmaker, world.admin, TEST_PASSWORD, STRANGER, T0, policy) == 15 * 60
    # The cap counts within its window only.
    later = T0 + timedelta(minutes=16)
    assert isinstance(await try_login(sessionmaker, world.admin, TEST_PASSWORD, STRANGER, later, policy), Actor)


async def test_over_http_a_stranger_elsewhere_does_not_lock_out_the_real_person(
    settings: Settings, world: World
) -> None:
    """Two loopback addresses against a real server: 127.0.0.1 is the coach's desk, 127.0.0.2 a stranger."""
    strict = settings.model_copy(update={"login_max_failures_per_account": 3})
    with LiveServer(strict) as server:
        desk = httpx.AsyncClient(base_url=server.url, timeout=60)
        stranger = httpx.AsyncClient(
            base_url=server.url, timeout=60, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        )
        newcomer = httpx.AsyncClient(
            base_url=server.url, timeout=60, transport=httpx.AsyncHTTPTransport(local_address="127.0.0.3")
        )
        async with desk, stranger, newcomer:
            await login(desk, world.coach)  # the desk becomes a known address
            guess = {"email": world.coach, "password": "a wrong guess"}
            for _ in range(3):
                assert_problem(await stranger.post("/api/v1/auth/login", json=guess), 401)
            # Brute force from one address: 429 with Retry-After, whatever the password.
            refused = await stranger.post("/api/v1/auth/login", json={**guess, "password": TEST_PASSWORD})
            assert_problem(refused, 429)
            assert int(refused.headers["Retry-After"]) > 0
            # The account cap now holds addresses the coach never used …
            elsewhere = await newcomer.post("/api/v1/auth/login", json={**guess, "password": TEST_PASSWORD})
            assert_problem(elsewhere, 429)
            # … and not the coach's own desk.
            assert (await desk.get("/api/v1/me", headers=await login(desk, world.coach))).status_code == 200


async def test_known_addresses_are_stored_hashed(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    from telecon.auth.models import KnownAddress

    assert isinstance(await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, T0), Actor)
    assert isinstance(await try_login(sessionmaker, world.coach, TEST_PASSWORD, HOME, T0 + timedelta(1)), Actor)
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(KnownAddress)))
    assert len(rows) == 1
    assert HOME not in rows[0].address_hash
    assert rows[0].last_seen_at == T0 + timedelta(days=1)


# --- the Authorization scheme --------------------------------------------------------------------------


async def test_only_the_bearer_scheme_carries_a_token(client: httpx.AsyncClient, world: World) -> None:
    token = (await login(client, world.coach))["Authorization"].removeprefix("Bearer ")
    for header in (f"Basic {token}", f"Token {token}", f"JWT {token}", token, f"Bearer{token}", "Bearer"):
        assert_problem(await client.get("/api/v1/me", headers={"Authorization": header}), 401)
    for header in (f"Bearer {token}", f"bearer {token}", f"BEARER  {token}"):
        assert (await client.get("/api/v1/me", headers={"Authorization": header})).status_code == 200, header


# --- argon2 off the event loop ----------------------------------------------------------------------


class RecordingHasher(PasswordHasher):
    """argon2 itself, noting which thread runs it and how many run at once."""

    def __init__(self, pairs: int | None = None) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.running = self.most = 0
        self._lock = threading.Lock()
        # With ``pairs``, each call waits for another to run at the same time: proof they overlap.
        self._together = threading.Barrier(pairs, timeout=60) if pairs else None

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self._lock:
            self.threads.add(threading.get_ident())
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            if self._together is not None:
                self._together.wait()
            return super().verify(hash, password)
        finally:
            with self._lock:
                self.running -= 1


async def test_login_verifies_the_password_in_a_worker_thread(
    sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    hasher = RecordingHasher()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        async with sessionmaker() as session:
            actor = await auth.authenticate(
                session,
                email=world.coach,
                password=TEST_PASSWORD,
                remote_address=HOME,
                policy=auth.LoginPolicy(),
                passwords=Passwords(2, hasher),
            )
        ticks_during_login = ticks
    finally:
        ticker.cancel()
    assert isinstance(actor, Actor)
    assert hasher.threads
    assert threading.get_ident() not in hasher.threads
    assert ticks_during_login > 0  # the loop kept running other tasks while argon2 worked


async def test_at_most_the_configured_number_of_hashes_run_at_once() -> None:
    hasher = RecordingHasher(pairs=2)
    passwords = Passwords(2, hasher)
    stored = hash_password("eight logins at once")
    results = await asyncio.gather(*(passwords.verify(stored, "eight logins at once") for _ in range(8)))
    assert results == [True] * 8
    assert hasher.most == 2  # two overlapped (the barrier needs two), never a third
    assert len(hasher.threads) >= 2


def test_the_app_bounds_hashing_by_the_setting(settings: Settings) -> None:
    from telecon.app import create_app

    app = create_app(settings.model_copy(update={"password_hashing_concurrency": 3}))
    assert isinstance(app.state.passwords, Passwords)
    assert app.state.passwords.concurrency == 3
    assert Settings().password_hashing_concurrency == 2


# --- adding people across organizations -----------------------------------------------------------------


def new_person(email: str, **extra: Any) -> dict[str, Any]:
    return {
        "email": email,
        "password": "the admin's chosen password",
        "display_name": "Chosen Name",
        "role": "coach",
        **extra,
    }


@pytest.fixture
async def other(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> World:
    return await seed_world(sessionmaker, "Jobcenter Anderswo", prefix="b-")


async def test_an_address_of_another_organization_answers_like_a_new_one(
    client: httpx.AsyncClient, world: World, other: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login(client, world.admin)
    fresh = await client.post("/api/v1/users", json=new_person("fresh@test.invalid"), headers=admin)
    taken = await client.post("/api/v1/users", json=new_person(other.coach.upper()), headers=admin)
    assert fresh.status_code == taken.status_code == 201, (fresh.text, taken.text)
    assert fresh.headers["content-type"] == taken.headers["content-type"]
    fresh_body, taken_body = fresh.json(), taken.json()
    assert set(fresh_body) == set(taken_body) == {"id", "email", "display_name", "role"}
    # What comes back is what the admin sent, never the other organization's data about the person.
    assert taken_body["display_name"] == "Chosen Name"
    assert taken_body["email"] == other.coach
    assert (fresh_body["role"], taken_body["role"]) == ("coach", "coach")
    # Asking again is a conflict either way: the admin knows their own members and invitations.
    assert_problem(await client.post("/api/v1/users", json=new_person("fresh@test.invalid"), headers=admin), 409)
    assert_problem(await client.post("/api/v1/users", json=new_person(other.coach), headers=admin), 409)
    # The organization's audit trail reads the same for both.
    events = (await client.get("/api/v1/audit-events", headers=admin)).json()
    added = {e["object_id"]: e["action"] for e in events if e["object_id"] in (fresh_body["id"], taken_body["id"])}
    assert added == {fresh_body["id"]: "user.added", taken_body["id"]: "user.added"}
    assert "membership.invited" not in {e["action"] for e in events}

    # The existing account is untouched: its own password works, the admin's does not, no membership yet.
    assert_problem(
        await client.post("/api/v1/auth/login", json={"email": other.coach, "password": "the admin's chosen password"}),
        401,
    )
    holder = await login(client, other.coach)
    me = (await client.get("/api/v1/me", headers=holder)).json()
    assert me["display_name"] == "b-coach"
    assert [m["organization_id"] for m in me["memberships"]] == [str(other.organization_id)]
    assert [(i["organization_id"], i["role"]) for i in me["invitations"]] == [(str(world.organization_id), "coach")]
    into_world = {"email": other.coach, "password": TEST_PASSWORD, "organization_id": str(world.organization_id)}
    assert_problem(await client.post("/api/v1/auth/login", json=into_world), 401)
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == other.coach))
        assert user is not None
        assert user.password_hash == TEST_PASSWORD_HASH
        memberships = await session.scalar(
            select(Membership).where(Membership.organization_id == world.organization_id, Membership.user_id == user.id)
        )
        assert memberships is None
        invited = await session.scalar(select(AuditEvent).where(AuditEvent.action == "membership.invited"))
        assert invited is not None
        assert (invited.organization_id, invited.object_id) == (None, user.id)

    # Accepting makes the membership, under the id the admin was given.
    invitation_id = me["invitations"][0]["id"]
    accepted = await client.post(f"/api/v1/me/invitations/{invitation_id}/accept", headers=holder)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json() == {
        "organization_id": str(world.organization_id),
        "organization_name": "Jobcenter Test",
        "role": "coach",
    }
    joined = await client.post("/api/v1/auth/login", json=into_world)
    assert joined.status_code == 200, joined.text
    assert joined.json()["role"] == "coach"
    me = (await client.get("/api/v1/me", headers=holder)).json()
    assert len(me["memberships"]) == 2
    assert me["invitations"] == []
    assert taken_body["id"] == me["id"]
    events = (await client.get("/api/v1/audit-events", headers=admin)).json()
    accepted_events = [e for e in events if e["action"] == "membership.accepted"]
    assert [(e["actor_id"], e["object_id"]) for e in accepted_events] == [(me["id"], me["id"])]
    # An invitation is used once.
    assert_problem(await client.post(f"/api/v1/me/invitations/{invitation_id}/accept", headers=holder), 404)


async def test_declining_leaves_no_membership_and_only_the_holder_can_answer(
    client: httpx.AsyncClient, world: World, other: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = await login(client, world.admin)
    specialist = new_person(other.specialist, role="specialist", profession="physician")
    assert (await client.post("/api/v1/users", json=specialist, headers=admin)).status_code == 201
    holder = await login(client, other.specialist)
    invitation_id = (await client.get("/api/v1/me", headers=holder)).json()["invitations"][0]["id"]
    # Nobody else can accept or decline it: to them it does not exist.
    for stranger in (admin, await login(client, other.coach)):
        for verb in ("accept", "decline"):
            answer = await client.post(f"/api/v1/me/invitations/{invitation_id}/{verb}", headers=stranger)
            assert_problem(answer, 404, "invitation_id")
    assert_problem(await client.post(f"/api/v1/me/invitations/{invitation_id}/accept"), 401)

    declined = await client.post(f"/api/v1/me/invitations/{invitation_id}/decline", headers=holder)
    assert declined.status_code == 204, declined.text
    assert (await client.get("/api/v1/me", headers=holder)).json()["invitations"] == []
    async with sessionmaker() as session:
        assert await session.scalar(select(MembershipInvitation)) is None
        user_id = await session.scalar(select(User.id).where(User.email == other.specialist))
        assert (
            await session.scalar(
                select(Membership).where(
                    Membership.user_id == user_id, Membership.organization_id == world.organization_id
                )
            )
            is None
        )
    # The inviting organization is not told; the specialist stays out of its lists.
    events = (await client.get("/api/v1/audit-events", headers=admin)).json()
    assert "membership.declined" not in {e["action"] for e in events}
    specialists = (await client.get("/api/v1/specialists", headers=admin)).json()
    assert str(user_id) not in {s["id"] for s in specialists}


async def test_the_same_new_address_added_at_once_makes_one_account_and_no_500(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Two admins' clicks at the same moment: one account, the others a 409, never an internal error."""
    admin = await login(client, world.admin)
    body = {"email": "neu@test.invalid", "password": "a long enough password", "display_name": "Neu", "role": "coach"}
    answers = await asyncio.gather(*(client.post("/api/v1/users", json=body, headers=admin) for _ in range(8)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [409] * 7, [a.text for a in answers]
    for answer in answers[1:]:
        if answer.status_code == 409:
            assert_problem(answer, 409, "email")
    async with sessionmaker() as session:
        accounts = (await session.scalars(select(User).where(User.email == "neu@test.invalid"))).all()
    assert len(accounts) == 1
