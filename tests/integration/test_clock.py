"""The app and the worker run on the clock they are given, not on the machine's: the suite can pick any day."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from arq import Worker, create_pool
from arq.connections import RedisSettings
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.auth.models import FailedAttempt
from telecon.settings import Settings
from telecon.worker import worker_settings
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    World,
    assert_problem,
    berlin,
    berlin_time,
    login,
    next_weekday,
    utc_text,
)
from tests.conftest import (
    booking_body as booking,
)

pytestmark = pytest.mark.dates


class StandingClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self) -> datetime:
        return self.instant

    def move(self, delta: timedelta) -> None:
        self.instant += delta


async def test_slots_bookings_and_join_windows_follow_the_apps_clock(settings: Settings, world: World) -> None:
    monday = next_weekday(0)
    clock = StandingClock(berlin_time(monday, 8, 30))  # with 120 minutes' notice: 10:30 is the first slot
    with LiveServer(settings, app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            coach = await login(client, world.coach)
            found = await client.get(
                "/api/v1/slots",
                params={
                    "specialist_id": str(world.specialist_id),
                    "consultation_type_id": str(world.type_id),
                    "start": berlin(monday, 0),
                    "end": berlin(monday, 23),
                },
                headers=coach,
            )
            assert found.status_code == 200, found.text
            assert [s["start"] for s in found.json()["slots"]] == [
                utc_text(berlin_time(monday, 10, 30)),
                utc_text(berlin_time(monday, 11)),
                utc_text(berlin_time(monday, 11, 30)),
            ]
            too_soon = await client.post(
                "/api/v1/consultations", json=booking(world, berlin(monday, 10)), headers=coach
            )
            assert_problem(too_soon, 422, "start")
            booked = await client.post(
                "/api/v1/consultations", json=booking(world, berlin(monday, 10, 30)), headers=coach
            )
            assert booked.status_code == 201, booked.text
            link = next(a["join_url"] for a in booked.json()["attendees"] if a["kind"] == "participant")
            token = link.rsplit("/", 1)[1]

            early = (await client.get(f"/api/v1/join/{token}")).json()
            assert (early["status"], early["jwt"]) == ("early", None)
            page = await client.get(f"/join/{token}")
            assert f'"now": "{clock().isoformat(timespec="milliseconds")}"' in page.text  # the countdown's clock

            clock.instant = berlin_time(monday, 10, 15)  # the window opens 15 minutes before the start
            opened = (await client.get(f"/api/v1/join/{token}")).json()
            assert opened["status"] == "open"
            claims = jwt.decode(opened["jwt"], options={"verify_signature": False})
            assert claims["nbf"] == int(clock().timestamp())
            assert claims["exp"] == int((berlin_time(monday, 11) + timedelta(minutes=30)).timestamp())

            clock.instant = berlin_time(monday, 11, 30)  # 30 minutes after the end
            assert (await client.get(f"/api/v1/join/{token}")).json()["status"] == "ended"


async def test_throttle_windows_run_on_the_apps_clock(settings: Settings, world: World) -> None:
    clock = StandingClock(datetime(2031, 1, 6, 6, tzinfo=UTC))
    strict = settings.model_copy(update={"join_max_misses_per_address": 2, "login_max_failures_per_account": 2})
    with LiveServer(strict, app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            for _ in range(2):
                assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 404)
                wrong = {"email": world.coach, "password": "wrong"}
                assert_problem(await client.post("/api/v1/auth/login", json=wrong), 401)
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 429)
            right = {"email": world.coach, "password": TEST_PASSWORD}
            assert_problem(await client.post("/api/v1/auth/login", json=right), 429)

            clock.move(timedelta(minutes=14))  # both windows are 15 minutes long
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 429)
            assert_problem(await client.post("/api/v1/auth/login", json=right), 429)

            clock.move(timedelta(minutes=2))
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 404)
            assert (await client.post("/api/v1/auth/login", json=right)).status_code == 200


async def _attempts_around(sessionmaker: async_sessionmaker[AsyncSession], instant: datetime) -> None:
    async with sessionmaker() as session, session.begin():
        session.add_all(
            [
                FailedAttempt(key="account:old", attempted_at=instant - timedelta(days=2)),  # failures count for a day
                FailedAttempt(key="account:fresh", attempted_at=instant),
            ]
        )


async def _remaining(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(FailedAttempt.key).order_by(FailedAttempt.key)))


async def test_the_in_process_jobs_run_on_the_apps_clock(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    instant = datetime(2031, 1, 6, 6, tzinfo=UTC)  # years from the machine's now, either way
    await _attempts_around(sessionmaker, instant)
    with LiveServer(settings, app_clock=lambda: instant):  # housekeeping runs once at start-up
        deadline = time.monotonic() + 30
        while await _remaining(sessionmaker) != ["account:fresh"]:
            assert time.monotonic() < deadline, await _remaining(sessionmaker)
            await asyncio.sleep(0.1)


async def test_the_arq_worker_runs_on_its_clock(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], redis_url: str
) -> None:
    instant = datetime(2031, 1, 6, 6, tzinfo=UTC)
    await _attempts_around(sessionmaker, instant)
    redis = await create_pool(RedisSettings.from_dsn(redis_url))
    await redis.flushdb()
    options = worker_settings(settings, lambda: instant)
    worker = Worker(
        functions=options["functions"],
        redis_pool=redis,
        burst=True,
        poll_delay=0,
        handle_signals=False,
        on_startup=options["on_startup"],
        ctx={**options["ctx"], "sessionmaker": sessionmaker},
    )
    try:
        assert await redis.enqueue_job("housekeeping", _job_id="housekeeping:clock")
        assert await worker.run_check() == 1
    finally:
        await worker.close()
        await redis.flushdb()
        await redis.aclose()
    assert await _remaining(sessionmaker) == ["account:fresh"]
