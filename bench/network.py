"""Benchmark a network of job centres: telecon on PostgreSQL with Redis and an arq worker, against raw asyncpg.

Run by hand, never by the test suite (issue 16)::

    .venv/bin/python bench/network.py            # about 12 minutes
    .venv/bin/python bench/network.py --quick    # a smoke run of about two minutes

It resets ``telecon_bench_network`` (never ``test``), seeds 200 specialists (40 per profession), 12 weeks of
availability and 20,000 consultations, and runs one ``telecon worker`` (Redis database 10) so that the outbox is
drained as in production. With 1 and then 2 app processes (uvicorn ``--workers``, sharing one port and the same 40
database connections), at concurrency 16, 64 and 256, it measures in a closed loop: booking, slot search (one
specialist × 4 weeks; a profession of 40 × 2 weeks), join-token minting (``GET /api/v1/join/{token}`` inside the
window) and the case-file read; then the raw-asyncpg booking transaction (``bench/raw_app.py``) with the same
processes and load: the database's ceiling. Every status other than 2xx is counted; only 409 on booking is allowed.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mail as mail_bench
import msgspec
from sqlalchemy import insert, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

import bench as booking_bench
from telecon.db import make_engine
from telecon.scheduling.links import JoinLinks, derive_link_key, hash_join_token, new_room_name
from telecon.scheduling.models import Attendee, Consultation, ConsultationStatus
from telecon.settings import Settings

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_bench_network"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
TOTAL_POOL = 40
"""Database connections of all app processes together (TELECON_DATABASE_POOL_SIZE's default), split evenly."""

Request = tuple[str, str, bytes | None]
Pick = Callable[[], Request | None]


# --- servers -------------------------------------------------------------------------------------------


class AppServer(booking_bench.Server):
    """``bench.Server`` with ``--workers``: uvicorn's processes share one listening socket."""

    def __init__(self, database_url: str, log_path: Path, factory: str, processes: int) -> None:
        super().__init__(database_url, booking_bench.free_port(), log_path, None, factory)
        self.processes = processes

    def command(self) -> list[str]:
        extra = ["--workers", str(self.processes)] if self.processes > 1 else []
        return [*super().command(), *extra]

    def start(self, timeout: float = 60.0) -> None:
        pool = str(max(1, TOTAL_POOL // self.processes))
        os.environ["TELECON_DATABASE_POOL_SIZE"] = os.environ["BENCH_POOL_SIZE"] = pool
        super().start(timeout)


def check_database_url(raw: str) -> URL:
    """Loopback PostgreSQL through asyncpg, and never a database that is not ours to reset."""
    url = make_url(raw)
    if url.get_backend_name() != "postgresql" or url.get_driver_name() != "asyncpg":
        raise SystemExit("the benchmark needs a postgresql+asyncpg:// URL")
    if url.host not in (None, "127.0.0.1", "localhost", "::1"):
        raise SystemExit("the benchmark talks to a loopback PostgreSQL only")
    if not url.database or url.database in booking_bench.FORBIDDEN_DATABASES:
        raise SystemExit(f"refusing to reset the database {url.database!r}; name a dedicated one")
    return url


async def prepare(url: URL, args: argparse.Namespace, rng: random.Random) -> booking_bench.World:
    """Create, reset, migrate and seed the database with ``bench.py``'s bulk seeder; prints what it did."""
    started = time.perf_counter()
    await booking_bench.create_database_if_missing(url)
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        await booking_bench.reset_and_migrate(engine)
        world = await booking_bench.seed(engine, args, rng)
    finally:
        await engine.dispose()
    print(
        f"database {url.database}: reset, migrated and seeded in {time.perf_counter() - started:.0f} s — "
        f"{len(world.specialists)} specialists, {len(world.participant_ids)} participants, {world.consultations} "
        f"consultations over {args.weeks} weeks from {world.first_day}, {len(world.free_slots)} free slots",
        flush=True,
    )
    return world


# --- join links ----------------------------------------------------------------------------------------


async def seed_open_links(engine: AsyncEngine, world: booking_bench.World, rng: random.Random) -> list[str]:
    """One consultation per specialist starting in five minutes, so that its two links are open; their tokens.

    The window opens 15 minutes before the start and closes 30 minutes after the end (``VideoPolicy``), so the
    links stay open for about an hour of real time: longer than the run. The server uses the same secret key
    (``Settings`` from the same environment), so the tokens computed here are the ones it resolves.
    """
    links = JoinLinks(derive_link_key(Settings().secret_key.get_secret_value()), "http://bench.invalid")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=5)
    consultations: list[dict[str, Any]] = []
    attendees: list[dict[str, Any]] = []
    tokens: list[str] = []
    for specialist_id, _ in world.specialists:
        consultation_id = uuid.uuid4()
        participant_id = rng.choice(world.participant_ids)
        consultations.append(
            {
                "id": consultation_id,
                "organization_id": world.organization_id,
                "participant_id": participant_id,
                "specialist_id": specialist_id,
                "booked_by_id": None,
                "consultation_type_id": world.type_id,
                "starts_at": start,
                "ends_at": start + booking_bench.SLOT,
                "blocked_until": start + booking_bench.SLOT,
                "status": ConsultationStatus.scheduled,
                "room_name": new_room_name(),
                "sequence": 0,
            }
        )
        for attendee in booking_bench.attendee_pair(consultation_id, participant_id, specialist_id):
            attendee["token_nonce"] = secrets.token_urlsafe(32)
            token = links.token(attendee["token_nonce"])
            attendee["token_hash"] = hash_join_token(token)
            tokens.append(token)
            attendees.append(attendee)
    async with engine.begin() as connection:
        await connection.execute(insert(Consultation), booking_bench.fill_required(Consultation, consultations))
        await connection.execute(insert(Attendee), booking_bench.fill_required(Attendee, attendees))
    return tokens


# --- load ----------------------------------------------------------------------------------------------


async def closed_loop(
    label: str,
    connect: booking_bench.ConnectionFactory,
    headers: Mapping[str, str],
    pick: Pick,
    *,
    concurrency: int,
    duration: float,
) -> booking_bench.Result:
    """``concurrency`` clients, each on its own keep-alive connection, send ``pick()`` until ``duration`` ends.

    A request in flight at the deadline is waited for and counted. Transport errors are counted as statuses
    ``error …`` so that nothing disappears from the tally.
    """
    result = booking_bench.Result(label)
    deadline = time.perf_counter() + duration

    async def client() -> None:
        connection = connect()
        try:
            while time.perf_counter() < deadline:
                request = pick()
                if request is None:
                    return
                method, path, body = request
                t0 = time.perf_counter()
                try:
                    status, _ = await connection.request(method, path, body, headers)
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    result.statuses[f"error {type(error).__name__}"] += 1
                    continue
                result.latencies_ms.append((time.perf_counter() - t0) * 1000)
                result.statuses[str(status)] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    result.elapsed_s = time.perf_counter() - started
    result.items = result.statuses["201"]
    return result


def booking_picker(world: booking_bench.World, slots: Iterator[tuple[uuid.UUID, datetime]], rng: random.Random) -> Pick:
    """POST a booking of the next distinct free slot (a 409 would point to a problem, but is allowed)."""

    def pick() -> Request | None:
        try:
            specialist_id, start = next(slots)
        except StopIteration:
            return None
        body = {
            "participant_id": str(rng.choice(world.participant_ids)),
            "specialist_id": str(specialist_id),
            "consultation_type_id": str(world.type_id),
            "start": start.isoformat(),
        }
        return "POST", "/api/v1/consultations", msgspec.json.encode(body)

    return pick


def get_picker(paths: Callable[[], str]) -> Pick:
    return lambda: ("GET", paths(), None)


ALLOWED = {"booking": {"201", "409"}, "raw": {"201", "409"}}
"""Statuses a measurement may answer; every other one is counted as an error. The default is 200 only."""


def unexpected(kind: str, statuses: Counter[str]) -> int:
    return sum(n for status, n in statuses.items() if status not in ALLOWED.get(kind, {"200"}))


class Run:
    """Every measurement of the run, with warm-up statuses kept for the error count."""

    def __init__(self, warmup: float, duration: float, unit: str = "proc") -> None:
        self.warmup, self.duration, self.unit = warmup, duration, unit
        self.results: dict[tuple[str, int, int], booking_bench.Result] = {}
        self.errors: Counter[tuple[str, int, int]] = Counter()
        self.created = 0

    async def measure(
        self,
        kind: str,
        label: str,
        processes: int,
        concurrency: int,
        connect: booking_bench.ConnectionFactory,
        headers: Mapping[str, str],
        pick: Pick,
    ) -> booking_bench.Result:
        # At most 64 warm-up clients: concurrencies run in rising order on one server, so its pool is warm by 256,
        # and 256 slow requests in flight would make the warm-up last far longer than asked.
        warm = await closed_loop(
            "warm-up", connect, headers, pick, concurrency=min(concurrency, 64), duration=self.warmup
        )
        result = await closed_loop(label, connect, headers, pick, concurrency=concurrency, duration=self.duration)
        key = (kind, processes, concurrency)
        self.results[key] = result
        self.errors[key] = unexpected(kind, warm.statuses) + unexpected(kind, result.statuses)
        self.created += warm.items + result.items
        statuses = dict(sorted((result.statuses + warm.statuses).items()))
        print(
            f"  {processes} {self.unit}, c={concurrency:<3} {label:<38} {result.rate:7.0f} req/s  "
            f"p50 {result.stat(0.5):7.1f}  p95 {result.stat(0.95):7.1f}  p99 {result.stat(0.99):7.1f} ms  {statuses}",
            flush=True,
        )
        return result


MEASUREMENTS = (
    ("booking", "booking"),
    ("one", "slots: one specialist × 4 weeks"),
    ("profession", "slots: profession (40) × 2 weeks"),
    ("join", "join-token minting"),
    ("casefile", "case-file read"),
)


@dataclass
class Setup:
    """What every pass of the run shares."""

    run: Run
    database_url: str
    workdir: Path
    world: booking_bench.World
    tokens: Sequence[str]
    slots: Iterator[tuple[uuid.UUID, datetime]]
    """The free slots not booked yet, shared by telecon and the raw reference."""
    rng: random.Random
    concurrencies: Sequence[int]


async def telecon_pass(setup: Setup, processes: int) -> None:
    run, world, rng, tokens, concurrencies = setup.run, setup.world, setup.rng, setup.tokens, setup.concurrencies
    log = setup.workdir / f"telecon-{processes}.log"
    server = AppServer(setup.database_url, log, "bench_app:make_app", processes)
    connect, _ = booking_bench.connection_factory("raw", server.port)
    professions = [p.value for p in booking_bench.PROFESSIONS]
    pickers: dict[str, Pick] = {
        "booking": booking_picker(world, setup.slots, rng),
        "one": get_picker(lambda: booking_bench.slot_path(world, 28, specialist_id=rng.choice(world.specialists)[0])),
        "profession": get_picker(lambda: booking_bench.slot_path(world, 14, profession=rng.choice(professions))),
        "join": get_picker(lambda: f"/api/v1/join/{rng.choice(tokens)}"),
        "casefile": get_picker(lambda: f"/api/v1/participants/{rng.choice(world.participant_ids)}/case-file"),
    }
    try:
        server.start()
        connection = connect()
        try:
            headers = await booking_bench.login(connection, world.coach_email)
            status, payload = await connection.request("GET", f"/api/v1/join/{tokens[0]}")
            if status != 200 or msgspec.json.decode(payload)["status"] != "open":
                raise RuntimeError(f"a seeded join link is not open: {status} {payload[:300]!r}")
        finally:
            await connection.close()
        for concurrency in concurrencies:
            for kind, label in MEASUREMENTS:
                await run.measure(kind, label, processes, concurrency, connect, headers, pickers[kind])
    finally:
        code = server.stop()
        if code not in (0, None) or any(
            run.errors[(kind, processes, c)] for kind, _ in MEASUREMENTS for c in concurrencies
        ):
            print(f"telecon exited with {code} or answered errors; the end of its log:\n{server.log_tail(40)}")


async def raw_pass(setup: Setup, processes: int) -> None:
    server = AppServer(setup.database_url, setup.workdir / f"raw-{processes}.log", "raw_app:make_app", processes)
    connect, _ = booking_bench.connection_factory("raw", server.port)
    try:
        server.start()
        for concurrency in setup.concurrencies:
            pick = booking_picker(setup.world, setup.slots, setup.rng)
            await setup.run.measure("raw", "raw asyncpg booking (ceiling)", processes, concurrency, connect, {}, pick)
    finally:
        server.stop()


RAW_TOPIC = "consultation.booked"
"""The topic of ``bench/raw_app.py``'s outbox row: not one telecon writes any more, so the relay voids it."""
DUE = text(
    "SELECT count(*) FROM outbox_message WHERE status = 'pending' AND next_attempt_at <= now() AND topic <> :raw"
).bindparams(raw=RAW_TOPIC)


async def wait_drained(engine: AsyncEngine, limit: float) -> tuple[dict[str, int], int]:
    """The outbox's rows by status, and how many of telecon's are due but unsent: when none is, or after ``limit`` s.

    Reminders stay ``pending`` until a day before their consultation: only due rows show a worker falling behind.
    The raw reference's rows are left out: the worker voids them, in its own time.
    """
    due = 0
    for _ in range(int(limit)):
        async with engine.connect() as connection:
            due = int(await connection.scalar(DUE) or 0)
        if not due:
            break
        await asyncio.sleep(1)
    return await mail_bench.outbox_counts(engine), due


# --- report --------------------------------------------------------------------------------------------


def report(run: Run, processes: Sequence[int], concurrencies: Sequence[int]) -> None:
    for count in processes:
        for concurrency in concurrencies:
            print(f"\n{count} app process{'es' if count > 1 else ''}, concurrency {concurrency}:")
            rows = []
            for kind, label in (*MEASUREMENTS, ("raw", "raw asyncpg booking (ceiling)")):
                result = run.results.get((kind, count, concurrency))
                if result is None:
                    continue
                rows.append(
                    [
                        label,
                        str(len(result.latencies_ms)),
                        f"{result.rate:.0f}",
                        booking_bench.ms(result.stat(0.50)),
                        booking_bench.ms(result.stat(0.95)),
                        booking_bench.ms(result.stat(0.99)),
                        booking_bench.ms(max(result.latencies_ms, default=float("nan"))),
                        str(run.errors[(kind, count, concurrency)]),
                    ]
                )
            booking_bench.print_table(
                ["measurement", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"], rows
            )
    print("\nbooking: telecon's share of the raw-asyncpg ceiling (same processes, same concurrency, same run)")
    rows = []
    for count in processes:
        for concurrency in concurrencies:
            ours, raw = run.results.get(("booking", count, concurrency)), run.results.get(("raw", count, concurrency))
            if ours is None or raw is None:
                continue
            share = ours.rate / raw.rate if raw.rate else float("nan")
            rows.append([f"{count} proc, c={concurrency}", f"{raw.rate:.0f}", f"{ours.rate:.0f}", f"{share:.2f}"])
    booking_bench.print_table(["", "raw req/s", "telecon req/s", "share"], rows)


def print_machine(load_before: tuple[float, float, float]) -> None:
    load = os.getloadavg()
    print(f"\nmachine: {booking_bench.cpu_model()}, {os.cpu_count()} cores shared by client, servers and PostgreSQL")
    print(f"         a loop of 10⁶ additions takes {booking_bench.python_loop_ms():.0f} ms")
    print(
        f"load:    1-min load average {load_before[0]:.2f} before the run, {load[0]:.2f} after "
        f"(5-min {load[1]:.2f}); anything else on these cores skews the figures"
    )


# --- main ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="reset and seeded: never a real one")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="its database is flushed")
    parser.add_argument("--specialists", type=int, default=200)
    parser.add_argument("--participants", type=int, default=4000)
    parser.add_argument("--consultations", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--lead-days", type=int, default=3, help="the first seeded day is today + this")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured load before each")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 2,000 consultations, concurrency 16, 1.5 s each"
    )
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--time-limit", type=float, default=1500.0, help="seconds for the whole run")
    args = parser.parse_args(argv)
    if args.quick:
        args.consultations, args.duration, args.warmup, args.concurrency = 2000, 1.5, 0.5, [16]
    return args


async def run_all(args: argparse.Namespace, workdir: Path) -> int:
    rng = random.Random(args.seed)
    url = check_database_url(args.database_url)
    database_url = url.render_as_string(hide_password=False)
    load_before = os.getloadavg()
    await mail_bench.flush_redis(args.redis_url)
    world = await prepare(url, args, rng)
    engine = make_engine(database_url)
    try:
        tokens = await seed_open_links(engine, world, rng)
        before = await booking_bench.count_consultations(engine)
    finally:
        await engine.dispose()
    os.environ["BENCH_REDIS_URL"] = args.redis_url
    worker_env = mail_bench.child_env(
        database_url=database_url, redis_url=args.redis_url, mail_dir=str(workdir / "mail"), database_pool_size="8"
    )
    worker = mail_bench.Child("telecon worker", ["-m", "telecon", "worker"], workdir / "worker.log", worker_env)
    run = Run(args.warmup, args.duration)
    setup = Setup(run, database_url, workdir, world, tokens, iter(world.free_slots), rng, args.concurrency)
    started = time.perf_counter()
    try:
        for processes in args.processes:
            print(f"\ntelecon (bench_app, as `telecon serve`), {processes} process(es), Redis + one arq worker:")
            await telecon_pass(setup, processes)
            worker.alive()
            print(f"raw asyncpg booking transaction (bench/raw_app.py), {processes} process(es):")
            await raw_pass(setup, processes)
        engine = make_engine(database_url)
        try:
            outbox, due = await wait_drained(engine, limit=60)
            after = await booking_bench.count_consultations(engine)
        finally:
            await engine.dispose()
        worker_cpu = booking_bench.process_cpu_seconds(worker.pid)
    finally:
        worker.stop()
    measuring = time.perf_counter() - started
    report(run, args.processes, args.concurrency)
    print_machine(load_before)
    print(
        f"measuring took {measuring:.0f} s ({args.duration:.1f} s per measurement after {args.warmup:.1f} s warm-up); "
        "client: raw asyncio streams, one keep-alive connection per concurrent client"
    )
    print(
        f"the arq worker used {worker_cpu:.0f} s of CPU in those {measuring:.0f} s (sending the bookings' mail to "
        "files: it competes with the servers and PostgreSQL for the same cores)"
    )
    print(f"database connections: {TOTAL_POOL} in all, split over the app processes (telecon and raw alike)")
    consistent = after - before == run.created
    print(
        f"consultations: {before} → {after} (+{after - before}; 201 answers: {run.created}) "
        f"{'consistent' if consistent else 'MISMATCH'}"
    )
    print(
        f"outbox after the run and up to a minute's wait: {dict(sorted(outbox.items()))}; telecon's rows due but "
        f"unsent: {due} (reminders wait for their day; the raw reference's rows are voided by the worker)"
    )
    errors = sum(run.errors.values())
    print(f"error responses (anything but 2xx, and 409 on booking): {errors}")
    return 0 if consistent and errors == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return booking_bench.run_bounded(lambda workdir: run_all(args, workdir), args.time_limit, "telecon-network-")


if __name__ == "__main__":
    sys.exit(main())
