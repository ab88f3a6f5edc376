"""Background work: the arq worker for production and the same jobs in-process for the embedded default.

The outbox relay (email, webhooks, reminders) joins these jobs with the notifications work; what runs now
is housekeeping: expired login throttles and idempotency keys past their replay window are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import cron
from arq.connections import RedisSettings
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.auth import services as auth
from telecon.auth import throttle
from telecon.clock import Clock, system_clock
from telecon.db import make_engine, make_sessionmaker
from telecon.scheduling.models import IdempotencyKey
from telecon.settings import Settings

log = logging.getLogger("telecon.worker")
IDEMPOTENCY_REPLAY_WINDOW = timedelta(hours=24)


async def run_housekeeping(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime
) -> dict[str, int]:
    async with sessionmaker() as session, session.begin():
        # Every throttle (login, join links) looks back a day at most.
        kept = max(auth.LoginPolicy.of(settings).longest_memory, timedelta(hours=1))
        failures = await throttle.purge(session, older_than=kept, now=now)
        keys = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_REPLAY_WINDOW)
        )
    removed = {"failed_attempts": failures, "idempotency_keys": int(keys.rowcount or 0)}  # type: ignore[attr-defined]
    log.info("housekeeping removed %s", removed)
    return removed


# --- arq ---------------------------------------------------------------------------------------------


async def housekeeping(ctx: dict[str, Any]) -> dict[str, int]:
    clock: Clock = ctx["clock"]
    return await run_housekeeping(ctx["sessionmaker"], ctx["settings"], now=clock())


async def startup(ctx: dict[str, Any]) -> None:
    settings = ctx.setdefault("settings", Settings())
    ctx.setdefault("clock", system_clock)
    if "sessionmaker" not in ctx:
        ctx["engine"] = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])


async def shutdown(ctx: dict[str, Any]) -> None:
    if engine := ctx.get("engine"):
        await engine.dispose()


def worker_settings(settings: Settings, clock: Clock = system_clock) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``; ``telecon worker`` and the tests build the worker from them.

    ``clock`` is the jobs' now; arq's cron schedule itself runs on the system clock.
    """
    return {
        "functions": [housekeeping],
        "cron_jobs": [cron(housekeeping, minute={0, 10, 20, 30, 40, 50}, second=17, run_at_startup=True)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        "timezone": UTC,
        "ctx": {"settings": settings, "clock": clock},
    }


# --- embedded ----------------------------------------------------------------------------------------


class InProcessJobs:
    """Runs the worker's periodic jobs inside the web process when no Redis is configured."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock = system_clock,
        interval: float = 600,
    ):
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                await run_housekeeping(self._sessionmaker, self._settings, now=self._clock())
            except Exception:
                log.exception("in-process housekeeping failed; trying again later")
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="telecon-in-process-jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
