"""Background work: the arq worker for production and the same jobs in-process for the embedded default.

Two kinds of work, each one function that both ways of running call:

- ``deliver_batch`` / ``deliver_message``: the outbox relay (``telecon.notifications.relay``). In-process,
  a loop claims due rows and delivers them concurrently. Under arq, a dispatcher task in each worker claims
  due rows and enqueues one ``deliver_message`` job per row and claim, the row's id and its lease as
  ``_job_id``; arq runs them, up to ``relay_concurrency`` at a time, polling Redis every 50 ms. A job sends
  only while its claim's lease still holds the row: when a worker is killed mid-job, arq runs that job again
  only after its own in-progress timeout (the longest job timeout + 10 s, minutes), but the row is claimed
  again as soon as its lease ends, under a new job id, and the old job, when it finally runs, does nothing.
  Retries and their backoff live on the row, not in Redis: a lost Redis loses no mail.
- ``waitlist``: every minute, holds past their time end and free slots go to waiting entries (``telecon.waitlist``).
- ``housekeeping``: expired login throttles and staff web sessions, idempotency keys past their replay window
  and sent mail past its retention are removed; join records (who opened a link, when) are forgotten 90 days after the
  consultation, and participants whose participation ended ``participant_retention_days`` ago are erased
  (``telecon.rights``).
- ``sync_calendars``: every ``calendar_sync_minutes``, the specialists' own calendars are read into busy
  periods (``telecon.calendars.services.sync_due``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from arq import cron
from arq.connections import ArqRedis, RedisSettings
from arq.worker import func
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.auth import services as auth
from telecon.auth import throttle
from telecon.calendars import services as calendars
from telecon.clock import Clock, system_clock
from telecon.crypto import KeyRing
from telecon.db import make_engine, make_sessionmaker
from telecon.logs import new_request_id, request_id
from telecon.notifications.relay import Outcome, Relay, purge_sent
from telecon.rights import services as rights
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.models import IdempotencyKey
from telecon.scheduling.services import SchedulingPolicy
from telecon.settings import Settings
from telecon.waitlist import services as waitlist

log = logging.getLogger("telecon.worker")
IDEMPOTENCY_REPLAY_WINDOW = timedelta(hours=24)
HOUSEKEEPING_INTERVAL = 600.0
WAITLIST_INTERVAL = 60.0
CALENDAR_POLL_SECONDS = 60.0
"""How often the in-process loop looks for calendars due (each is read every ``calendar_sync_minutes``)."""


async def run_waitlist(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime
) -> dict[str, int]:
    """One sweep of the waitlist: holds past their time end, entries past their latest day end, slots are offered."""
    links = JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)
    async with sessionmaker() as session, session.begin():
        done = await waitlist.sweep(session, SchedulingPolicy.of(settings, links), now=now)
    if any(done.values()):
        log.info("waitlist %s", done)
    return done


async def run_housekeeping(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, *, now: datetime
) -> dict[str, int]:
    async with sessionmaker() as session, session.begin():
        # Every throttle (login, join links) looks back a day at most.
        kept = max(auth.LoginPolicy.of(settings).longest_memory, timedelta(hours=1))
        failures = await throttle.purge(session, older_than=kept, now=now)
        web_sessions = await auth.purge_web_sessions(session, now=now)
        keys = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.created_at < now - IDEMPOTENCY_REPLAY_WINDOW)
        )
        mail = await purge_sent(session, now=now, retention=timedelta(days=settings.outbox_retention_days))
        join_records = await rights.forget_join_records(session, now=now)
        erased = await rights.erase_expired_participants(
            session, now=now, retention=timedelta(days=settings.participant_retention_days)
        )
    removed = {
        "failed_attempts": failures,
        "web_sessions": web_sessions,
        "idempotency_keys": int(keys.rowcount or 0),  # type: ignore[attr-defined]
        "sent_messages": mail,
        "join_records": join_records,
        "erased_participants": erased,
    }
    log.info("housekeeping removed %s", removed)
    return removed


async def deliver_batch(relay: Relay, clock: Clock, *, limit: int) -> list[Outcome]:
    """Claim up to ``limit`` due messages and deliver them concurrently: the in-process relay's step."""
    ids = await relay.claim(now=clock(), limit=limit)
    results = await asyncio.gather(*(relay.deliver(i, now=clock()) for i in ids), return_exceptions=True)
    outcomes = []
    for message_id, result in zip(ids, results, strict=True):
        if isinstance(result, BaseException):
            # A bug, not the mail server: the row stays leased and is tried again when the lease ends.
            log.error("outbox %s could not be delivered", message_id, exc_info=result)
            outcomes.append(Outcome("error", type(result).__name__))
        else:
            outcomes.append(result)
    return outcomes


# --- arq ---------------------------------------------------------------------------------------------


async def housekeeping(ctx: dict[str, Any]) -> dict[str, int]:
    clock: Clock = ctx["clock"]
    return await run_housekeeping(ctx["sessionmaker"], ctx["settings"], now=clock())


async def sync_calendars(ctx: dict[str, Any]) -> dict[str, int]:
    clock: Clock = ctx["clock"]
    settings: Settings = ctx["settings"]
    keys = ctx.get("key_ring") or KeyRing.from_settings(settings)
    every = timedelta(minutes=settings.calendar_sync_minutes)
    return await calendars.sync_due(
        ctx["sessionmaker"], keys, now=clock(), every=every, private_networks=settings.allowed_private_networks
    )


async def waitlist_sweep(ctx: dict[str, Any]) -> dict[str, int]:
    clock: Clock = ctx["clock"]
    return await run_waitlist(ctx["sessionmaker"], ctx["settings"], now=clock())


async def deliver_message(ctx: dict[str, Any], message_id: str, lease_until: str | None = None) -> str:
    clock: Clock = ctx["clock"]
    relay: Relay = ctx["relay"]
    lease = datetime.fromisoformat(lease_until) if lease_until else None
    outcome = await relay.deliver(uuid.UUID(message_id), now=clock(), lease_until=lease)
    return outcome.status


async def dispatch(ctx: dict[str, Any]) -> None:
    """Each worker's dispatcher: claim due rows, queue a job per row; at once again while there are more.

    It claims only while fewer than ``batch`` jobs wait in Redis. Unbounded, a backlog (a slow mail server, a
    starved machine) would keep jobs queued past their rows' leases: the rows would be claimed again under new
    job ids, the old jobs would find their lease gone and skip, and nothing would be sent (seen in CI).
    """
    relay: Relay = ctx["relay"]
    redis: ArqRedis = ctx["redis"]
    clock: Clock = ctx["clock"]
    settings: Settings = ctx["settings"]
    batch = max(settings.relay_concurrency * 4, 100)
    while True:
        room = 0
        try:
            room = batch - int(await redis.zcard(redis.default_queue_name))
            if room <= 0:
                await asyncio.sleep(settings.relay_poll_seconds)
                continue
            claimed_at = clock()
            ids = await relay.claim(now=claimed_at, limit=room)
            lease_until = (claimed_at + relay.lease).isoformat()
            for message_id in ids:
                # One job per claim, not per row: a dead worker's job (which arq holds back for minutes)
                # must not keep the row's next claim from being queued.
                job_id = f"{message_id}@{lease_until}"
                await redis.enqueue_job("deliver_message", str(message_id), lease_until, _job_id=job_id)
        except Exception:
            # The database or Redis is away: the claimed rows come back when their lease ends.
            log.exception("the relay's dispatcher failed; trying again shortly")
            ids = []
        if not ids or len(ids) < room:
            await asyncio.sleep(settings.relay_poll_seconds)


async def job_started(ctx: dict[str, Any]) -> None:
    """arq calls this in the job's own task before running it: from here on its log lines carry the job id."""
    request_id.set(str(ctx["job_id"]))


async def startup(ctx: dict[str, Any]) -> None:
    settings = ctx.setdefault("settings", Settings())
    ctx.setdefault("clock", system_clock)
    if "sessionmaker" not in ctx:
        ctx["engine"] = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        ctx["sessionmaker"] = make_sessionmaker(ctx["engine"])
    ctx.setdefault("relay", Relay(ctx["sessionmaker"], settings))
    ctx["dispatcher"] = asyncio.create_task(dispatch(ctx), name="telecon-relay-dispatcher")


async def shutdown(ctx: dict[str, Any]) -> None:
    if dispatcher := ctx.get("dispatcher"):
        dispatcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await dispatcher
    if engine := ctx.get("engine"):
        await engine.dispose()


JOB_TIMEOUT_MARGIN = 30


def worker_settings(settings: Settings, clock: Clock = system_clock, **ctx: Any) -> dict[str, Any]:
    """Keyword arguments for ``arq.Worker``; ``telecon worker`` and the tests build the worker from them.

    ``clock`` is the jobs' now; arq's cron schedule itself runs on the system clock. A delivery's timeout is
    the SMTP timeout and a margin; arq retries a job whose worker died once that has passed (its ``max_tries``
    is high: the row, not arq, counts real attempts).
    """
    return {
        "functions": [
            housekeeping,
            sync_calendars,
            waitlist_sweep,
            func(
                deliver_message,
                keep_result=0,  # the row holds the outcome; no result key, so a row can be queued again later
                timeout=settings.smtp_timeout_seconds + JOB_TIMEOUT_MARGIN,
                max_tries=1000,
            ),
        ],
        "cron_jobs": [
            cron(housekeeping, minute={0, 10, 20, 30, 40, 50}, second=17, run_at_startup=True),
            # Every minute, but each source only when ``calendar_sync_minutes`` have passed since its last read.
            cron(sync_calendars, second=29, run_at_startup=True, unique=True),
            cron(waitlist_sweep, second=41, run_at_startup=True),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "on_job_start": job_started,
        # On SIGTERM (or SIGINT) take no new job and let running ones finish for this long, then cancel them;
        # arq queues a cancelled job again, and its lease check keeps it from sending a row twice.
        "job_completion_wait": settings.shutdown_seconds,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url or "redis://127.0.0.1:6379/0"),
        "timezone": UTC,
        "max_jobs": settings.relay_concurrency,
        "poll_delay": 0.05,
        "ctx": {"settings": settings, "clock": clock, **ctx},
    }


# --- embedded ----------------------------------------------------------------------------------------


class InProcessJobs:
    """Runs the worker's jobs inside the web process when no Redis is configured: the relay, the waitlist's sweep,
    the calendar sync and housekeeping."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        clock: Clock = system_clock,
        *,
        relay: Relay | None = None,
    ):
        self._sessionmaker = sessionmaker
        self._settings = settings
        self._clock = clock
        self.relay = relay or Relay(sessionmaker, settings)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    async def _housekeeping(self) -> None:
        while not self._stopping.is_set():
            request_id.set(f"housekeeping-{new_request_id()}")  # as an arq job's lines carry its id
            try:
                await run_housekeeping(self._sessionmaker, self._settings, now=self._clock())
            except Exception:
                log.exception("in-process housekeeping failed; trying again later")
            await self._pause(HOUSEKEEPING_INTERVAL)

    async def _calendars(self) -> None:
        every = timedelta(minutes=self._settings.calendar_sync_minutes)
        keys = KeyRing.from_settings(self._settings)
        while not self._stopping.is_set():
            request_id.set(f"calendars-{new_request_id()}")
            try:
                await calendars.sync_due(
                    self._sessionmaker,
                    keys,
                    now=self._clock(),
                    every=every,
                    private_networks=self._settings.allowed_private_networks,
                )
            except Exception:
                log.exception("the in-process calendar sync failed; trying again later")
            await self._pause(CALENDAR_POLL_SECONDS)

    async def _waitlist(self) -> None:
        while not self._stopping.is_set():
            request_id.set(f"waitlist-{new_request_id()}")
            try:
                await run_waitlist(self._sessionmaker, self._settings, now=self._clock())
            except Exception:
                log.exception("the in-process waitlist sweep failed; trying again shortly")
            await self._pause(WAITLIST_INTERVAL)

    async def _relay(self) -> None:
        limit = self._settings.relay_concurrency
        while not self._stopping.is_set():
            request_id.set(f"relay-{new_request_id()}")
            try:
                delivered = await deliver_batch(self.relay, self._clock, limit=limit)
            except Exception:
                log.exception("the in-process relay failed; trying again shortly")
                delivered = []
            if len(delivered) < limit:
                await self._pause(self._settings.relay_poll_seconds)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._housekeeping(), name="telecon-housekeeping"),
            asyncio.create_task(self._waitlist(), name="telecon-waitlist"),
            asyncio.create_task(self._relay(), name="telecon-relay"),
            asyncio.create_task(self._calendars(), name="telecon-calendars"),
        ]

    async def stop(self, grace: float = 0) -> None:
        """Take no new work; let a batch being sent finish for up to ``grace`` seconds, then cancel.

        A send cut off here leaves its row leased, and the next relay sends it when the lease ends.
        """
        self._stopping.set()
        if grace > 0 and self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace)
            if pending:
                log.warning("stopping with %d background task(s) still busy after %s s", len(pending), grace)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
