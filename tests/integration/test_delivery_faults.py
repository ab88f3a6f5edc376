"""Mail delivery when things break: the mail server away or refusing, a worker killed, Redis away, two relays.

Real parts only: the test databases, aiosmtpd (``tests.mailserver``), real Redis and a real arq worker (in the
test's loop or as a ``telecon worker`` process). Retries are driven by calling the relay with a later ``now``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon import worker
from telecon.access import Actor, Role
from telecon.clock import Clock
from telecon.db import make_engine, make_sessionmaker
from telecon.notifications.relay import Outcome, Relay
from telecon.organizations.models import User
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.participants.models import Consent, ConsentKind
from telecon.scheduling.booking import book_consultation
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.models import AvailabilityOverride, OverrideKind
from telecon.scheduling.services import SchedulingPolicy, cancel_consultation, reschedule_consultation
from telecon.settings import Settings
from telecon.worker import worker_settings
from tests.conftest import (
    BACKENDS,
    BERLIN,
    LiveServer,
    World,
    berlin,
    berlin_time,
    booking_body,
    clock,
    free_port,
    login,
    next_dst_changes,
    next_weekday,
    now,
)
from tests.mailserver import Collector, MailServer, parts

# --- helpers -----------------------------------------------------------------------------------------


async def coach_id(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> uuid.UUID:
    async with sessionmaker() as session:
        found = await session.scalar(select(User.id).where(User.email == world.coach))
    assert found is not None
    return found


async def consent_to_email(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> None:
    """The world's participant (maria@test.invalid) agrees to email contact: invitations and reminders."""
    recorder = await coach_id(sessionmaker, world)
    async with sessionmaker() as session, session.begin():
        session.add(
            Consent(
                organization_id=world.organization_id,
                participant_id=world.participant_id,
                kind=ConsentKind.email_contact,
                granted=True,
                recorded_by_id=recorder,
            )
        )


def policy_of(settings: Settings, **extra: Any) -> SchedulingPolicy:
    links = JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)
    return SchedulingPolicy(links=links, **extra)


async def book(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    policy: SchedulingPolicy,
    starts_at: datetime,
    *,
    at: datetime,
) -> uuid.UUID:
    actor = Actor(await coach_id(sessionmaker, world), world.organization_id, Role.coach)
    async with sessionmaker() as session, session.begin():
        booking = await book_consultation(
            session,
            actor,
            policy,
            participant_id=world.participant_id,
            specialist_id=world.specialist_id,
            consultation_type_id=world.type_id,
            starts_at=starts_at,
            purpose=None,
            now=at,
        )
    assert booking.created
    return booking.view.consultation.id


def weekday_slots() -> Iterator[datetime]:
    """The physician's free half hours (Monday to Friday, 9 to 12 in Berlin), from a week after the test day."""
    for weeks in range(1, 9):
        for weekday in range(5):
            day = next_weekday(weekday, weeks_ahead=weeks)
            for minutes in range(0, 180, 30):
                yield berlin_time(day, 9 + minutes // 60, minutes % 60)


async def deliver_batch(relay: Relay, clock: Clock, *, limit: int) -> list[Outcome]:
    """The relay's step, its emails' outcomes only: every change also writes a webhook event, fanned out here."""
    return [o for o in await worker.deliver_batch(relay, clock, limit=limit) if o.status != "fanned_out"]


async def outbox(
    sessionmaker: async_sessionmaker[AsyncSession], consultation_id: uuid.UUID | None = None
) -> list[OutboxMessage]:
    """The emails in the outbox (a change's webhook event is ``tests/integration/test_webhooks.py``'s)."""
    async with sessionmaker() as session:
        query = (
            select(OutboxMessage)
            .where(OutboxMessage.topic.startswith("email."))
            .order_by(OutboxMessage.created_at, OutboxMessage.topic)
        )
        if consultation_id is not None:
            query = query.where(OutboxMessage.consultation_id == consultation_id)
        return list(await session.scalars(query))


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    """Wait, without blocking the event loop, until ``check()`` holds."""
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def message_ids(mail_server: MailServer) -> list[str]:
    return [str(m["Message-ID"]) for m in mail_server.messages]


def expected_id(row: OutboxMessage) -> str:
    return f"<{row.id}@telecon.test>"


def statuses(rows: Sequence[OutboxMessage]) -> list[tuple[str, str, int]]:
    return sorted((str(r.topic), r.status.value, r.attempts) for r in rows)


def at(instant: datetime) -> Callable[[], datetime]:
    return lambda: instant


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    """The test Redis index, emptied before and after (``FLUSHDB``: that index only)."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose()


# --- 1. the mail server is away while booking ---------------------------------------------------------


async def test_smtp_down_while_booking_then_back(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
) -> None:
    await consent_to_email(sessionmaker, world)
    mail_server.stop()
    with LiveServer(smtp_settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            booked = await client.post(
                "/api/v1/consultations", json=booking_body(world, berlin(next_weekday(1), 10)), headers=coach
            )
            assert booked.status_code == 201, booked.text
            consultation_id = booked.json()["id"]
            shown: dict[str, Any] = {}

            async def tried_and_waiting() -> bool:
                response = await client.get(f"/api/v1/consultations/{consultation_id}", headers=coach)
                assert response.status_code == 200, response.text
                shown.update(response.json())
                return all((a["delivery"] or {}).get("attempts", 0) >= 1 for a in shown["attendees"])

            await eventually(tried_and_waiting, "the in-process relay's first try")
            deliveries = {a["kind"]: a["delivery"] for a in shown["attendees"]}
            assert set(deliveries) == {"participant", "specialist"}
            for delivery in deliveries.values():
                assert delivery["topic"] == "email.invitation"
                assert delivery["status"] == "pending"
                assert delivery["attempts"] == 1
                assert delivery["error"].startswith("mail server not reachable"), delivery["error"]
                assert delivery["sent_at"] is None
                # The next try waits 30 s (the backoff), not less.
                due = datetime.fromisoformat(delivery["due_at"].replace("Z", "+00:00"))
                assert due - now() > timedelta(seconds=20)
            assert mail_server.messages == []

            mail_server.start()
            # The retry comes 30 s later: a relay of our own runs then, instead of the test waiting.
            later = now() + timedelta(seconds=31)
            relay = Relay(sessionmaker, smtp_settings)
            outcomes = await deliver_batch(relay, at(later), limit=50)
            assert sorted(o.status for o in outcomes) == ["sent", "sent"]
            assert await deliver_batch(relay, at(later + timedelta(minutes=10)), limit=50) == []

            after = (await client.get(f"/api/v1/consultations/{consultation_id}", headers=coach)).json()
            for attendee in after["attendees"]:
                assert attendee["delivery"]["status"] == "sent"
                assert attendee["delivery"]["attempts"] == 2
                assert attendee["delivery"]["error"] is None
            assert sorted(str(m["To"].addresses[0].addr_spec) for m in mail_server.messages) == [
                "doctor@test.invalid",
                "maria@test.invalid",
            ]
            # The reminders stay due at their time; the server's own relay sends nothing more meanwhile.
            await asyncio.sleep(0.5)
            assert len(mail_server.messages) == 2


# --- 2. a temporary refusal, then success ---------------------------------------------------------------


async def test_451_then_250_delivers_one_copy(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
) -> None:
    t0 = now()
    consultation_id = await book(sessionmaker, world, policy_of(smtp_settings), next(weekday_slots()), at=t0)
    [row] = await outbox(sessionmaker, consultation_id)  # the physician's invitation (no consent to email Maria)
    mail_server.collector.replies = ["451 4.3.0 try later"]
    relay = Relay(sessionmaker, smtp_settings)

    assert await deliver_batch(relay, at(t0), limit=10) == [Outcome("retry", "451 4.3.0 try later")]
    [row] = await outbox(sessionmaker, consultation_id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.pending, 1, "451 4.3.0 try later")
    assert row.next_attempt_at == t0 + timedelta(seconds=30)

    assert await deliver_batch(relay, at(t0 + timedelta(seconds=29)), limit=10) == []  # not due yet
    assert await deliver_batch(relay, at(t0 + timedelta(seconds=31)), limit=10) == [Outcome("sent")]
    assert await deliver_batch(relay, at(t0 + timedelta(hours=1)), limit=10) == []

    [row] = await outbox(sessionmaker, consultation_id)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.sent, 2, None)
    assert row.sent_at == t0 + timedelta(seconds=31)
    assert mail_server.collector.refused == ["451 4.3.0 try later"]
    assert message_ids(mail_server) == [expected_id(row)]


class GatedCollector(Collector):
    """Holds each message at DATA until ``gate`` opens: a change can land while the message is on the wire."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.gate = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.arrived.set()
        await asyncio.to_thread(self.gate.wait, 30)
        return await super().handle_DATA(server, session, envelope)


async def test_a_message_voided_while_on_the_wire_is_recorded_as_sent(
    smtp_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    """The cancellation voids the invitation while the mail server has it; the server accepts: the row says sent."""
    server = MailServer(free_port())
    server.collector = GatedCollector()
    server.start()
    try:
        settings = smtp_settings.model_copy(update={"smtp_port": server.port})
        t0 = now()
        consultation_id = await book(sessionmaker, world, policy_of(settings), next(weekday_slots()), at=t0)
        relay = Relay(sessionmaker, settings)
        sending = asyncio.create_task(deliver_batch(relay, at(t0), limit=10))
        assert await asyncio.to_thread(server.collector.arrived.wait, 10)
        actor = Actor(await coach_id(sessionmaker, world), world.organization_id, Role.coach)
        async with sessionmaker() as session, session.begin():
            await cancel_consultation(session, actor, consultation_id, reason="verlegt", now=t0)
        [invitation] = [r for r in await outbox(sessionmaker, consultation_id) if r.topic == Topic.invitation]
        assert invitation.status is OutboxStatus.void  # what the cancellation wrote
        server.collector.gate.set()
        assert await sending == [Outcome("sent")]
        [invitation] = [r for r in await outbox(sessionmaker, consultation_id) if r.topic == Topic.invitation]
        assert (invitation.status, invitation.sent_at) == (OutboxStatus.sent, t0)
        assert message_ids(server) == [expected_id(invitation)]
    finally:
        server.stop()


async def test_the_dispatcher_claims_nothing_while_redis_holds_a_full_queue(
    smtp_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World, arq_redis: ArqRedis
) -> None:
    """A backlog in Redis stops further claims (else leases run out in the queue and nothing is ever sent)."""
    t0 = now()
    await book(sessionmaker, world, policy_of(smtp_settings), next(weekday_slots()), at=t0)
    settings = smtp_settings.model_copy(update={"relay_concurrency": 1, "relay_poll_seconds": 0.05})
    redis = arq_redis
    await redis.zadd(redis.default_queue_name, {f"backlog-{n}": n for n in range(100)})  # the batch: 100
    ctx = {"relay": Relay(sessionmaker, settings), "redis": redis, "clock": at(t0), "settings": settings}

    async def claimed() -> int:
        """Rows leased by a claim: their next attempt moved past the clock's now (the invitation, the event)."""
        async with sessionmaker() as session:
            leased = select(func.count()).where(OutboxMessage.next_attempt_at > t0)
            return int(await session.scalar(leased) or 0)

    dispatcher = asyncio.create_task(worker.dispatch(ctx))
    try:
        await asyncio.sleep(0.5)
        assert await claimed() == 0  # nothing claimed while the queue is full
        await redis.zremrangebyrank(redis.default_queue_name, 0, 0)  # room for one job
        await eventually(claimed, "the claim once there is room")
        await asyncio.sleep(0.3)
        assert await claimed() == 1  # room for one job: one claim, and the queue is full again
        assert await redis.zcard(redis.default_queue_name) == 100
    finally:
        dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatcher


# --- 3. a permanent refusal ---------------------------------------------------------------------------


async def test_550_fails_at_once_and_shows_the_servers_answer(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
) -> None:
    mail_server.collector.replies = ["550 5.1.1 no such user"]
    with LiveServer(smtp_settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            booked = await client.post(
                "/api/v1/consultations", json=booking_body(world, berlin(next_weekday(2), 11)), headers=coach
            )
            assert booked.status_code == 201, booked.text
            consultation_id = booked.json()["id"]
            delivery: dict[str, Any] = {}

            async def failed() -> bool:
                shown = (await client.get(f"/api/v1/consultations/{consultation_id}", headers=coach)).json()
                [specialist] = [a for a in shown["attendees"] if a["kind"] == "specialist"]
                delivery.update(specialist["delivery"])
                return bool(delivery["status"] != "pending")

            await eventually(failed, "the refusal")
            assert delivery["status"] == "failed"
            assert delivery["attempts"] == 1
            assert delivery["error"] == "550 5.1.1 no such user"
            assert delivery["sent_at"] is None
            # Never tried again: not by the server's relay, nor by a relay a day later.
            await asyncio.sleep(0.5)
            relay = Relay(sessionmaker, smtp_settings)
            assert await deliver_batch(relay, at(now() + timedelta(hours=25)), limit=10) == []
    [row] = await outbox(sessionmaker, uuid.UUID(consultation_id))
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.failed, 1, "550 5.1.1 no such user")
    assert mail_server.collector.refused == ["550 5.1.1 no such user"]
    assert mail_server.messages == []


# --- 4. a worker killed mid-way -----------------------------------------------------------------------


class SlowCollector(Collector):
    """Takes a moment per message, as a real server does, so a kill lands while messages are on the wire."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.05)
        return await super().handle_DATA(server, session, envelope)


def start_worker(settings: Settings, redis_url: str, mail_port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TELECON_DATABASE_URL": settings.database_url,
        "TELECON_REDIS_URL": redis_url,
        "TELECON_PUBLIC_URL": settings.public_url,
        "TELECON_SMTP_HOST": "127.0.0.1",
        "TELECON_SMTP_PORT": str(mail_port),
        "TELECON_SMTP_TLS": "none",
        "TELECON_SMTP_TIMEOUT_SECONDS": "2",
        "TELECON_OUTBOX_LEASE_SECONDS": "3",
        "TELECON_RELAY_CONCURRENCY": "8",
        "TELECON_RELAY_POLL_SECONDS": "0.1",
    }
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "telecon", "worker"], env=env, stdout=output, stderr=subprocess.STDOUT
        )


@pytest.mark.parametrize("database_url", BACKENDS[-1:], indirect=True)  # PostgreSQL when there is one
async def test_sigkilled_worker_loses_nothing_and_sends_at_most_twice(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    arq_redis: ArqRedis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    await consent_to_email(sessionmaker, world)
    policy = policy_of(settings, reminder_leads=())
    slots = weekday_slots()
    for _ in range(100):
        await book(sessionmaker, world, policy, next(slots), at=now())
    # A worker process runs on the machine's clock, not the test day's: the invitations are due by it.
    async with sessionmaker() as session, session.begin():
        await session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    rows = await outbox(sessionmaker)
    assert len(rows) == 200
    assert {r.topic for r in rows} == {Topic.invitation}

    mail_server = MailServer(free_port())
    mail_server.collector = SlowCollector()
    mail_server.start()
    log = tmp_path / "worker.log"
    first = start_worker(settings, redis_url, mail_server.port, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        await eventually(lambda: _at_least(mail_server, 40), "the first worker's first 40 messages")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        arrived_before = len(mail_server.messages)
        assert arrived_before < 200, "the kill came too late to test anything"

        second = start_worker(settings, redis_url, mail_server.port, log)
        started = time.monotonic()

        async def all_sent() -> bool:
            async with sessionmaker() as session:
                pending = await session.scalar(select(func.count()).where(OutboxMessage.status != OutboxStatus.sent))
            return pending == 0

        # Within the lease and a few polls, not arq's in-progress timeout of a killed job (310 s).
        await eventually(all_sent, "every row sent", within=40)
        print(f"recovered in {time.monotonic() - started:.1f} s; {arrived_before} before the kill")
        await asyncio.sleep(0.5)  # nothing more may arrive
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)
        mail_server.stop()

    counts = collections.Counter(message_ids(mail_server))
    assert set(counts) == {expected_id(r) for r in rows}, log.read_text()
    assert max(counts.values()) <= 2, counts.most_common(3)
    # Every copy beyond the first carries its row's Message-ID: a duplicate is recognisable as one.
    assert len(mail_server.messages) == 200 + sum(1 for c in counts.values() if c == 2)
    print(f"{len(mail_server.messages) - 200} duplicates")


async def _at_least(mail_server: MailServer, n: int) -> bool:
    return len(mail_server.messages) >= n


# --- 5. Redis away while booking ----------------------------------------------------------------------


class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, without persistence; not running until started."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1"]
        self.process = subprocess.Popen(
            [*command, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    connection.sendall(b"PING\r\n")
                    if connection.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.mark.skipif(not Path("/usr/bin/redis-server").exists(), reason="needs /usr/bin/redis-server")
async def test_redis_down_while_booking_then_a_worker_sends(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
) -> None:
    redis = PrivateRedis()
    with_redis = smtp_settings.model_copy(update={"redis_url": redis.url})
    with LiveServer(with_redis) as server:  # Redis configured: the web process runs no relay of its own
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            booked = await client.post(
                "/api/v1/consultations", json=booking_body(world, berlin(next_weekday(3), 9)), headers=coach
            )
            assert booked.status_code == 201, booked.text
            assert (await client.get("/ready")).status_code == 503
    consultation_id = uuid.UUID(booked.json()["id"])
    [row] = await outbox(sessionmaker, consultation_id)
    assert (row.topic, row.status, row.attempts) == (Topic.invitation, OutboxStatus.pending, 0)
    assert mail_server.messages == []

    try:
        redis.start()
        options = worker_settings(with_redis, clock, sessionmaker=sessionmaker)
        worker = Worker(**options, handle_signals=False)
        running = asyncio.create_task(worker.async_run())
        try:
            await eventually(lambda: _at_least(mail_server, 1), "the invitation", within=20)

            async def recorded() -> bool:  # the server's accept comes a moment before the row says so
                return all(row.status is OutboxStatus.sent for row in await outbox(sessionmaker, consultation_id))

            await eventually(recorded, "the row marked sent", within=10)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            # A job still running when the worker was cancelled ends cancelled too, and close() awaits it (seen
            # in CI on a loaded machine): that is the teardown, not the test's outcome.
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()
    finally:
        redis.stop()
    [row] = await outbox(sessionmaker, consultation_id)
    assert (row.status, row.attempts) == (OutboxStatus.sent, 1)
    assert message_ids(mail_server) == [expected_id(row)]


# --- 6. reminders across a change of summer time --------------------------------------------------------

ZONE_NAMES = {"spring": "Mitteleuropäische Sommerzeit", "autumn": "Mitteleuropäische Normalzeit"}
"""What the reader sees after each change (CLDR's German names), written out here rather than computed."""


def wall_clock(instant: datetime) -> datetime:
    return instant.astimezone(BERLIN).replace(tzinfo=None)


def reminders(rows: Sequence[OutboxMessage]) -> list[OutboxMessage]:
    return sorted((r for r in rows if r.topic == Topic.reminder), key=lambda r: r.next_attempt_at)


@pytest.mark.parametrize("change", ["spring", "autumn"])
async def test_reminders_24_real_hours_before_across_a_dst_change(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
    change: str,
) -> None:
    spring, autumn = next_dst_changes(BERLIN)
    day = spring if change == "spring" else autumn  # a Sunday: the physician works 10 to 12 that day only
    async with sessionmaker() as session, session.begin():
        session.add(
            AvailabilityOverride(
                specialist_id=world.specialist_id,
                starts_at=berlin_time(day, 10),
                ends_at=berlin_time(day, 12),
                kind=OverrideKind.extra,
            )
        )
    await consent_to_email(sessionmaker, world)
    policy = policy_of(smtp_settings)
    relay = Relay(sessionmaker, smtp_settings)
    # In UTC: Python subtracts a timedelta from a Berlin time on the wall clock, not in real hours.
    start = berlin_time(day, 10).astimezone(UTC)
    t0 = start - timedelta(days=3)

    consultation = await book(sessionmaker, world, policy, start, at=t0)
    rows = await outbox(sessionmaker, consultation)
    day_before, hour_before = reminders(rows)
    assert day_before.next_attempt_at == start - timedelta(hours=24)
    assert hour_before.next_attempt_at == start - timedelta(hours=1)
    assert (day_before.payload, hour_before.payload) == ({"lead_minutes": 1440}, {"lead_minutes": 60})
    # 24 real hours: 25 on the clock on the wall when summer time begins in between, 23 when it ends.
    wall_hours = {"spring": 25, "autumn": 23}[change]
    assert wall_clock(start) - wall_clock(day_before.next_attempt_at) == timedelta(hours=wall_hours)
    assert wall_clock(start) - wall_clock(hour_before.next_attempt_at) == timedelta(hours=1)

    assert sorted(o.status for o in await deliver_batch(relay, at(t0), limit=50)) == ["sent", "sent"]
    second = timedelta(seconds=1)
    assert await deliver_batch(relay, at(day_before.next_attempt_at - second), limit=50) == []
    assert await deliver_batch(relay, at(day_before.next_attempt_at + second), limit=50) == [Outcome("sent")]
    assert message_ids(mail_server)[-1] == expected_id(day_before)
    text = parts(mail_server.messages[-1])["text/plain"].get_content()
    assert "10:00" in text, text
    assert ZONE_NAMES[change] in text, text
    assert await deliver_batch(relay, at(hour_before.next_attempt_at - second), limit=50) == []
    assert await deliver_batch(relay, at(hour_before.next_attempt_at + second), limit=50) == [Outcome("sent")]
    assert message_ids(mail_server)[-1] == expected_id(hour_before)
    assert len(mail_server.messages) == 4
    assert statuses(await outbox(sessionmaker, consultation)) == [
        ("email.invitation", "sent", 1),
        ("email.invitation", "sent", 1),
        ("email.reminder", "sent", 1),
        ("email.reminder", "sent", 1),
    ]

    # A reschedule voids the reminders and writes new ones for the new time; a cancel voids those.
    actor = Actor(await coach_id(sessionmaker, world), world.organization_id, Role.coach)
    moved = await book(sessionmaker, world, policy, berlin_time(day, 11), at=t0)
    old = reminders(await outbox(sessionmaker, moved))
    new_start = berlin_time(day, 11, 30).astimezone(UTC)
    async with sessionmaker() as session, session.begin():
        await reschedule_consultation(session, actor, policy, moved, starts_at=new_start, now=t0)
    rows = await outbox(sessionmaker, moved)
    by_id = {r.id: r for r in rows}
    assert [(by_id[r.id].status, by_id[r.id].last_error) for r in old] == [
        (OutboxStatus.void, "consultation rescheduled")
    ] * 2
    fresh = [r for r in reminders(rows) if r.status is OutboxStatus.pending]
    assert [(r.next_attempt_at, r.sequence) for r in fresh] == [
        (new_start - timedelta(hours=24), 1),
        (new_start - timedelta(hours=1), 1),
    ]
    async with sessionmaker() as session, session.begin():
        await cancel_consultation(session, actor, moved, reason=None, now=t0)
    assert [r.status for r in reminders(await outbox(sessionmaker, moved))] == [OutboxStatus.void] * 4
    before = len(mail_server.messages)
    outcomes = await deliver_batch(relay, at(new_start + timedelta(hours=2)), limit=50)
    assert sorted(o.status for o in outcomes) == ["sent", "sent"]  # the two cancellations, nothing else
    rows = await outbox(sessionmaker, moved)
    cancellations = {expected_id(r) for r in rows if r.topic == Topic.cancelled}
    assert sorted(message_ids(mail_server)[before:]) == sorted(cancellations)
    assert statuses(rows) == sorted(
        [("email.invitation", "void", 0)] * 2
        + [("email.rescheduled", "void", 0)] * 2
        + [("email.cancelled", "sent", 1)] * 2
        + [("email.reminder", "void", 0)] * 4
    )

    # Booked less than 24 h ahead: only the reminder an hour before.
    late = berlin_time(day, 10, 30).astimezone(UTC)
    soon = await book(sessionmaker, world, policy, late, at=late - timedelta(hours=10))
    [only] = reminders(await outbox(sessionmaker, soon))
    assert (only.next_attempt_at, only.payload) == (late - timedelta(hours=1), {"lead_minutes": 60})


# --- 7. two relays at once ----------------------------------------------------------------------------


async def test_two_relays_over_the_same_rows_send_each_once(
    smtp_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    mail_server: MailServer,
) -> None:
    await consent_to_email(sessionmaker, world)
    policy = policy_of(smtp_settings, reminder_leads=())
    slots = weekday_slots()
    for _ in range(25):
        await book(sessionmaker, world, policy, next(slots), at=now())
    rows = await outbox(sessionmaker)
    assert len(rows) == 50
    later = now() + timedelta(seconds=1)

    async def relay_until_nothing_due() -> list[Outcome]:
        engine = make_engine(smtp_settings.database_url)
        relay = Relay(make_sessionmaker(engine), smtp_settings)
        done: list[Outcome] = []
        try:
            while batch := await deliver_batch(relay, at(later), limit=5):
                done += batch
        finally:
            await engine.dispose()
        return done

    first, second = await asyncio.gather(relay_until_nothing_due(), relay_until_nothing_due())
    print(f"relay a sent {len(first)}, relay b {len(second)}")
    assert [o.status for o in first + second] == ["sent"] * 50
    assert statuses(await outbox(sessionmaker)) == [("email.invitation", "sent", 1)] * 50
    counts = collections.Counter(message_ids(mail_server))
    assert counts == collections.Counter({expected_id(r): 1 for r in rows})
