"""Graceful shutdown of the real processes: on SIGTERM, `telecon serve` finishes the requests it is answering
and `telecon worker` the deliveries it is sending, then both exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from arq import create_pool
from arq.connections import RedisSettings
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.outbox.models import OutboxMessage, OutboxStatus
from telecon.settings import Settings
from tests.conftest import LiveServer, berlin, booking_body, free_port, login, next_weekday, seed_world
from tests.mailserver import Collector, MailServer


async def _wait_until_up(url: str, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while True:
            assert process.returncode is None, "the server exited while starting"
            try:
                if (await client.get("/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.1)


async def test_serve_answers_a_request_in_flight_on_sigterm_and_exits_0(settings: Settings, tmp_path: Any) -> None:
    """A real slow path: on SQLite every transaction begins IMMEDIATE, so /ready waits while the test holds
    the write lock; SIGTERM comes while it waits, the lock is released 2 s later, and the answer still comes."""
    if not settings.is_sqlite:
        pytest.skip("the slow request is made by holding SQLite's write lock")
    database = make_url(settings.database_url).database
    assert database
    port = free_port()
    env = {
        **os.environ,
        "TELECON_DATABASE_URL": settings.database_url,
        "TELECON_MAIL_DIR": str(tmp_path / "mail"),
        "TELECON_SHUTDOWN_SECONDS": "20",
        "TELECON_LOG_FORMAT": "json",
    }
    env.pop("TELECON_REDIS_URL", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telecon", "serve", "--port", str(port), env=env, stdout=PIPE, stderr=STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    lock = sqlite3.connect(database, isolation_level=None, timeout=30)
    try:
        await _wait_until_up(url, process)
        lock.execute("BEGIN IMMEDIATE")  # every transaction of the server waits for this one now
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            in_flight = asyncio.create_task(client.get("/ready"))
            await asyncio.sleep(0.5)
            assert not in_flight.done()
            process.send_signal(signal.SIGTERM)
            await asyncio.sleep(2)
            assert not in_flight.done(), "the request ended before the lock was released"
            assert process.returncode is None, "the server did not wait for the request in flight"
            async with httpx.AsyncClient(base_url=url, timeout=2) as late:
                with pytest.raises(httpx.TransportError):  # no new connection is taken while stopping
                    await late.get("/health")
            released = time.monotonic()
            lock.execute("COMMIT")
            answer = await asyncio.wait_for(in_flight, timeout=30)
        assert time.monotonic() >= released
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "ready"}
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        lock.close()
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = output.decode()
    assert process.returncode == 0, log
    assert "Waiting for connections to close" in log
    assert "Application shutdown complete" in log


# --- the worker ---------------------------------------------------------------------------------------


class SlowCollector(Collector):
    """Answers DATA only after ``delay`` seconds; counts the DATA commands it has begun to answer."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.begun = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.begun += 1
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_mail_server() -> Iterator[MailServer]:
    server = MailServer(free_port())
    server.collector = SlowCollector(delay=3)
    server.start()
    yield server
    server.stop()


async def _rows(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, OutboxStatus]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(OutboxMessage.id, OutboxMessage.status).where(OutboxMessage.topic.like("email.%"))
        )
        return {str(i): s for i, s in rows}


async def test_worker_finishes_the_deliveries_it_is_sending_on_sigterm(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    slow_mail_server: MailServer,
    tmp_path: Any,
) -> None:
    """The mail server takes 3 s to accept each message; SIGTERM comes 1 s into the sends. The worker takes
    no new job, lets the sends finish (TELECON_SHUTDOWN_SECONDS=20 > 3 s), marks them sent and exits 0; a
    second worker sends whatever was still queued. Each message arrives exactly once."""
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    await pool.flushdb()
    world = await seed_world(sessionmaker)
    with LiveServer(settings.model_copy(update={"redis_url": redis_url})) as server:  # no in-process relay
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            booked = await client.post(
                "/api/v1/consultations",
                json=booking_body(world, berlin(next_weekday(1), 9), invite_coach=True),
                headers=coach,
            )
            assert booked.status_code == 201, booked.text
    # A worker process runs on the machine's clock, not the test day's (which starts at 06:00 UTC: hours ahead of
    # the machine's between midnight and six): the invitations are due by it.
    async with sessionmaker() as session, session.begin():
        await session.execute(update(OutboxMessage).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    rows = await _rows(sessionmaker)
    assert rows
    assert set(rows.values()) == {OutboxStatus.pending}

    env = {
        **os.environ,
        "TELECON_DATABASE_URL": settings.database_url,
        "TELECON_REDIS_URL": redis_url,
        "TELECON_SMTP_HOST": "127.0.0.1",
        "TELECON_SMTP_PORT": str(slow_mail_server.port),
        "TELECON_SMTP_TLS": "none",
        "TELECON_SMTP_TIMEOUT_SECONDS": "10",
        "TELECON_SHUTDOWN_SECONDS": "20",
        "TELECON_RELAY_POLL_SECONDS": "0.05",
        "TELECON_MAIL_FROM": "telecon <telecon@jobcenter.test>",
        "TELECON_LOG_FORMAT": "json",
    }
    collector = slow_mail_server.collector
    assert isinstance(collector, SlowCollector)

    async def run_worker(*, stop_when_sending: bool) -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "telecon", "worker", env=env, stdout=PIPE, stderr=STDOUT
        )
        try:
            deadline = time.monotonic() + 60
            if stop_when_sending:
                while collector.begun == 0:
                    assert process.returncode is None, "the worker exited early"
                    assert time.monotonic() < deadline, "the worker sent nothing"
                    await asyncio.sleep(0.05)
                await asyncio.sleep(1)  # mid-send: the server answers after 3 s
                assert len(slow_mail_server.messages) == 0
            else:
                while set((await _rows(sessionmaker)).values()) != {OutboxStatus.sent}:
                    assert time.monotonic() < deadline, "the second worker did not send the rest"
                    await asyncio.sleep(0.2)
            process.send_signal(signal.SIGTERM)
            output, _ = await asyncio.wait_for(process.communicate(), timeout=40)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.returncode == 0, output.decode()
        return output.decode()

    first = await run_worker(stop_when_sending=True)
    sending_at_sigterm = collector.begun
    after_first = await _rows(sessionmaker)
    sent_by_first = [i for i, s in after_first.items() if s is OutboxStatus.sent]
    # Every send under way at SIGTERM was finished and recorded, not cut off.
    assert len(slow_mail_server.messages) == sending_at_sigterm, first
    assert len(sent_by_first) == sending_at_sigterm, first
    assert set(after_first.values()) <= {OutboxStatus.sent, OutboxStatus.pending}
    assert "Setting allow_pick_jobs to `False`" in first

    if len(sent_by_first) < len(rows):
        await run_worker(stop_when_sending=False)
    delivered = [str(m["Message-ID"]) for m in slow_mail_server.messages]
    assert len(delivered) == len(rows) == len(set(delivered)), delivered  # each message exactly once
    assert set((await _rows(sessionmaker)).values()) == {OutboxStatus.sent}
    await pool.flushdb()
    await pool.aclose()
