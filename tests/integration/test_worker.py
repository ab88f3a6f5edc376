"""Background jobs: the same job in the arq worker (real Redis) and in-process."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from arq import Worker, create_pool
from arq.connections import ArqRedis, RedisSettings
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.auth.models import FailedAttempt
from telecon.settings import Settings
from telecon.worker import run_housekeeping, worker_settings


@pytest.fixture
async def arq_redis(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    await pool.flushdb()
    yield pool
    await pool.flushdb()
    await pool.aclose()


async def _failures(sessionmaker: async_sessionmaker[AsyncSession]) -> tuple[uuid.UUID, uuid.UUID]:
    old, fresh = FailedAttempt(key="account:old"), FailedAttempt(key="account:fresh")
    old.attempted_at = datetime.now(UTC) - timedelta(hours=2)
    async with sessionmaker() as session, session.begin():
        session.add_all([old, fresh])
    return old.id, fresh.id


async def _remaining(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(FailedAttempt.key).order_by(FailedAttempt.key)))


async def test_housekeeping_keeps_the_fresh_and_drops_the_expired(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _failures(sessionmaker)
    removed = await run_housekeeping(sessionmaker, settings)
    assert removed == {"failed_attempts": 1, "idempotency_keys": 0}
    assert await _remaining(sessionmaker) == ["account:fresh"]


async def test_arq_worker_runs_housekeeping_from_redis(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], arq_redis: ArqRedis
) -> None:
    await _failures(sessionmaker)
    job = await arq_redis.enqueue_job("housekeeping", _job_id="housekeeping:test")
    assert job is not None
    assert await arq_redis.enqueue_job("housekeeping", _job_id="housekeeping:test") is None  # deduplicated
    options = worker_settings(settings)
    worker = Worker(
        functions=options["functions"],
        redis_pool=arq_redis,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        on_startup=options["on_startup"],
        on_shutdown=options["on_shutdown"],
        ctx={"settings": settings, "sessionmaker": sessionmaker},
    )
    try:
        assert await worker.run_check() == 1
    finally:
        await worker.close()
    assert await job.result(timeout=5) == {"failed_attempts": 1, "idempotency_keys": 0}
    async with sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(FailedAttempt)) == 1
