"""Benchmark telecon's outbox relay: mail throughput of one worker, and booking-to-inbox latency.

Run by hand, never by the test suite::

    PYTHONPATH=. .venv/bin/python bench/mail.py            # both parts, about three minutes
    PYTHONPATH=. .venv/bin/python bench/mail.py --skip-latency --messages 2000
    PYTHONPATH=. .venv/bin/python bench/mail.py --profile /tmp/relay.prof   # in-process relay under cProfile

What it measures:

1. **Throughput.** 10,000 pending ``email.invitation`` outbox rows (5,000 consultations × participant and
   specialist; participants with the ``email_contact`` consent), bulk-inserted, are delivered by ONE relay to
   an aiosmtpd "sink" on loopback that runs in a process of its own. Wall time from the relay's start until
   all rows are ``sent``, for (a) the in-process relay (``telecon.worker.InProcessJobs``, in this process) and
   (b) one ``telecon worker`` (arq) subprocess with Redis database 12. The sink must have accepted exactly as
   many distinct Message-IDs as there were rows.
2. **Latency.** ``telecon serve`` on PostgreSQL; bookings over HTTP at a steady rate (5/s for 30 s by
   default). For each booking: the time its 201 came back (the commit happened just before) to the time the
   sink accepted the participant's invitation (matched by Message-ID ``<{outbox id}@host>``, the id from the
   response's ``notifications``). p50/p95/max for (a) the server's in-process relay (no Redis) and (b) the
   server with ``TELECON_REDIS_URL`` (it relays nothing itself) plus one ``telecon worker``.

It resets the ``public`` schema of the benchmark database (``telecon_bench`` by default; never ``test``),
seeds it with ``bench/bench.py``'s seeder and uses Redis database 12 (FLUSHDB of that database only). Both
parts use the project's own relay (``Relay``, ``InProcessJobs``, ``worker_settings`` through ``telecon worker``).
All processes share this machine's cores: the sink, the relay, PostgreSQL and (for latency) the web server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as booking_bench
from telecon.db import make_engine, make_sessionmaker
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.participants.models import Consent, ConsentKind
from telecon.scheduling.models import AttendeeKind
from telecon.settings import Settings
from telecon.worker import InProcessJobs

ROOT = booking_bench.ROOT
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
THROUGHPUT_TARGET_S = 60.0
LATENCY_TARGET_P95_S = 2.0
MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([0-9a-fA-F-]{36})@", re.MULTILINE | re.IGNORECASE)


# --- the SMTP sink (a process of its own) -------------------------------------------------------------


def run_sink(port: int, out: Path) -> None:
    """aiosmtpd on 127.0.0.1:port; one line per accepted message: accept time, Message-ID's id, recipient."""
    from aiosmtpd.smtp import SMTP

    sink = out.open("a", buffering=1)

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            accepted = time.time()
            found = MESSAGE_ID.search(envelope.content)
            message_id = found.group(1).decode() if found else "-"
            sink.write(f"{accepted:.6f}\t{message_id}\t{','.join(envelope.rcpt_tos)}\n")
            return "250 Message accepted for delivery"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = Handler()
        server = await loop.create_server(
            lambda: SMTP(handler, hostname="sink.bench.invalid", ident="bench sink"), "127.0.0.1", port
        )
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(serve())


@dataclass
class Accepted:
    """What the sink accepted: the first accept time per Message-ID, and how many messages in all."""

    first: dict[str, float] = field(default_factory=dict)
    total: int = 0


def read_sink(path: Path) -> Accepted:
    accepted = Accepted()
    with contextlib.suppress(FileNotFoundError), path.open() as lines:
        for line in lines:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                continue  # a line being written
            accepted.total += 1
            accepted.first.setdefault(parts[1], float(parts[0]))
    return accepted


class Child:
    """A subprocess of its own session (``python -m …``), stopped with SIGINT, then SIGKILL."""

    def __init__(self, name: str, argv: list[str], log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                [sys.executable, *argv],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=booking_bench._terminate_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> None:
        if self.process.poll() is not None:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def child_env(**telecon: str) -> dict[str, str]:
    """This environment without any TELECON_ variable of the shell, plus ``telecon`` (upper-cased, prefixed)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELECON_")}
    python_path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env["PYTHONPATH"] = python_path
    env.update({f"TELECON_{k.upper()}": v for k, v in telecon.items()})
    return env


async def wait_for_port(port: int, child: Child, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        child.alive()
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"{child.name} did not listen on {port} within {limit:.0f} s")


@contextlib.contextmanager
def sink_process(workdir: Path, label: str) -> Iterator[tuple[Child, int, Path]]:
    port = booking_bench.free_port()
    out = workdir / f"sink-{label}.tsv"
    child = Child(
        f"the SMTP sink ({label})",
        [str(Path(__file__).resolve()), "--sink", str(port), str(out)],
        workdir / f"sink-{label}.log",
        child_env(),
    )
    try:
        yield child, port, out
    finally:
        child.stop()


# --- data ----------------------------------------------------------------------------------------------


async def prepare_world(engine: AsyncEngine, args: argparse.Namespace) -> booking_bench.World:
    """bench.py's world, then: addresses on every attendee, the email_contact consent for every participant."""
    import random

    seed_args = argparse.Namespace(
        specialists=args.specialists,
        participants=args.participants,
        consultations=args.messages // 2,
        weeks=args.weeks,
        lead_days=3,
    )
    world = await booking_bench.seed(engine, seed_args, random.Random(args.seed))
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "UPDATE attendee a SET email = p.email, name = p.display_name"
                " FROM participant p WHERE a.participant_id = p.id"
            )
        )
        await connection.execute(
            text(
                "UPDATE attendee a SET email = u.email, name = u.display_name"
                " FROM user_account u WHERE a.user_id = u.id"
            )
        )
        consents = [
            {
                "organization_id": world.organization_id,
                "participant_id": participant_id,
                "kind": ConsentKind.email_contact,
                "granted": True,
                "recorded_at": datetime.now(UTC),
            }
            for participant_id in world.participant_ids
        ]
        await connection.execute(insert(Consent), consents)
    return world


async def queue_invitations(engine: AsyncEngine, limit: int, label: str) -> int:
    """Void what is pending, then one pending invitation per seeded attendee (at most ``limit``)."""
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM outbox_message"))
        attendees = (
            await connection.execute(
                text(
                    "SELECT a.id, a.consultation_id, c.organization_id, a.kind FROM attendee a"
                    " JOIN consultation c ON c.id = a.consultation_id ORDER BY c.starts_at, a.kind LIMIT :n"
                ),
                {"n": limit},
            )
        ).all()
        rows = [
            {
                "id": uuid.uuid4(),
                "organization_id": organization_id,
                "consultation_id": consultation_id,
                "attendee_id": attendee_id,
                "topic": Topic.invitation.value,
                "sequence": 0,
                "dedupe_key": f"{Topic.invitation}:{attendee_id}:0:{label}",
                "payload": {},
                "status": OutboxStatus.pending,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for attendee_id, consultation_id, organization_id, _ in attendees
        ]
        for start in range(0, len(rows), 2000):
            await connection.execute(insert(OutboxMessage), rows[start : start + 2000])
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE outbox_message"))
    return len(rows)


async def outbox_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT status::text, count(*) FROM outbox_message GROUP BY 1"))).all()
    return {status: int(count) for status, count in rows}


async def flush_redis(url: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()  # database 12 only
    finally:
        await redis.aclose()


# --- part 1: throughput --------------------------------------------------------------------------------


@dataclass
class Throughput:
    label: str
    messages: int
    seconds: float = float("nan")
    sent: int = 0
    distinct_ids: int = 0
    accepted_total: int = 0
    unknown_ids: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    load: float = float("nan")
    """The 1-minute load average at the end: above ~2 on two cores, something else competed for them."""

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


class CpuMeter:
    def __init__(self, pids: dict[str, int], database: str) -> None:
        self.pids, self.database = pids, database
        self.start = self.sample()

    def sample(self) -> dict[str, float]:
        cpu = {name: booking_bench.process_cpu_seconds(pid) for name, pid in self.pids.items()}
        cpu["this process"] = time.process_time()
        cpu["PostgreSQL"] = sum(
            booking_bench.process_cpu_seconds(pid) for pid in booking_bench.backend_pids(self.database)
        )
        return cpu

    def used(self) -> dict[str, float]:
        end = self.sample()
        return {name: end[name] - self.start.get(name, 0.0) for name in end}


async def wait_all_sent(engine: AsyncEngine, expected: int, limit: float, children: Sequence[Child]) -> int:
    deadline = time.monotonic() + limit
    sent = 0
    while time.monotonic() < deadline:
        for child in children:
            child.alive()
        sent = (await outbox_counts(engine)).get("sent", 0)
        if sent >= expected:
            return sent
        await asyncio.sleep(0.1)
    return sent


async def throughput_in_process(
    engine: AsyncEngine, args: argparse.Namespace, workdir: Path, database: str
) -> Throughput:
    expected = await queue_invitations(engine, args.messages, "in-process")
    result = Throughput("(a) in-process relay (InProcessJobs, in this process)", expected)
    with sink_process(workdir, "throughput-inprocess") as (sink, port, out):
        await wait_for_port(port, sink)
        settings = Settings(
            database_url=args.database_url,
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_tls="none",
            relay_concurrency=args.concurrency,
        )
        relay_engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
        jobs = InProcessJobs(make_sessionmaker(relay_engine), settings)
        meter = CpuMeter({"SMTP sink": sink.pid}, database)
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        jobs.start()
        try:
            result.sent = await wait_all_sent(engine, expected, args.timeout, [sink])
            result.seconds = time.perf_counter() - started
            result.cpu = meter.used()  # before the relay's connections (their backends) go away
            result.load = os.getloadavg()[0]
        finally:
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            await jobs.stop()
            await relay_engine.dispose()
        result.cpu["relay (this process)"] = result.cpu.pop("this process")
        await asyncio.sleep(0.3)
        check_sink(result, out, engine_ids=await message_ids(engine))
    return result


async def throughput_arq(engine: AsyncEngine, args: argparse.Namespace, workdir: Path, database: str) -> Throughput:
    expected = await queue_invitations(engine, args.messages, "arq")
    await flush_redis(args.redis_url)
    result = Throughput("(b) one arq worker (`telecon worker` subprocess, Redis db 12)", expected)
    with sink_process(workdir, "throughput-arq") as (sink, port, out):
        await wait_for_port(port, sink)
        env = child_env(
            database_url=args.database_url,
            redis_url=args.redis_url,
            smtp_host="127.0.0.1",
            smtp_port=str(port),
            smtp_tls="none",
            relay_concurrency=str(args.concurrency),
        )
        started = time.perf_counter()
        worker = Child("telecon worker", ["-m", "telecon", "worker"], workdir / "worker-throughput.log", env)
        meter = CpuMeter({"SMTP sink": sink.pid, "arq worker": worker.pid}, database)
        try:
            result.sent = await wait_all_sent(engine, expected, args.timeout, [sink, worker])
            result.seconds = time.perf_counter() - started
            result.cpu = meter.used()
            result.load = os.getloadavg()[0]
        finally:
            worker.stop()
        await asyncio.sleep(0.3)
        check_sink(result, out, engine_ids=await message_ids(engine))
    return result


async def message_ids(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return {str(i) for i in (await connection.scalars(text("SELECT id FROM outbox_message"))).all()}


def check_sink(result: Throughput, out: Path, *, engine_ids: set[str]) -> None:
    accepted = read_sink(out)
    result.accepted_total = accepted.total
    result.distinct_ids = len(accepted.first)
    result.unknown_ids = len(set(accepted.first) - engine_ids)


def print_throughput(results: Sequence[Throughput]) -> None:
    print()
    print("Throughput: one relay, invitations to an aiosmtpd sink on loopback (a separate process)")
    for r in results:
        ok = r.sent == r.messages and r.distinct_ids == r.messages and r.accepted_total == r.messages
        ok = ok and r.unknown_ids == 0
        print(f"  {r.label}")
        print(
            f"    {r.sent:,} of {r.messages:,} sent in {r.seconds:.1f} s = {r.rate:,.0f} messages/s"
            f"   [target < {THROUGHPUT_TARGET_S:.0f} s: {verdict(r.seconds < THROUGHPUT_TARGET_S and ok)}]"
        )
        print(
            f"    sink accepted {r.accepted_total:,} messages, {r.distinct_ids:,} distinct Message-IDs"
            f" ({r.unknown_ids} not in the outbox)   [exactly {r.messages:,}: {verdict(ok)}]"
        )
        if r.cpu and r.seconds:
            per = ", ".join(
                f"{name} {seconds:.1f} s ({seconds * 1000 / max(r.sent, 1):.2f} ms/msg)"
                for name, seconds in r.cpu.items()
                if seconds > 0.05
            )
            print(f"    CPU: {per}; load average (1 min) at the end {r.load:.2f}")


# --- part 2: latency -----------------------------------------------------------------------------------


@dataclass
class Latency:
    label: str
    booked: int = 0
    refused: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    missing: int = 0
    http_ms: list[float] = field(default_factory=list)


async def latency_run(
    engine: AsyncEngine,
    world: booking_bench.World,
    slots: list[tuple[uuid.UUID, datetime]],
    args: argparse.Namespace,
    workdir: Path,
    *,
    with_arq: bool,
) -> Latency:
    label = "(b) server with Redis + one `telecon worker`" if with_arq else "(a) server's in-process relay (no Redis)"
    result = Latency(label)
    tag = "arq" if with_arq else "inprocess"
    await flush_redis(args.redis_url)
    with sink_process(workdir, f"latency-{tag}") as (sink, smtp_port, out):
        await wait_for_port(smtp_port, sink)
        http_port = booking_bench.free_port()
        telecon = {
            "database_url": args.database_url,
            "smtp_host": "127.0.0.1",
            "smtp_port": str(smtp_port),
            "smtp_tls": "none",
            "relay_concurrency": str(args.concurrency),
        }
        if with_arq:
            telecon["redis_url"] = args.redis_url
        children: list[Child] = []
        try:
            server = Child(
                "telecon serve",
                ["-m", "telecon", "serve", "--host", "127.0.0.1", "--port", str(http_port)],
                workdir / f"serve-{tag}.log",
                child_env(**telecon),
            )
            children.append(server)
            if with_arq:
                children.append(
                    Child(
                        "telecon worker",
                        ["-m", "telecon", "worker"],
                        workdir / "worker-latency.log",
                        child_env(**telecon),
                    )
                )
            await wait_for_port(http_port, server, limit=60)
            if with_arq:
                await asyncio.sleep(1.0)  # the worker's startup (its first dispatcher poll)
            expected = await book_steadily(http_port, world, slots, args, result, children)
            deadline = time.monotonic() + args.drain_seconds
            while time.monotonic() < deadline:
                accepted = read_sink(out)
                if all(message_id in accepted.first for message_id in expected):
                    break
                await asyncio.sleep(0.2)
            accepted = read_sink(out)
            for message_id, booked_at in expected.items():
                if message_id in accepted.first:
                    result.latencies.append(accepted.first[message_id] - booked_at)
                else:
                    result.missing += 1
        finally:
            for child in reversed(children):
                child.stop()
    return result


async def book_steadily(
    port: int,
    world: booking_bench.World,
    slots: list[tuple[uuid.UUID, datetime]],
    args: argparse.Namespace,
    result: Latency,
    children: Sequence[Child],
) -> dict[str, float]:
    """Book ``rate`` a second for ``duration`` s (open loop); the participant's invitation id → its 201 time."""
    expected: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        login = await client.post(
            "/api/v1/auth/login", json={"email": world.coach_email, "password": booking_bench.PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        async def book(specialist_id: uuid.UUID, start: datetime, participant_id: uuid.UUID) -> None:
            body = {
                "participant_id": str(participant_id),
                "specialist_id": str(specialist_id),
                "consultation_type_id": str(world.type_id),
                "start": start.isoformat(),
            }
            t0 = time.perf_counter()
            response = await client.post("/api/v1/consultations", json=body, headers=headers)
            done = time.time()
            result.http_ms.append((time.perf_counter() - t0) * 1000)
            if response.status_code != 201:
                result.refused[response.status_code] = result.refused.get(response.status_code, 0) + 1
                if sum(result.refused.values()) == 1:
                    print(f"    first refusal: {response.status_code} {response.text[:300]}")
                return
            result.booked += 1
            payload = response.json()
            attendee_ids = {a["id"] for a in payload["attendees"] if a["kind"] == AttendeeKind.participant.value}
            for notification in payload["notifications"]:
                if notification["topic"] == Topic.invitation.value and notification["attendee_id"] in attendee_ids:
                    expected[notification["id"]] = done

        count = int(args.rate * args.duration)
        interval = 1.0 / args.rate
        tasks = []
        started = time.perf_counter()
        for index in range(count):
            delay = started + index * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            for child in children:
                child.alive()
            specialist_id, start = slots.pop()
            participant_id = world.participant_ids[index % len(world.participant_ids)]
            tasks.append(asyncio.create_task(book(specialist_id, start, participant_id)))
        await asyncio.gather(*tasks)
    return expected


def print_latency(results: Sequence[Latency], args: argparse.Namespace) -> None:
    print()
    print(
        f"Latency: booking's 201 → the sink accepts the participant's invitation"
        f" ({args.rate:g} bookings/s for {args.duration:g} s, relay poll {Settings().relay_poll_seconds} s)"
    )
    header = ("", "bookings", "mails", "missing", "p50", "p95", "max", "HTTP p50", "target p95 < 2 s")
    rows = []
    for r in results:
        latencies = sorted(r.latencies)
        http = sorted(r.http_ms)
        p95 = booking_bench.percentile(latencies, 0.95)
        refused = f" ({sum(r.refused.values())} refused: {r.refused})" if r.refused else ""
        rows.append(
            (
                r.label,
                f"{r.booked}{refused}",
                str(len(latencies)),
                str(r.missing),
                seconds(booking_bench.percentile(latencies, 0.50)),
                seconds(p95),
                seconds(latencies[-1] if latencies else float("nan")),
                f"{booking_bench.percentile(http, 0.5):.0f} ms",
                verdict(p95 < LATENCY_TARGET_P95_S and r.missing == 0 and r.booked > 0),
            )
        )
    booking_bench.print_table(header, rows)


def seconds(value: float) -> str:
    return f"{value:.3f} s"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=booking_bench.DEFAULT_DATABASE_URL, help="reset: never a real one")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="its database is flushed (FLUSHDB)")
    parser.add_argument("--messages", type=int, default=10_000, help="invitations for the throughput part (even)")
    parser.add_argument(
        "--concurrency", type=int, default=Settings().relay_concurrency, help="TELECON_RELAY_CONCURRENCY"
    )
    parser.add_argument("--specialists", type=int, default=50)
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--rate", type=float, default=5.0, help="bookings per second in the latency part")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of booking per latency run")
    parser.add_argument("--drain-seconds", type=float, default=30.0, help="wait for the last mails at most")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up a throughput run after this")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-arq", action="store_true", help="only the in-process relay")
    parser.add_argument("--profile", type=Path, help="cProfile the in-process throughput run into this .prof file")
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--sink", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, workdir: Path) -> int:
    url = make_url(args.database_url)
    if url.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark talks to a loopback PostgreSQL only")
    if not url.database or url.database in booking_bench.FORBIDDEN_DATABASES:
        raise SystemExit(f"refusing to reset the database {url.database!r}")
    if not args.redis_url.rstrip("/").endswith("/12"):
        print(f"note: the Redis URL {args.redis_url} is not database 12; its database is flushed")
    await booking_bench.create_database_if_missing(url)
    engine = make_engine(args.database_url, pool_size=5)
    try:
        print(f"telecon mail benchmark — {os.cpu_count()} CPU(s): {booking_bench.cpu_model()}")
        print(
            f"  Python {sys.version.split()[0]}; {booking_bench.versions('aiosmtplib', 'aiosmtpd', 'arq', 'asyncpg')}"
        )
        print(f"  database {url.render_as_string(hide_password=True)}; Redis {args.redis_url}")
        print(
            f"  On {os.cpu_count()} cores the SMTP sink (own process), the relay, PostgreSQL and (latency) the web"
            " server compete for CPU: figures are for all of them on one machine."
        )
        print(
            f"  load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine counts)"
        )
        t0 = time.perf_counter()
        await booking_bench.reset_and_migrate(engine)
        world = await prepare_world(engine, args)
        print(
            f"  seeded {world.consultations:,} consultations, {world.attendees:,} attendees with addresses,"
            f" {len(world.participant_ids):,} participants with email consent in {time.perf_counter() - t0:.1f} s"
        )
        if not args.skip_throughput:
            results = [await throughput_in_process(engine, args, workdir, str(url.database))]
            if not args.skip_arq:
                results.append(await throughput_arq(engine, args, workdir, str(url.database)))
            print_throughput(results)
        if not args.skip_latency:
            async with engine.begin() as connection:  # the throughput rows are done; leave none pending
                await connection.execute(
                    update(OutboxMessage).where(OutboxMessage.status == OutboxStatus.pending).values(status="void")
                )
            slots = list(world.free_slots)
            latencies = [await latency_run(engine, world, slots, args, workdir, with_arq=False)]
            if not args.skip_arq:
                latencies.append(await latency_run(engine, world, slots, args, workdir, with_arq=True))
            print_latency(latencies, args)
        print(f"\nlogs and sink files: {workdir}")
    finally:
        await engine.dispose()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.sink:
        run_sink(int(args.sink[0]), Path(args.sink[1]))
        return 0
    if args.messages % 2:
        raise SystemExit("--messages must be even (participant + specialist per consultation)")
    workdir = Path(tempfile.mkdtemp(prefix="telecon-mail-bench-"))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    import uvloop

    return uvloop.run(run(args, workdir))


if __name__ == "__main__":
    sys.exit(main())
