"""Benchmark telecon's slot search and booking over real HTTP against PostgreSQL.

Run by hand, never by the test suite::

    .venv/bin/python bench/bench.py [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_bench]

It resets the benchmark database (never ``test``), migrates and seeds it, starts uvicorn (uvloop, httptools,
one worker) on a free loopback port, measures and stops the server again. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import importlib.metadata
import importlib.util
import math
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
import httpx
import msgspec
import uvloop
from sqlalchemy import String, func, insert, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from telecon import migrate
from telecon.access import Role
from telecon.db import Base, make_engine, make_sessionmaker
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession
from telecon.participants.models import Consent, ConsentKind, Participant
from telecon.passwords import hash_password
from telecon.scheduling.links import new_room_name
from telecon.scheduling.models import (
    Attendee,
    AttendeeKind,
    AvailabilityRule,
    Consultation,
    ConsultationStatus,
    ConsultationType,
    JitsiRole,
)

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_bench"
FORBIDDEN_DATABASES = {"test", "postgres", "template0", "template1"}
ZONE = ZoneInfo("Europe/Berlin")
PASSWORD = "bench password, not a secret"  # noqa: S105
PROFESSIONS = (
    Profession.physician,
    Profession.psychologist,
    Profession.psychotherapist,
    Profession.occupational_physician,
    Profession.social_worker,
)
DAY_OPENS_HOUR = 8
DAY_CLOSES_HOUR = 16
SLOT = timedelta(minutes=30)
SLOTS_PER_DAY = int((DAY_CLOSES_HOUR - DAY_OPENS_HOUR) * timedelta(hours=1) / SLOT)
SEARCH_TARGET_P95_MS = 50.0
BOOKING_TARGET_P99_MS = 100.0
DESIGN_BOOKING_RPS = 2460 / 2  # half the raw-asyncpg booking figure of DESIGN.md (concurrency 64, 2 cores)


# --- the grid ----------------------------------------------------------------------------------------


def grid_days(first: date, weeks: int) -> list[date]:
    """Mondays to Fridays in ``[first, first + weeks)``."""
    days = (first + timedelta(days=offset) for offset in range(7 * weeks))
    return [day for day in days if day.weekday() < 5]


def day_starts(day: date) -> list[datetime]:
    """The 30-minute grid from 08:00 to 15:30 Berlin time, as UTC (no DST change happens in office hours)."""
    opens = datetime(day.year, day.month, day.day, DAY_OPENS_HOUR, tzinfo=ZONE)
    return [(opens + k * SLOT).astimezone(UTC) for k in range(SLOTS_PER_DAY)]


def local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZONE)


# --- database ----------------------------------------------------------------------------------------


def asyncpg_params(url: URL) -> dict[str, Any]:
    return {
        "host": url.host or "127.0.0.1",
        "port": url.port or 5432,
        "user": url.username or "postgres",
        "password": url.password,
    }


async def create_database_if_missing(url: URL) -> bool:
    """Connect to the ``postgres`` database and CREATE DATABASE unless it exists; True when created."""
    connection = await asyncpg.connect(database="postgres", **asyncpg_params(url))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database)
        if exists:
            return False
        quoted = '"' + str(url.database).replace('"', '""') + '"'
        await connection.execute(f"CREATE DATABASE {quoted}")
        return True
    finally:
        await connection.close()


async def reset_and_migrate(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(engine)


def fill_required(model: type[Base], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every NOT NULL string column without a default a random value (tokens, nonces added later)."""
    table = Base.metadata.tables[model.__tablename__]
    missing = [
        column
        for column in table.columns
        if not column.nullable
        and column.default is None
        and column.server_default is None
        and not column.primary_key
        and rows
        and column.key not in rows[0]
    ]
    for column in missing:
        if not isinstance(column.type, String):
            raise SystemExit(f"the benchmark does not know how to fill {table.name}.{column.name}; update bench.py")
        size = max(1, min(32, (column.type.length or 64) // 2))
        for row in rows:
            row[column.key] = secrets.token_hex(size)
    return rows


def attendee_pair(
    consultation_id: uuid.UUID, participant_id: uuid.UUID, specialist_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The participant's and the specialist's attendee rows of a seeded consultation (random token hashes)."""
    return [
        {
            "consultation_id": consultation_id,
            "kind": kind,
            "user_id": user_id,
            "participant_id": attendee_participant,
            "name": kind.value,
            "language": "de",
            "jitsi_role": JitsiRole.moderator if kind is AttendeeKind.specialist else JitsiRole.participant,
            "token_hash": secrets.token_hex(32),
            "join_count": 0,
        }
        for kind, user_id, attendee_participant in (
            (AttendeeKind.participant, None, participant_id),
            (AttendeeKind.specialist, specialist_id, None),
        )
    ]


@dataclass
class World:
    organization_id: uuid.UUID
    coach_email: str
    type_id: uuid.UUID
    specialists: list[tuple[uuid.UUID, Profession]]
    participant_ids: list[uuid.UUID]
    first_day: date
    free_slots: list[tuple[uuid.UUID, datetime]]
    consultations: int
    attendees: int


async def seed(engine: AsyncEngine, args: argparse.Namespace, rng: random.Random) -> World:
    password_hash = hash_password(PASSWORD)  # once: argon2 is slow on purpose
    sessionmaker = make_sessionmaker(engine)
    specialists: list[tuple[uuid.UUID, Profession]] = []
    async with sessionmaker() as session, session.begin():
        org = await organizations.get_or_create_organization(session, "Bench Jobcenter")

        async def staff(email: str, role: Role, profession: Profession | None = None) -> uuid.UUID:
            user = await organizations.create_user(
                session,
                organization_id=org.id,
                email=email,
                role=role,
                display_name=email.split("@")[0],
                password_hash=password_hash,
                profession=profession,
            )
            return user.id

        await staff("admin@bench.invalid", Role.admin)
        coach_id = await staff("coach@bench.invalid", Role.coach)
        for index in range(args.specialists):
            profession = PROFESSIONS[index % len(PROFESSIONS)]
            specialists.append(
                (await staff(f"specialist{index:03d}@bench.invalid", Role.specialist, profession), profession)
            )
        consultation_type = ConsultationType(
            organization_id=org.id,
            name="Videosprechstunde 30",
            duration_minutes=int(SLOT.total_seconds() // 60),
            buffer_minutes=0,
            professions=sorted(p.value for p in PROFESSIONS),
        )
        session.add(consultation_type)
        await session.flush()
        organization_id, type_id = org.id, consultation_type.id

    first_day = datetime.now(ZONE).date() + timedelta(days=args.lead_days)
    all_starts = [start for day in grid_days(first_day, args.weeks) for start in day_starts(day)]
    participant_ids = [uuid.uuid4() for _ in range(args.participants)]
    per_specialist = [args.consultations // len(specialists)] * len(specialists)
    for index in range(args.consultations % len(specialists)):
        per_specialist[index] += 1
    if max(per_specialist) > len(all_starts):
        raise SystemExit(f"{max(per_specialist)} consultations per specialist exceed {len(all_starts)} grid slots")

    consultation_rows: list[dict[str, Any]] = []
    attendee_rows: list[dict[str, Any]] = []
    free_slots: list[tuple[uuid.UUID, datetime]] = []
    for (specialist_id, _), count in zip(specialists, per_specialist, strict=True):
        taken = set(rng.sample(range(len(all_starts)), count))
        for index, start in enumerate(all_starts):
            if index not in taken:
                free_slots.append((specialist_id, start))
                continue
            consultation_id = uuid.uuid4()
            participant_id = rng.choice(participant_ids)
            consultation_rows.append(
                {
                    "id": consultation_id,
                    "organization_id": organization_id,
                    "participant_id": participant_id,
                    "specialist_id": specialist_id,
                    "booked_by_id": coach_id,
                    "consultation_type_id": type_id,
                    "starts_at": start,
                    "ends_at": start + SLOT,
                    "blocked_until": start + SLOT,
                    "status": ConsultationStatus.scheduled,
                    "room_name": new_room_name(),
                    "sequence": 0,
                }
            )
            attendee_rows.extend(attendee_pair(consultation_id, participant_id, specialist_id))

    rule_rows = [
        {
            "specialist_id": specialist_id,
            "weekday": weekday,
            "start_time": clock(DAY_OPENS_HOUR),
            "end_time": clock(DAY_CLOSES_HOUR),
        }
        for specialist_id, _ in specialists
        for weekday in range(5)
    ]
    participant_rows = [
        {
            "id": participant_id,
            "organization_id": organization_id,
            "display_name": f"Teilnehmende {index:05d}",
            "email": f"participant{index:05d}@bench.invalid",
            "preferred_language": "de",
            "case_reference": f"BENCH-{index:05d}",
            "coach_id": coach_id,
            "easy_language": False,
        }
        for index, participant_id in enumerate(participant_ids)
    ]
    # Both consents, as in practice: each booking then writes the participant's invitation and reminders too.
    consent_rows = [
        {
            "organization_id": organization_id,
            "participant_id": participant_id,
            "kind": kind,
            "granted": True,
            "recorded_by_id": coach_id,
        }
        for participant_id in participant_ids
        for kind in (ConsentKind.video_consultation, ConsentKind.email_contact)
    ]
    batches: list[tuple[type[Base], list[dict[str, Any]]]] = [
        (AvailabilityRule, rule_rows),
        (Participant, participant_rows),
        (Consent, consent_rows),
        (Consultation, consultation_rows),
        (Attendee, attendee_rows),
    ]
    async with engine.begin() as connection:
        for model, rows in batches:
            if rows:
                await connection.execute(insert(model), fill_required(model, rows))
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE"))

    rng.shuffle(free_slots)
    return World(
        organization_id=organization_id,
        coach_email="coach@bench.invalid",
        type_id=type_id,
        specialists=specialists,
        participant_ids=participant_ids,
        first_day=first_day,
        free_slots=free_slots,
        consultations=len(consultation_rows),
        attendees=len(attendee_rows),
    )


async def database_info(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        info = {"version": str(await connection.scalar(text("SHOW server_version")))}
        for name in ("synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            info[name] = str(await connection.scalar(text(f"SHOW {name}")))
    return info


async def database_counters(connection: asyncpg.Connection) -> dict[str, int]:
    """Sessions opened and transactions ended in this database so far (PostgreSQL's cumulative statistics)."""
    await connection.execute("SELECT pg_stat_clear_snapshot()")
    row = await connection.fetchrow(
        "SELECT sessions, xact_commit, xact_rollback FROM pg_stat_database WHERE datname = current_database()"
    )
    return {key: int(row[key] or 0) for key in ("sessions", "xact_commit", "xact_rollback")}


async def count_consultations(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(Consultation)) or 0)


# --- the server ----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _terminate_with_parent() -> None:
    """In the child before exec: get SIGTERM when the benchmark dies, even by SIGKILL (Linux only)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Server:
    """uvicorn in a subprocess of its own session, stopped with SIGINT (graceful), then SIGKILL."""

    def __init__(self, database_url: str, port: int, log_path: Path, profile: Path | None, factory: str) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._database_url = database_url
        self._log_path = log_path
        self._profile = profile
        self._factory = factory
        self._process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        uvicorn = [
            "uvicorn",
            "--factory",
            self._factory,
            "--app-dir",
            str(BENCH_DIR),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ]
        if self._profile is None:
            return [sys.executable, "-m", *uvicorn]
        if self._profile.suffix == ".prof":
            return [sys.executable, "-m", "cProfile", "-o", str(self._profile), "-m", *uvicorn]
        renderer = "html" if self._profile.suffix == ".html" else "text"
        return [sys.executable, "-m", "pyinstrument", "-r", renderer, "-o", str(self._profile), "-m", *uvicorn]

    def start(self, timeout: float = 30.0) -> None:
        python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, BENCH_DATABASE_URL=self._database_url, PYTHONPATH=python_path)
        env.setdefault("BENCH_MAIL_DIR", str(self._log_path.parent / "mail"))
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                self.command(),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminate_with_parent,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the server exited with {self._process.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    @property
    def pid(self) -> int:
        assert self._process is not None, "the server is not started"
        return self._process.pid

    def stop(self, timeout: float = 20.0) -> int | None:
        process = self._process
        if process is None or process.poll() is not None:
            return None if process is None else process.returncode
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- HTTP clients --------------------------------------------------------------------------------------


class Connection(Protocol):
    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]: ...

    async def close(self) -> None: ...


class RawConnection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: a request at a time, almost no overhead."""

    name = "raw asyncio streams (HTTP/1.1 keep-alive, one connection per worker)"

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._host_header = f"Host: {host}:{port}\r\n"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        reader, writer = self._reader, self._writer
        head = [f"{method} {path} HTTP/1.1\r\n", self._host_header]
        head.extend(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        if body is not None:
            head.append(f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
        head.append("\r\n")
        writer.write("".join(head).encode("latin-1") + (body or b""))
        try:
            response_head = await reader.readuntil(b"\r\n\r\n")
            status = int(response_head[9:12])
            length: int | None = None
            chunked = close = False
            for line in response_head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    chunked = b"chunked" in value.lower()
                elif name == b"connection":
                    close = b"close" in value.lower()
            if chunked:
                payload = await self._read_chunked(reader)
            elif length is not None:
                payload = await reader.readexactly(length)
            else:
                payload, close = await reader.read(), True
        except BaseException:
            await self.close()
            raise
        if close:
            await self.close()
        return status, payload

    @staticmethod
    async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


class HttpxConnection:
    """httpx.AsyncClient limited to one connection, so it behaves like ``RawConnection``."""

    name = "httpx.AsyncClient (HTTP/1.1 keep-alive, one client per worker)"

    def __init__(self, base_url: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._client = httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits)

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        all_headers = dict(headers or {})
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        response = await self._client.request(method, path, content=body, headers=all_headers)
        return response.status_code, response.content

    async def close(self) -> None:
        await self._client.aclose()


ConnectionFactory = Callable[[], Connection]


def connection_factory(kind: str, port: int) -> tuple[ConnectionFactory, str]:
    if kind == "httpx":
        return (lambda: HttpxConnection(f"http://127.0.0.1:{port}")), HttpxConnection.name
    return (lambda: RawConnection("127.0.0.1", port)), RawConnection.name


# --- measuring -----------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(fraction * len(sorted_values) - 1e-9))
    return sorted_values[min(rank, len(sorted_values)) - 1]


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of one process from /proc (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving ``database``, found by their process title."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # "postgres: [cluster name:] user database host(port) state", e.g. Debian's "postgres: 15/main: …"
        if title.startswith("postgres:") and f" {database} " in title:
            pids.append(int(entry.name))
    return pids


@dataclass(frozen=True)
class Cpu:
    """CPU seconds so far of the server process, the database's backends and this client."""

    server: float
    database: float
    client: float

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(self.server - other.server, self.database - other.database, self.client - other.client)


Meter = Callable[[], Cpu]


def cpu_meter(server_pid: int, database: str) -> Meter:
    def sample() -> Cpu:
        backends = sum(process_cpu_seconds(pid) for pid in backend_pids(database))
        return Cpu(process_cpu_seconds(server_pid), backends, time.process_time())

    return sample


@dataclass
class Result:
    label: str
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    finished_s: list[float] = field(default_factory=list)
    """When each request ended, in seconds from the start of the measurement (for ``--timeline``)."""
    elapsed_s: float = 0.0
    items: int = 0
    """Slots returned (searches) or consultations created (booking)."""
    cpu: Cpu | None = None

    def cpu_ms_per_request(self, part: str) -> str:
        if self.cpu is None or not self.latencies_ms:
            return "—"
        return f"{getattr(self.cpu, part) * 1000 / len(self.latencies_ms):.1f}"

    def stat(self, fraction: float) -> float:
        return percentile(sorted(self.latencies_ms), fraction)

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0


async def login(connection: Connection, email: str) -> dict[str, str]:
    body = msgspec.json.encode({"email": email, "password": PASSWORD})
    status, payload = await connection.request("POST", "/api/v1/auth/login", body)
    if status != 200:
        raise RuntimeError(f"login failed with {status}: {payload[:300]!r}")
    token = msgspec.json.decode(payload)["access_token"]
    return {"Authorization": f"Bearer {token}"}


def slot_path(world: World, days: int, *, specialist_id: uuid.UUID | None = None, profession: str | None = None) -> str:
    start = local_midnight(world.first_day)
    query: dict[str, str] = {
        "consultation_type_id": str(world.type_id),
        "start": start.isoformat(),
        "end": (start + timedelta(days=days)).isoformat(),
    }
    if specialist_id is not None:
        query["specialist_id"] = str(specialist_id)
    if profession is not None:
        query["profession"] = profession
    return f"/api/v1/slots?{urlencode(query)}"


async def sequential(
    label: str,
    connection: Connection,
    headers: Mapping[str, str],
    paths: Sequence[str],
    *,
    warmup: int,
    deadline: float,
    meter: Meter,
) -> Result:
    """GET each path in turn on one connection; the first ``warmup`` requests are not measured."""
    result = Result(label)
    for path in paths[:warmup]:
        await connection.request("GET", path, headers=headers)
    cpu_before = meter()
    started = time.perf_counter()
    for path in paths[warmup:]:
        if time.perf_counter() > deadline:
            break
        t0 = time.perf_counter()
        status, payload = await connection.request("GET", path, headers=headers)
        result.latencies_ms.append((time.perf_counter() - t0) * 1000)
        result.statuses[str(status)] += 1
        if status == 200:
            result.items += len(msgspec.json.decode(payload)["slots"])
    result.elapsed_s = time.perf_counter() - started
    result.cpu = meter() - cpu_before
    return result


async def raw_bookings(
    args: argparse.Namespace,
    database_url: str,
    database: str,
    workdir: Path,
    world: World,
    slots: Iterator[tuple[uuid.UUID, datetime]],
    rng: random.Random,
) -> Result:
    """DESIGN.md's reference transaction on raw asyncpg (bench/raw_app.py), same client, same load, same slots."""
    server = Server(database_url, free_port(), workdir / "raw.log", None, "raw_app:make_app")
    connect, _ = connection_factory(args.client, server.port)
    try:
        server.start()
        meter = cpu_meter(server.pid, database)
        load = {"concurrency": args.concurrency, "rng": rng, "meter": meter}
        warm = await bookings(
            "raw warm-up", connect, {}, world, slots, duration=10, max_requests=10 * args.concurrency, **load
        )
        result = await bookings(
            f"raw asyncpg transaction, concurrency {args.concurrency}",
            connect,
            {},
            world,
            slots,
            duration=args.duration,
            max_requests=args.max_bookings,
            **load,
        )
        result.items += warm.items
        return result
    finally:
        server.stop()


async def bookings(
    label: str,
    connect: ConnectionFactory,
    headers: Mapping[str, str],
    world: World,
    slots: Iterator[tuple[uuid.UUID, datetime]],
    *,
    concurrency: int,
    duration: float,
    max_requests: int,
    rng: random.Random,
    meter: Meter,
    idempotency_keys: bool = False,
) -> Result:
    """``concurrency`` workers, each on its own connection, book distinct free slots until time or count ends."""
    result = Result(label)
    issued = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal issued
        connection = connect()
        try:
            while issued < max_requests and time.perf_counter() < deadline:
                try:
                    specialist_id, start = next(slots)
                except StopIteration:
                    return
                issued += 1
                body = msgspec.json.encode(
                    {
                        "participant_id": str(rng.choice(world.participant_ids)),
                        "specialist_id": str(specialist_id),
                        "consultation_type_id": str(world.type_id),
                        "start": start.isoformat(),
                    }
                )
                t0 = time.perf_counter()
                try:
                    sent = {**headers, "Idempotency-Key": uuid.uuid4().hex} if idempotency_keys else headers
                    status, _ = await connection.request("POST", "/api/v1/consultations", body, sent)
                except (OSError, asyncio.IncompleteReadError, ValueError, httpx.HTTPError) as error:
                    result.statuses[f"error {type(error).__name__}"] += 1
                    continue
                t1 = time.perf_counter()
                result.latencies_ms.append((t1 - t0) * 1000)
                result.finished_s.append(t1 - started)
                result.statuses[str(status)] += 1
        finally:
            await connection.close()

    cpu_before = meter()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    result.cpu = meter() - cpu_before
    result.items = result.statuses["201"]
    return result


# --- reporting -----------------------------------------------------------------------------------------


def versions(*names: str) -> str:
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} ?")
    return ", ".join(found)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def python_loop_ms(iterations: int = 1_000_000) -> float:
    """A crude single-core speed figure, so runs on different machines can be compared."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        total = 0
        for value in range(iterations):
            total += value
        best = min(best, time.perf_counter() - started)
    return best * 1000


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def ms(value: float) -> str:
    return f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="reset and seeded: never a real one")
    parser.add_argument("--specialists", type=int, default=50)
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--consultations", type=int, default=5000, help="existing consultations over --weeks")
    parser.add_argument("--weeks", type=int, default=8, help="how far the seeded calendar reaches")
    parser.add_argument("--lead-days", type=int, default=3, help="the first seeded day is today + this")
    parser.add_argument("--search-requests", type=int, default=200, help="slot searches for one specialist")
    parser.add_argument("--profession-requests", type=int, default=100, help="slot searches by profession")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of booking")
    parser.add_argument("--max-bookings", type=int, default=10_000, help="booking requests at most")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="send a fresh Idempotency-Key with every booking"
    )
    parser.add_argument(
        "--factory",
        default="bench_app:make_app",
        help="uvicorn app factory (module on bench/ or PYTHONPATH), to compare a variant of the service",
    )
    parser.add_argument("--seed", type=int, default=20261123, help="random seed of the data and the requests")
    parser.add_argument("--time-limit", type=float, default=170.0, help="seconds for the whole run")
    parser.add_argument(
        "--profile",
        type=Path,
        help="run the server under a profiler: FILE.prof for cProfile, FILE.html or FILE.txt for pyinstrument",
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        help="write every booking as 'seconds from start,latency ms' to this CSV, to see when slow ones happen",
    )
    parser.add_argument(
        "--skip-raw",
        action="store_true",
        help="skip the reference: the same bookings through DESIGN.md's transaction on raw asyncpg (bench/raw_app.py)",
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, workdir: Path) -> int:
    rng = random.Random(args.seed)
    url = make_url(args.database_url)
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "asyncpg":
        raise SystemExit("the benchmark needs a postgresql+asyncpg:// URL")
    if url.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark talks to a loopback PostgreSQL only")
    if not url.database or url.database in FORBIDDEN_DATABASES:
        raise SystemExit(f"refusing to reset the database {url.database!r}; name a dedicated one")
    if args.profile is not None and args.profile.suffix != ".prof" and importlib.util.find_spec("pyinstrument") is None:
        raise SystemExit("--profile needs pyinstrument: .venv/bin/pip install pyinstrument")
    database_url = url.render_as_string(hide_password=False)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    created = await create_database_if_missing(url)
    engine = make_engine(database_url)
    try:
        await reset_and_migrate(engine)
        t_migrated = time.perf_counter()
        world = await seed(engine, args, rng)
        t_seeded = time.perf_counter()
        db_info = await database_info(engine)
        before = await count_consultations(engine)
    finally:
        await engine.dispose()
    print(
        f"database {url.database} ({'created' if created else 'existing'}): reset + migrated in "
        f"{t_migrated - t0:.1f} s, seeded in {t_seeded - t_migrated:.1f} s — {len(world.specialists)} specialists "
        f"({len(PROFESSIONS)} professions), {len(world.participant_ids)} participants, {world.consultations} "
        f"consultations + {world.attendees} attendees over {args.weeks} weeks from {world.first_day}, "
        f"{len(world.free_slots)} free slots",
        flush=True,
    )

    monitor = await asyncpg.connect(database=url.database, **asyncpg_params(url))
    counters_before = await database_counters(monitor)
    server = Server(database_url, free_port(), workdir / "server.log", args.profile, args.factory)
    connect, client_name = connection_factory(args.client, server.port)
    results: dict[str, Result] = {}
    created_total = 0
    try:
        t_start = time.perf_counter()
        server.start()
        print(f"server up on {server.base_url} in {time.perf_counter() - t_start:.1f} s; client: {client_name}")
        meter = cpu_meter(server.pid, str(url.database))
        deadline = time.perf_counter() + 60
        connection = connect()
        try:
            headers = await login(connection, world.coach_email)
            warmup = 20
            single = [
                slot_path(world, 28, specialist_id=world.specialists[i % len(world.specialists)][0])
                for i in range(warmup + args.search_requests)
            ]
            results["one"] = await sequential(
                "slots: one specialist × 4 weeks, sequential",
                connection,
                headers,
                single,
                warmup=warmup,
                deadline=deadline,
                meter=meter,
            )
            by_profession = [
                slot_path(world, 14, profession=PROFESSIONS[i % len(PROFESSIONS)].value)
                for i in range(warmup + args.profession_requests)
            ]
            results["profession"] = await sequential(
                "slots: by profession × 2 weeks, sequential",
                connection,
                headers,
                by_profession,
                warmup=warmup,
                deadline=deadline,
                meter=meter,
            )
        finally:
            await connection.close()

        slots = iter(world.free_slots)
        load = {
            "concurrency": args.concurrency,
            "rng": rng,
            "meter": meter,
            "idempotency_keys": args.idempotency_keys,
        }
        # Ten per client connection first, so that every pooled database connection has prepared its statements.
        warm = await bookings(
            "booking warm-up", connect, headers, world, slots, duration=10, max_requests=10 * args.concurrency, **load
        )
        created_total += warm.items
        results["booking"] = await bookings(
            f"booking, concurrency {args.concurrency}" + (", with keys" if args.idempotency_keys else ""),
            connect,
            headers,
            world,
            slots,
            duration=args.duration,
            max_requests=args.max_bookings,
            **load,
        )
        created_total += results["booking"].items
        if args.timeline is not None:
            booked = results["booking"]
            args.timeline.write_text(
                "".join(f"{t:.4f},{ms:.2f}\n" for t, ms in zip(booked.finished_s, booked.latencies_ms, strict=True))
            )
    finally:
        code = server.stop()
        if code not in (0, None):
            print(f"the server exited with {code}; its log:\n{server.log_tail()}")
        await asyncio.sleep(0.5)  # exiting backends flush their statistics
        counters_after = await database_counters(monitor)
        await monitor.close()

    raw: Result | None = None
    if not args.skip_raw:
        raw = await raw_bookings(args, database_url, str(url.database), workdir, world, slots, rng)
        created_total += raw.items

    engine = make_engine(database_url)
    try:
        after = await count_consultations(engine)
    finally:
        await engine.dispose()

    one, profession, booking = results["one"], results["profession"], results["booking"]
    print()
    print(f"machine:    {cpu_model()}, {os.cpu_count()} cores (client, server and PostgreSQL share them)")
    print(
        f"python:     {platform.python_implementation()} {platform.python_version()}, {platform.platform()}; "
        f"a loop of 10⁶ additions takes {python_loop_ms():.0f} ms"
    )
    print(
        f"postgresql: {db_info['version']} (synchronous_commit={db_info['synchronous_commit']}, "
        f"fsync={db_info['fsync']}, shared_buffers={db_info['shared_buffers']})"
    )
    load_after = os.getloadavg()
    print(
        f"load:       1-min load average {load_before[0]:.2f} before the run, {load_after[0]:.2f} after "
        f"(anything else running on these cores skews the figures)"
    )
    print(f"stack:      {versions('litestar', 'uvicorn', 'uvloop', 'httptools', 'sqlalchemy', 'asyncpg')}")
    print("server:     uvicorn, one worker, --loop uvloop --http httptools --no-access-log, embedded jobs, no Redis")
    httpx_version = f", httpx {importlib.metadata.version('httpx')}" if args.client == "httpx" else ""
    print(f"client:     {client_name} on uvloop{httpx_version}")
    print()
    rows = []
    for result in (one, profession, booking, *([raw] if raw else [])):
        rows.append(
            [
                result.label,
                str(len(result.latencies_ms)),
                ms(result.stat(0.50)),
                ms(result.stat(0.95)),
                ms(result.stat(0.99)),
                ms(max(result.latencies_ms, default=float("nan"))),
                f"{result.rate:.0f}",
                f"{result.items / max(1, len(result.latencies_ms)):.0f}" if result in (one, profession) else "—",
                result.cpu_ms_per_request("server"),
                result.cpu_ms_per_request("database"),
                result.cpu_ms_per_request("client"),
            ]
        )
    print_table(
        [
            "measurement",
            "requests",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "req/s",
            "slots/resp",
            "CPU ms/req: server",
            "postgres",
            "client",
        ],
        rows,
    )
    print()
    statuses = ", ".join(f"{status}: {count}" for status, count in sorted(booking.statuses.items()))
    print(f"booking responses: {statuses} (warm-up before: {dict(sorted(warm.statuses.items()))})")
    sessions = counters_after["sessions"] - counters_before["sessions"]
    commits = counters_after["xact_commit"] - counters_before["xact_commit"]
    rollbacks = counters_after["xact_rollback"] - counters_before["xact_rollback"]
    print(
        f"postgresql, whole server run: {sessions} sessions opened, {commits} commits, {rollbacks} rollbacks "
        f"(a steady pool opens at most TELECON_DATABASE_POOL_SIZE sessions)"
    )
    consistent = after - before == created_total
    print(
        f"consultations in the database: {before} → {after} (+{after - before}; "
        f"201 answers: {created_total}) {'consistent' if consistent else 'MISMATCH'}"
    )
    for label, result in (("one specialist", one), ("by profession", profession)):
        if set(result.statuses) != {"200"}:
            print(f"slot search {label}: unexpected statuses {dict(result.statuses)}")
    print()
    print("targets (DESIGN.md, performance budget):")
    search_p95 = one.stat(0.95)
    booking_p99 = booking.stat(0.99)
    print(
        f"  slot search p95, one specialist × 4 weeks   {ms(search_p95):>8} ms  < {SEARCH_TARGET_P95_MS:.0f} ms   "
        f"{verdict(search_p95 < SEARCH_TARGET_P95_MS)}"
    )
    print(
        f"  booking p99 at concurrency {args.concurrency:<3}             {ms(booking_p99):>8} ms  "
        f"< {BOOKING_TARGET_P99_MS:.0f} ms  {verdict(booking_p99 < BOOKING_TARGET_P99_MS)}"
    )
    if raw is not None:
        half = raw.rate / 2
        print(
            f"  booking throughput                          {booking.rate:>8.0f}/s  ≥ {half:.0f}/s   "
            f"{verdict(booking.rate >= half)}  (half of the raw-asyncpg transaction measured above: "
            f"{booking.rate / raw.rate:.2f} of raw)"
        )
    print(
        f"  booking throughput, DESIGN.md's figure      {booking.rate:>8.0f}/s  ≥ {DESIGN_BOOKING_RPS:.0f}/s  "
        f"{verdict(booking.rate >= DESIGN_BOOKING_RPS)}  (informational: half of raw asyncpg there, wrk at c=64)"
    )
    if args.profile is not None:
        print(f"\nprofile of the server: {args.profile}")
    other = sum(n for status, n in booking.statuses.items() if status not in ("201", "409"))
    return 0 if consistent and other == 0 else 1


def run_bounded(measure: Callable[[Path], Awaitable[int]], time_limit: float, prefix: str) -> int:
    """Run ``measure(workdir)`` on uvloop within ``time_limit`` seconds; SIGTERM and Ctrl-C stop it cleanly.

    Shared by the benchmark scripts of bench/: their ``finally`` blocks stop the servers they started.
    """
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:

        async def bounded() -> int:
            task = asyncio.current_task()
            assert task is not None
            # SIGTERM cancels like Ctrl-C does, so the finally blocks stop the server.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
            async with asyncio.timeout(time_limit):
                return await measure(Path(workdir))

        try:
            return uvloop.run(bounded())
        except RuntimeError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 1
        except TimeoutError:
            print(f"the benchmark exceeded --time-limit {time_limit:.0f} s", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("interrupted", file=sys.stderr)
            return 130


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return run_bounded(lambda workdir: run(args, workdir), args.time_limit, "telecon-bench-")


if __name__ == "__main__":
    sys.exit(main())
