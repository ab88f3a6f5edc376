"""Database plumbing: declarative base, UTC timestamps, engines for SQLite and PostgreSQL."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Enum, MetaData, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import JSON, String, TypeDecorator, Uuid

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamptz`` that refuses naive values and always comes back in UTC (SQLite forgets zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise TypeError("naive datetime: every instant must carry its time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), uuid.UUID: Uuid(), dict[str, Any]: JSON(), list[str]: JSON()}


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)


def enum_column(enum_type: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum stored as a short string with a CHECK, so adding a value needs no type migration."""
    return Enum(enum_type, name=name, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])


# --- statements that save round trips -------------------------------------------------------------


class json_rows(FunctionElement[list[list[Any]]]):
    """Aggregate: the selected rows as a list of lists (a JSON array on the wire), ``[]`` when there are none.

    Lets one query carry a small list (a specialist's weekly rules, say) next to its other columns. Values
    arrive as JSON gives them: times as ISO strings, instants with an offset on PostgreSQL and as naive UTC
    text on SQLite (see ``parse_instant``).
    """

    type = JSON()
    inherit_cache = True


@compiles(json_rows, "postgresql")
def _json_rows_postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"coalesce(json_agg(json_build_array({compiler.process(element.clauses, **kw)})), '[]')"


@compiles(json_rows, "sqlite")
def _json_rows_sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


class folded(FunctionElement[str]):
    """A text in lower case for case-insensitive search, every letter folded (``Ö`` as ``ö``), on both databases.

    PostgreSQL's ``lower`` folds by the database's ctype; SQLite's folds ASCII only, so there it is Python's
    ``str.lower``, registered on each connection by ``make_engine``.
    """

    type = String()
    inherit_cache = True


@compiles(folded)
def _folded(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(folded, "sqlite")
def _folded_sqlite(element: folded, compiler: SQLCompiler, **kw: Any) -> str:
    return f"telecon_lower({compiler.process(element.clauses, **kw)})"


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def parse_instant(text: str) -> datetime:
    """An instant from ``json_rows``: PostgreSQL writes its offset, SQLite stores UTC without one."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, *, pool_size: int = 40, **kwargs: Any) -> AsyncEngine:
    """Create an engine; on SQLite every transaction is ``BEGIN IMMEDIATE`` so writers serialise."""
    # Statement parameters carry names and health data: they must never reach an error message or a log.
    kwargs.setdefault("hide_parameters", True)
    if not url.startswith("sqlite"):
        # A fixed pool, no overflow: a connection opened for a burst and closed after it costs PostgreSQL a
        # process and us a cold statement cache, and under load that churn was the slowest 1 % of bookings
        # (bench/: p99 115 ms with 20 + 10 overflow, 90 ms with 32 fixed, at 32 concurrent bookings).
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", 0)
        # No pre-ping (a round trip per request); connections are recycled before servers drop them.
        kwargs.setdefault("pool_recycle", 1800)
        return create_async_engine(url, **kwargs)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver, so that the "begin" hook below decides.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Erased and deleted values are overwritten with zeros, not left in the file's free space.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()
        dbapi_connection.create_function("telecon_lower", 1, _lower, deterministic=True)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a booking's overlap check and insert cannot interleave
        # with another's, and a read-then-write transaction never dies with "database is locked".
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def end_reads(session: AsyncSession) -> None:
    """End a request's transaction after its last read and give the connection back to the pool.

    For a handler with CPU work after its last query (the slot search, ``SlotSearch``): the connection would
    wait idle through that work while other requests queue for it, and on SQLite every transaction holds the
    write lock (``BEGIN IMMEDIATE``). The session stays usable: a later query begins a new transaction. Only for
    a request that has written nothing: this commits, and a later error could no longer undo a write.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("end_reads after a change: the request must commit or roll back its writes itself")
    await session.commit()
