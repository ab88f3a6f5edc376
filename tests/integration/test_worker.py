"""Background jobs: the same job in the arq worker (real Redis) and in-process."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
import uuid
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.auth.models import FailedAttempt
from telecon.settings import Settings
from telecon.worker import run_housekeeping, worker_settings
from tests.conftest import LiveServer, World, clock, free_port, now


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose()


async def _failures(sessionmaker: async_sessionmaker[AsyncSession], at: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    """One attempt two days before ``at`` (login failures count for a day) and one at ``at``."""
    old = FailedAttempt(key="account:old", attempted_at=at - timedelta(days=2))
    fresh = FailedAttempt(key="account:fresh", attempted_at=at)
    async with sessionmaker() as session, session.begin():
        session.add_all([old, fresh])
    return old.id, fresh.id


async def _remaining(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(FailedAttempt.key).order_by(FailedAttempt.key)))


@pytest.mark.dates
async def test_housekeeping_keeps_the_fresh_and_drops_the_expired(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _failures(sessionmaker, now())
    removed = await run_housekeeping(sessionmaker, settings, now=now())
    assert removed == {
        "failed_attempts": 1,
        "web_sessions": 0,
        "idempotency_keys": 0,
        "sent_messages": 0,
        "join_records": 0,
        "erased_participants": 0,
    }
    assert await _remaining(sessionmaker) == ["account:fresh"]


@pytest.mark.dates
async def test_arq_worker_runs_housekeeping_from_redis(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    await _failures(sessionmaker, now())
    job = await arq_redis.enqueue_job("housekeeping", _job_id="housekeeping:test")
    assert job is not None
    assert await arq_redis.enqueue_job("housekeeping", _job_id="housekeeping:test") is None  # deduplicated
    options = worker_settings(settings, clock)
    worker = Worker(
        functions=options["functions"],
        redis_pool=arq_redis,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        on_startup=options["on_startup"],
        on_shutdown=options["on_shutdown"],
        ctx={**options["ctx"], "sessionmaker": sessionmaker},
    )
    try:
        assert await worker.run_check() == 1
    finally:
        await worker.close()
    assert await job.result(timeout=5) == {
        "failed_attempts": 1,
        "web_sessions": 0,
        "idempotency_keys": 0,
        "sent_messages": 0,
        "join_records": 0,
        "erased_participants": 0,
    }
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(FailedAttempt)) == 1


async def test_telecon_worker_command_runs_the_jobs(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis_url: str
) -> None:
    """The real ``telecon worker`` process: its start-up housekeeping removes the expired attempt.

    A real process runs on the system clock, so the attempts are stamped by it and not by the test day's.
    """
    await _failures(sessionmaker, datetime.now(UTC))
    env = {**os.environ, "TELECON_DATABASE_URL": settings.database_url, "TELECON_REDIS_URL": redis_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telecon", "worker", env=env, stdout=PIPE, stderr=STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while await _remaining(sessionmaker) != ["account:fresh"]:
            assert process.returncode is None, "the worker exited early"
            assert time.monotonic() < deadline, "the worker did not run housekeeping"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # let the job report back before the worker is stopped
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, output.decode()
    assert "housekeeping" in output.decode()


async def test_ready_checks_the_database_and_redis(settings: Settings, redis_url: str) -> None:
    with LiveServer(settings.model_copy(update={"redis_url": redis_url})) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            assert (await client.get("/ready")).json() == {"status": "ready"}
    with LiveServer(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            down = await client.get("/ready")
    assert down.status_code == 503
    assert down.json()["detail"] == "Redis does not answer"


@pytest.mark.dates
async def test_housekeeping_purges_old_sent_mail_and_keeps_pending_and_failed(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], world: World
) -> None:
    from telecon.outbox.messages import message
    from telecon.outbox.models import OutboxMessage, OutboxStatus

    at = now()
    old = at - timedelta(days=settings.outbox_retention_days + 1)
    async with sessionmaker() as session, session.begin():
        for name, status, sent in [
            ("old sent", OutboxStatus.sent, old),
            ("old void", OutboxStatus.void, None),
            ("old failed", OutboxStatus.failed, None),
            ("old pending", OutboxStatus.pending, None),
            ("recent sent", OutboxStatus.sent, at - timedelta(days=1)),
        ]:
            row = message(organization_id=world.organization_id, topic="email.invitation", dedupe_key=name, now=old)
            row.status, row.sent_at = status, sent
            if name == "recent sent":
                row.created_at = at - timedelta(days=2)
            session.add(row)
    removed = await run_housekeeping(sessionmaker, settings, now=at)
    assert removed["sent_messages"] == 2
    async with sessionmaker() as session:
        kept = set(await session.scalars(select(OutboxMessage.dedupe_key)))
    assert kept == {"old failed", "old pending", "recent sent"}
