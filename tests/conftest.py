"""Fixtures: real databases (SQLite always, PostgreSQL when configured), a real HTTP server, real Redis.

The suite runs as of one day, ``TELECON_TEST_TODAY=YYYY-MM-DD`` (default: today in UTC), shown in its header:
every app, worker and service a test builds reads the session's clock, which starts at 06:00 UTC that day and
advances with real time. Tests take "now" from ``now()`` and dates from ``next_weekday()``, never from the
machine, so the suite passes on any date, and ``-m dates`` runs the tests whose answers depend on it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as time_of_day
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
import uvicorn
from argon2 import PasswordHasher
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon import migrate
from telecon.app import create_app
from telecon.clock import Clock
from telecon.db import make_engine, make_sessionmaker
from telecon.models import Base
from telecon.passwords import hash_password
from telecon.settings import Settings
from tests.mailserver import MailServer


def _per_worker(postgres_url: str | None, redis_url: str | None) -> tuple[str | None, str | None]:
    """The PostgreSQL database and Redis db of this pytest-xdist worker (``make test`` runs ``-n auto``).

    Workers run side by side, and each empties its database and flushes its Redis db between tests, so none may
    share them: worker ``gwN`` uses the database ``<name>_gwN`` (created when missing) and the Redis db
    ``<db> - N``, counting down so that CI's db 15 stays the top one: 15 for gw0, 14 for gw1.
    A run without xdist (``pytest`` alone) uses both URLs as given.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ... set by xdist in each worker
    if not worker:
        return postgres_url, redis_url
    index = int(worker.removeprefix("gw"))
    if postgres_url:
        url = make_url(postgres_url)
        postgres_url = url.set(database=f"{url.database}_{worker}").render_as_string(hide_password=False)
    if redis_url:
        parts = urlsplit(redis_url)
        number = int(parts.path.strip("/") or 0) - index
        if number < 0:
            raise pytest.UsageError(f"TELECON_TEST_REDIS_URL={redis_url}: no Redis db left for worker {worker}")
        redis_url = urlunsplit(parts._replace(path=f"/{number}"))
    return postgres_url, redis_url


POSTGRES_URL, REDIS_URL = _per_worker(
    os.environ.get("TELECON_TEST_DATABASE_URL"), os.environ.get("TELECON_TEST_REDIS_URL")
)
TEST_PASSWORD = "correct horse battery staple"
# The seeded staff's hash: argon2id as the service stores it, but at the lowest cost. verify() takes the cost
# from the hash, so each of the suite's many logins takes microseconds instead of tens of milliseconds of CPU
# at RFC 9106's 64 MiB (test_access.py and test_ui_sessions.py took 33 s of CPU with the full cost, 21 s with
# this). Passwords the tests set through the API get the service's own full-cost hash, and unknown emails
# still verify its dummy hash.
TEST_PASSWORD_HASH = hash_password(TEST_PASSWORD, PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])


# --- the day the suite runs as ------------------------------------------------------------------------


def _test_day() -> date:
    value = os.environ.get("TELECON_TEST_TODAY", "").strip()
    if not value:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"TELECON_TEST_TODAY={value!r} is not a date like 2027-07-14") from None


TEST_DAY = _test_day()
SESSION_START = datetime.combine(TEST_DAY, time_of_day(6), tzinfo=UTC)
TEST_DAY_LINE = f"telecon test day: {TEST_DAY.isoformat()} (TELECON_TEST_TODAY; the clock starts at 06:00 UTC)"


class SessionClock:
    """Starts at ``start`` and advances with real time, so durations (token lifetimes, throttle windows) stay real."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._started)


clock: Clock = SessionClock(SESSION_START)


class MovableClock:
    """The test day's clock, moved forward (or back) on demand: an app on it can be taken past a consultation."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return now() + self.offset

    def move_to(self, instant: datetime) -> None:
        self.offset = instant - now()


def now() -> datetime:
    """The test session's now: what every app and service built by the fixtures believes it is."""
    return clock()


def pytest_report_header(config: pytest.Config) -> str:
    return TEST_DAY_LINE


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.verbosity < 0:  # -q hides the header; a failure on another day must say which
        terminalreporter.write_line(TEST_DAY_LINE)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dates: the answer depends on the test day (run again with TELECON_TEST_TODAY=... -m dates)"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- databases ---------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per test session; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "telecon.db"

    async def build() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return path


async def _create_database_if_missing(postgres_url: str) -> None:
    """An xdist worker's own database (``<name>_gwN``) exists after the first run on a server; create it then."""
    url = make_url(postgres_url)
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database="postgres"
    )
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database):
            await admin.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_schema() -> str:
    assert POSTGRES_URL is not None

    async def build() -> None:
        await _create_database_if_missing(POSTGRES_URL)
        engine = make_engine(POSTGRES_URL)
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await migrate.upgrade(engine)
        await engine.dispose()

    asyncio.run(build())
    return POSTGRES_URL


def _truncate_postgres(url: str) -> None:
    async def truncate() -> None:
        engine = make_engine(url)
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    asyncio.run(truncate())


def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database of the backend ``request.param`` names, emptied again afterwards."""
    if request.param == "sqlite":
        target = tmp_path / "telecon.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite+aiosqlite:///{target}"
    else:
        url = request.getfixturevalue("postgres_schema")
        yield url
        _truncate_postgres(url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=None,
        mail_dir=tmp_path / "mail",
        public_url="http://telecon.test",
        min_notice_minutes=120,
    )


@pytest.fixture
async def sessionmaker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(settings.database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


# --- a real HTTP server --------------------------------------------------------------------------------


class LiveServer:
    """uvicorn serving ``create_app(settings)`` on a loopback port, in a thread with its own event loop.

    The app runs on ``app_clock`` (the test day's by default); as in ``telecon serve``, uvicorn's own
    ``X-Forwarded-For`` handling is off. ``config_options`` override uvicorn's options (e.g. ``log_level``).
    """

    def __init__(self, settings: Settings, app_clock: Clock = clock, **config_options: Any) -> None:
        # Bound here and handed to uvicorn, never released in between: with tests running in parallel (xdist),
        # a port that free_port() found free could be taken by another process before uvicorn bound it.
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = int(self.socket.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        options: dict[str, Any] = {"log_level": "warning", "loop": "asyncio", "proxy_headers": False}
        config = uvicorn.Config(
            create_app(settings, clock=app_clock), host="127.0.0.1", port=self.port, **{**options, **config_options}
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.socket.close()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
async def client(live_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=live_server.url, timeout=60, limits=limits) as http:
        yield http


# --- a seeded organization ----------------------------------------------------------------------------


def next_weekday(weekday: int, *, weeks_ahead: int = 1) -> date:
    """A date on ``weekday`` at least ``weeks_ahead`` weeks after the test day, far beyond the minimum notice."""
    return TEST_DAY + timedelta(days=(weekday - TEST_DAY.weekday()) % 7 + 7 * weeks_ahead)


@dataclass
class World:
    """One organization with staff, a participant who consented, a type and a specialist's week."""

    organization_id: uuid.UUID
    admin: str
    coach: str
    specialist_id: uuid.UUID
    specialist: str
    psychologist_id: uuid.UUID
    participant_id: uuid.UUID
    type_id: uuid.UUID
    other: dict[str, Any] = field(default_factory=dict)


async def seed_world(
    sessionmaker: async_sessionmaker[AsyncSession], name: str = "Jobcenter Test", prefix: str = ""
) -> World:
    from telecon.access import Role
    from telecon.organizations import services as organizations
    from telecon.organizations.models import Profession
    from telecon.participants.models import Consent, ConsentKind, Participant
    from telecon.scheduling.models import AvailabilityRule, ConsultationType

    async with sessionmaker() as session, session.begin():
        org = await organizations.get_or_create_organization(session, name)

        async def user(email: str, role: Role, profession: Profession | None = None) -> uuid.UUID:
            created = await organizations.create_user(
                session,
                organization_id=org.id,
                email=email,
                role=role,
                display_name=email.split("@")[0],
                password_hash=TEST_PASSWORD_HASH,
                profession=profession,
            )
            return created.id

        await user(f"{prefix}admin@test.invalid", Role.admin)
        coach_id = await user(f"{prefix}coach@test.invalid", Role.coach)
        specialist_id = await user(f"{prefix}doctor@test.invalid", Role.specialist, Profession.physician)
        psychologist_id = await user(f"{prefix}psych@test.invalid", Role.specialist, Profession.psychologist)
        for specialist in (specialist_id, psychologist_id):
            session.add_all(
                AvailabilityRule(
                    specialist_id=specialist, weekday=d, start_time=time_of_day(9), end_time=time_of_day(12)
                )
                for d in range(5)
            )
        participant = Participant(
            organization_id=org.id, display_name="Maria Muster", email="maria@test.invalid", coach_id=coach_id
        )
        session.add(participant)
        await session.flush()
        session.add(
            Consent(
                organization_id=org.id,
                participant_id=participant.id,
                kind=ConsentKind.video_consultation,
                granted=True,
                recorded_by_id=coach_id,
            )
        )
        consultation_type = ConsultationType(
            organization_id=org.id, name="Erstgespräch", duration_minutes=30, buffer_minutes=0, professions=[]
        )
        session.add(consultation_type)
        await session.flush()
        return World(
            organization_id=org.id,
            admin=f"{prefix}admin@test.invalid",
            coach=f"{prefix}coach@test.invalid",
            specialist_id=specialist_id,
            specialist=f"{prefix}doctor@test.invalid",
            psychologist_id=psychologist_id,
            participant_id=participant.id,
            type_id=consultation_type.id,
        )


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    return await seed_world(sessionmaker)


def booking_body(world: World, start: str, **extra: Any) -> dict[str, Any]:
    """The body of ``POST /api/v1/consultations`` for the world's participant, physician and type."""
    return {
        "participant_id": str(world.participant_id),
        "specialist_id": str(world.specialist_id),
        "consultation_type_id": str(world.type_id),
        "start": start,
        **extra,
    }


async def login(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


BERLIN = ZoneInfo("Europe/Berlin")


def berlin(day: date, hour: int, minute: int = 0) -> str:
    return berlin_time(day, hour, minute).isoformat()


def berlin_time(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN)


def next_dst_changes(zone: ZoneInfo) -> tuple[date, date]:
    """The days of the next change to summer time and back, both at least two days after the test day.

    Two days: a search from the Saturday before a change must lie beyond the minimum notice.
    """

    def offset(day: date) -> timedelta:
        at_noon = datetime.combine(day, time_of_day(12), tzinfo=zone).utcoffset()
        assert at_noon is not None
        return at_noon

    spring: date | None = None
    autumn: date | None = None
    day = TEST_DAY + timedelta(days=2)
    while spring is None or autumn is None:
        before, after = offset(day - timedelta(days=1)), offset(day)
        if after > before and spring is None:
            spring = day
        elif after < before and autumn is None:
            autumn = day
        day += timedelta(days=1)
        assert day < TEST_DAY + timedelta(days=800), f"{zone} has no summer time"
    return spring, autumn


def utc_text(instant: datetime) -> str:
    """An instant as the API writes it: UTC, whole seconds, ``Z``."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    if field is not None:
        fields = {body.get("field")} | {e.get("field") for e in body.get("errors", [])}
        assert field in fields, body
    return body


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        pytest.skip("TELECON_TEST_REDIS_URL is not set (.ci/run sets it)")
    return REDIS_URL


# --- a real mail server --------------------------------------------------------------------------------


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_settings(settings: Settings, mail_server: MailServer) -> Settings:
    """The test settings with mail going to ``mail_server`` (plain SMTP on loopback, short timeouts)."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mail_server.port,
            "smtp_tls": "none",
            "smtp_timeout_seconds": 5,
            "mail_from": "Jobcenter Test telecon <telecon@jobcenter.test>",
            "relay_poll_seconds": 0.05,
        }
    )


@pytest.fixture
async def smtp_client(smtp_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a live server whose in-process relay sends to ``mail_server``."""
    with LiveServer(smtp_settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield http
