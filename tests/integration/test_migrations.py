"""Migrations run up, down and up again on both databases, and match the models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import String, Uuid, column, insert, inspect, table, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from telecon import migrate
from telecon.db import UTCDateTime, make_engine, make_sessionmaker
from telecon.models import Base
from telecon.scheduling.models import Consultation, ConsultationStatus
from tests.conftest import POSTGRES_URL, World, seed_world


async def _on_postgres_server(statement: str) -> None:
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    admin = await asyncpg.connect(
        host=url.host, port=url.port or 5432, user=url.username, password=url.password, database="postgres"
    )
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


@asynccontextmanager
async def _scratch_postgres() -> AsyncIterator[str]:
    """A database of its own, so that downgrading does not pull the schema from under other tests; dropped after."""
    assert POSTGRES_URL is not None
    url = make_url(POSTGRES_URL)
    name = f"{url.database}_migrations"
    await _on_postgres_server(f'DROP DATABASE IF EXISTS "{name}"')
    await _on_postgres_server(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        await _on_postgres_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
async def scratch_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    if request.param == "sqlite":
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'scratch.db'}")
        yield engine
        await engine.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("TELECON_TEST_DATABASE_URL is not set (.ci/run sets it)")
    async with _scratch_postgres() as url:
        engine = make_engine(url)
        yield engine
        await engine.dispose()


@pytest.fixture
async def postgres_engine() -> AsyncIterator[AsyncEngine]:
    """For the checks that only PostgreSQL has: the drift check (SQLite reflection loses types) and the
    exclusion constraint (SQLite serialises bookings instead)."""
    if not POSTGRES_URL:
        pytest.skip("TELECON_TEST_DATABASE_URL is not set (.ci/run sets it)")
    async with _scratch_postgres() as url:
        engine = make_engine(url)
        yield engine
        await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def test_upgrade_downgrade_upgrade(scratch_engine: AsyncEngine) -> None:
    await migrate.upgrade(scratch_engine)
    async with scratch_engine.connect() as connection:
        assert await connection.run_sync(_tables) == set(Base.metadata.tables)
    await migrate.downgrade(scratch_engine, "base")
    async with scratch_engine.connect() as connection:
        assert await connection.run_sync(_tables) == set()
    await migrate.upgrade(scratch_engine)
    async with scratch_engine.connect() as connection:
        assert await connection.run_sync(_tables) == set(Base.metadata.tables)


async def test_models_and_migrations_do_not_drift(postgres_engine: AsyncEngine) -> None:
    await migrate.upgrade(postgres_engine)

    def diff(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with postgres_engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_postgres_exclusion_constraint_refuses_overlap(postgres_engine: AsyncEngine) -> None:
    """Below the application: even rows written past the services cannot overlap on PostgreSQL."""
    await migrate.upgrade(postgres_engine)
    sessionmaker = make_sessionmaker(postgres_engine)
    world: World = await seed_world(sessionmaker)
    start = datetime(2030, 1, 7, 9, tzinfo=UTC)

    def consultation(starts_at: datetime, status: ConsultationStatus = ConsultationStatus.scheduled) -> Consultation:
        return Consultation(
            organization_id=world.organization_id,
            participant_id=world.participant_id,
            specialist_id=world.specialist_id,
            consultation_type_id=world.type_id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
            blocked_until=starts_at + timedelta(minutes=40),
            status=status,
            room_name=f"room-{uuid.uuid4().hex}",
        )

    async with sessionmaker() as session, session.begin():
        session.add(consultation(start))
    with pytest.raises(IntegrityError) as refused:
        async with sessionmaker() as session, session.begin():
            session.add(consultation(start + timedelta(minutes=35)))  # inside the first one's buffer
    assert "ex_consultation_specialist_overlap" in str(refused.value)
    async with sessionmaker() as session, session.begin():
        session.add(consultation(start + timedelta(minutes=40)))  # right after the buffer: fine
        session.add(consultation(start, ConsultationStatus.cancelled))  # cancelled rows do not count
    async with sessionmaker() as session:
        count = await session.scalar(text("SELECT count(*) FROM consultation"))
    assert count == 3


async def test_calendar_urls_written_before_0011_are_sealed_and_their_busy_times_kept(
    scratch_engine: AsyncEngine,
) -> None:
    """The URL is sealed under the environment's key (an unset TELECON_ENCRYPTION_KEY is the development one, as
    for the app here), only scheme and host stay readable, and the busy periods stay: on SQLite a table rebuild
    would have deleted them through ON DELETE CASCADE. Downgrading restores the URL."""
    from telecon.calendars.models import BusyPeriod, CalendarSource
    from telecon.calendars.services import url_associated
    from telecon.crypto import KeyRing
    from telecon.organizations.models import User
    from telecon.settings import Settings

    await migrate.upgrade(scratch_engine, "0010_calendar_sources")
    user_id, source_id = uuid.uuid4(), uuid.uuid4()
    url = "https://calendar.example/private-token-77/basic.ics"
    start = datetime(2027, 6, 7, 8, tzinfo=UTC)
    old_source = table(
        "calendar_source",
        column("id", Uuid()),
        column("specialist_id", Uuid()),
        column("kind", String()),
        column("url", String()),
        column("created_at", UTCDateTime()),
    )
    async with make_sessionmaker(scratch_engine)() as session, session.begin():
        session.add(User(id=user_id, email="doc@example.org", display_name="Dr. A", password_hash="x"))
        await session.flush()
        await session.execute(
            insert(old_source).values(id=source_id, specialist_id=user_id, kind="ics", url=url, created_at=start)
        )
        session.add(
            BusyPeriod(source_id=source_id, specialist_id=user_id, starts_at=start, ends_at=start + timedelta(hours=1))
        )

    await migrate.upgrade(scratch_engine)
    async with make_sessionmaker(scratch_engine)() as session:
        source = await session.get_one(CalendarSource, source_id)
        busy = await session.scalar(text("SELECT count(*) FROM busy_period"))
    assert source.shown_url == "https://calendar.example/…"
    assert b"private-token-77" not in source.url_ciphertext
    keys = KeyRing.from_settings(Settings())
    assert keys.decrypt(source.url_key_id, source.url_ciphertext, associated=url_associated(source_id)) == url
    assert busy == 1

    await migrate.downgrade(scratch_engine, "0010_calendar_sources")
    async with scratch_engine.connect() as connection:
        restored = (await connection.execute(text("SELECT url FROM calendar_source"))).scalar_one()
        busy = (await connection.execute(text("SELECT count(*) FROM busy_period"))).scalar_one()
    assert (restored, busy) == (url, 1)
