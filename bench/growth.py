"""Slot search and booking as the consultations table grows: 1,000 → 10,000 → 100,000 → 1,000,000 (issue 16).

Run by hand, never by the test suite::

    .venv/bin/python bench/growth.py                      # about 8 minutes
    .venv/bin/python bench/growth.py --steps 1000 10000   # a smoke run

It resets ``telecon_bench_growth`` (never ``test``) and seeds it with ``bench.py``'s seeder: 200 specialists, 12
weeks of availability and the first step's consultations in those weeks. Each further step grows the same database
with past consultations (two attendees each), written by one ``INSERT … SELECT`` over ``generate_series`` per
chunk, then ``VACUUM ANALYZE``. The weeks searched keep the same bookings: what grows is the history that a range
query on indexed columns must not read. At each step, one telecon process (with Redis database 10, no arq worker
needed) answers slot search (one specialist × 4 weeks; a profession of 40 × 2 weeks) at concurrency 4 and
booking at concurrency 16. At the last step it runs ``EXPLAIN`` on the SQL telecon sends for a search and a
booking (captured in-process) and says whether any of it scans ``consultation`` or ``attendee`` sequentially.
It prints a table and writes ``bench/growth.png``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import network
from sqlalchemy import event
from sqlalchemy.engine import Engine

import bench as booking_bench

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_bench_growth"
PLOT = Path(__file__).resolve().parent / "growth.png"
SEQUENTIAL = re.compile(r"Seq Scan on (consultation|attendee)\b")
WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
CHUNK = 100_000
"""Consultations per INSERT statement while growing."""

GROW = """
WITH grown AS (
    INSERT INTO consultation (id, organization_id, participant_id, specialist_id, booked_by_id, consultation_type_id,
        starts_at, ends_at, blocked_until, status, room_name, sequence, created_at, updated_at)
    SELECT gen_random_uuid(), $1, ($2::uuid[])[1 + (k * 7 + s.n) % cardinality($2::uuid[])], s.id, $3, $4,
        $5::timestamptz - (k + 1) * interval '30 minutes', $5::timestamptz - k * interval '30 minutes',
        $5::timestamptz - k * interval '30 minutes',
        'completed', md5(random()::text), 0, now(), now()
    FROM unnest($6::uuid[]) WITH ORDINALITY AS s(id, n), generate_series($7::int, $8::int - 1) AS k
    RETURNING id, participant_id, specialist_id
)
INSERT INTO attendee (id, consultation_id, kind, user_id, participant_id, name, language, jitsi_role, token_nonce,
    token_hash, join_count)
SELECT gen_random_uuid(), id, 'participant', NULL, participant_id, 'participant', 'de', 'participant',
    md5(random()::text), md5(random()::text) || md5(random()::text), 0 FROM grown
UNION ALL
SELECT gen_random_uuid(), id, 'specialist', specialist_id, NULL, 'specialist', 'de', 'moderator',
    md5(random()::text), md5(random()::text) || md5(random()::text), 0 FROM grown
"""
"""Past consultations back to back, every 30 minutes around the clock, before ``$5`` (the seeded weeks' start):
slots ``[$7, $8)`` counted backwards, for each specialist in ``$6``."""


class History:
    """Grows the consultations table with past ones, further back at each step."""

    def __init__(self, world: booking_bench.World, coach_id: uuid.UUID) -> None:
        self.world, self.coach_id = world, coach_id
        self.anchor = booking_bench.local_midnight(world.first_day) - timedelta(days=1)
        self.slots_used = 0

    async def grow(self, connection: asyncpg.Connection, count: int) -> None:
        specialists = [s for s, _ in self.world.specialists]
        per_specialist = -(-count // len(specialists))
        step = max(1, CHUNK // len(specialists))
        end = self.slots_used + per_specialist
        for first in range(self.slots_used, end, step):
            last = min(end, first + step)
            await connection.execute(
                GROW,
                self.world.organization_id,
                self.world.participant_ids,
                self.coach_id,
                self.world.type_id,
                self.anchor,
                specialists,
                first,
                last,
            )
        self.slots_used = end


async def count_rows(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT count(*) FROM consultation"))


# --- EXPLAIN -------------------------------------------------------------------------------------------


async def explain_requests(database_url: str, redis_url: str, world: booking_bench.World) -> list[str]:
    """Run one slot search of each kind and one booking in-process, and EXPLAIN every statement they send.

    The statements are captured from SQLAlchemy (``before_cursor_execute`` on every engine) with their
    parameters, so the plans are those of telecon's own SQL on the grown table. SELECTs are run with ANALYZE;
    writes are only planned. Returns the plan lines that scan ``consultation`` or ``attendee`` sequentially.
    """
    from litestar.testing import AsyncTestClient

    from telecon.app import create_app
    from telecon.settings import Settings

    captured: list[tuple[str, str, Any]] = []
    label = ["login"]

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
        if not many:
            captured.append((label[0], statement, parameters))

    app = create_app(Settings(database_url=database_url, redis_url=redis_url))
    slot = world.free_slots[-1]  # the measurements book from the front of this list
    event.listen(Engine, "before_cursor_execute", capture)
    try:
        async with AsyncTestClient(app=app) as client:
            login = await client.post(
                "/api/v1/auth/login", json={"email": world.coach_email, "password": booking_bench.PASSWORD}
            )
            headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
            for name, path in (
                ("slots: one specialist × 4 weeks", booking_bench.slot_path(world, 28, specialist_id=slot[0])),
                ("slots: profession × 2 weeks", booking_bench.slot_path(world, 14, profession="physician")),
            ):
                label[0] = name
                response = await client.get(path, headers=headers)
                response.raise_for_status()
            label[0] = "booking"
            body = {
                "participant_id": str(world.participant_ids[0]),
                "specialist_id": str(slot[0]),
                "consultation_type_id": str(world.type_id),
                "start": slot[1].isoformat(),
            }
            response = await client.post("/api/v1/consultations", json=body, headers=headers)
            if response.status_code != 201:
                raise RuntimeError(f"the EXPLAIN booking failed: {response.status_code} {response.text[:300]}")
    finally:
        event.remove(Engine, "before_cursor_execute", capture)

    url = database_url.replace("postgresql+asyncpg://", "postgresql://")
    connection = await asyncpg.connect(url)
    sequential: list[str] = []
    try:
        for name, statement, parameters in captured:
            if name == "login" or not any(t in statement for t in ("consultation", "attendee")):
                continue
            reads = statement.lstrip().upper().startswith(("SELECT", "WITH")) and not WRITES.search(statement)
            options = "ANALYZE, BUFFERS" if reads else "COSTS"
            values = list(parameters.values()) if isinstance(parameters, dict) else list(parameters or ())
            transaction = connection.transaction()
            await transaction.start()
            try:
                plan = [row[0] for row in await connection.fetch(f"EXPLAIN ({options}) {statement}", *values)]
            except asyncpg.PostgresError as error:
                plan = [f"(could not EXPLAIN: {error})"]
            finally:
                await transaction.rollback()
            print(f"\n[{name}] {' '.join(statement.split())[:300]}")
            for line in plan:
                print(f"    {line}")
                if SEQUENTIAL.search(line):
                    sequential.append(f"{name}: {line.strip()}")
    finally:
        await connection.close()
    return sequential


# --- measuring -----------------------------------------------------------------------------------------


async def measure_step(
    run: network.Run,
    step: int,
    database_url: str,
    workdir: Path,
    world: booking_bench.World,
    slots: Iterator[tuple[uuid.UUID, datetime]],
    rng: random.Random,
    args: argparse.Namespace,
) -> None:
    """The three measurements on a fresh server (its statement caches see the grown table's statistics)."""
    server = network.AppServer(database_url, workdir / f"growth-{step}.log", "bench_app:make_app", 1)
    connect, _ = booking_bench.connection_factory("raw", server.port)
    professions = [p.value for p in booking_bench.PROFESSIONS]
    try:
        server.start()
        connection = connect()
        try:
            headers = await booking_bench.login(connection, world.coach_email)
        finally:
            await connection.close()
        one = network.get_picker(
            lambda: booking_bench.slot_path(world, 28, specialist_id=rng.choice(world.specialists)[0])
        )
        profession = network.get_picker(lambda: booking_bench.slot_path(world, 14, profession=rng.choice(professions)))
        for kind, label, pick, concurrency in (
            ("one", "slots: one specialist × 4 weeks", one, args.search_concurrency),
            ("profession", "slots: profession (40) × 2 weeks", profession, args.search_concurrency),
            ("booking", "booking", network.booking_picker(world, slots, rng), args.booking_concurrency),
        ):
            # ``processes`` holds the step here: the table's size when measured.
            await run.measure(kind, label, step, concurrency, connect, headers, pick)
    finally:
        server.stop()


def plot(run: network.Run, steps: Sequence[int], args: argparse.Namespace, load: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.8), dpi=110)
    for kind, label, concurrency, colour in (
        ("one", "slot search, one specialist × 4 weeks", args.search_concurrency, "tab:blue"),
        ("profession", "slot search, profession (40) × 2 weeks", args.search_concurrency, "tab:orange"),
        ("booking", "booking", args.booking_concurrency, "tab:green"),
    ):
        results = [run.results[(kind, step, c)] for step in steps for c in [concurrency]]
        axes.plot(steps, [r.stat(0.5) for r in results], "o-", color=colour, label=f"{label} (c={concurrency}) p50")
        axes.plot(steps, [r.stat(0.95) for r in results], "s--", color=colour, alpha=0.6, label="p95")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("consultations in the database")
    axes.set_ylabel("latency, ms (log)")
    axes.set_title(f"telecon on PostgreSQL as the history grows ({load})", fontsize=9)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=7, ncols=2)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL, help="reset and seeded: never a real one")
    parser.add_argument("--redis-url", default=network.DEFAULT_REDIS_URL, help="its database is flushed")
    parser.add_argument("--steps", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--specialists", type=int, default=200)
    parser.add_argument("--participants", type=int, default=4000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--lead-days", type=int, default=3)
    parser.add_argument("--search-concurrency", type=int, default=4)
    parser.add_argument("--booking-concurrency", type=int, default=16)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--seed", type=int, default=20261203)
    parser.add_argument("--time-limit", type=float, default=2400.0)
    args = parser.parse_args(argv)
    args.consultations = args.steps[0]
    return args


async def run_all(args: argparse.Namespace, workdir: Path) -> int:
    import mail as mail_bench

    rng = random.Random(args.seed)
    url = network.check_database_url(args.database_url)
    database_url = url.render_as_string(hide_password=False)
    load_before = os.getloadavg()
    await mail_bench.flush_redis(args.redis_url)
    world = await network.prepare(url, args, rng)
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        coach_id = await connection.fetchval("SELECT id FROM user_account WHERE email = $1", world.coach_email)
    finally:
        await connection.close()
    history = History(world, coach_id)
    os.environ["BENCH_REDIS_URL"] = args.redis_url
    run = network.Run(args.warmup, args.duration, unit="rows")
    slots = iter(world.free_slots)
    growth_s: dict[int, float] = {}
    for step in args.steps:
        connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            have = await count_rows(connection)
            started = time.perf_counter()
            if step > have:
                await history.grow(connection, step - have)
                await connection.execute("VACUUM ANALYZE consultation")
                await connection.execute("VACUUM ANALYZE attendee")
            growth_s[step] = time.perf_counter() - started
            have = await count_rows(connection)
        finally:
            await connection.close()
        print(f"\n{have:,} consultations (grown in {growth_s[step]:.0f} s):", flush=True)
        await measure_step(run, step, database_url, workdir, world, slots, rng, args)

    print(f"\nEXPLAIN at {args.steps[-1]:,} consultations, of the SQL telecon sends:")
    sequential = await explain_requests(database_url, args.redis_url, world)

    print("\ngrowth: latency (ms) and req/s as existing consultations grow")
    rows = []
    for step in args.steps:
        row = [f"{step:,}"]
        for kind in ("one", "profession", "booking"):
            concurrency = args.booking_concurrency if kind == "booking" else args.search_concurrency
            result = run.results[(kind, step, concurrency)]
            row += [booking_bench.ms(result.stat(0.5)), booking_bench.ms(result.stat(0.95)), f"{result.rate:.0f}"]
        rows.append(row)
    booking_bench.print_table(
        [
            "consultations",
            "one×4w p50",
            "p95",
            "req/s",
            "profession×2w p50",
            "p95",
            "req/s",
            "booking p50",
            "p95",
            "req/s",
        ],
        rows,
    )
    load = os.getloadavg()
    load_text = f"1-min load {load_before[0]:.1f} before, {load[0]:.1f} after; 2 shared cores"
    print(
        f"concurrency: slot search {args.search_concurrency}, booking {args.booking_concurrency}; "
        f"{args.duration:.0f} s per measurement after {args.warmup:.0f} s warm-up"
    )
    network.print_machine(load_before)
    plot(run, args.steps, args, load_text, args.plot)
    print(f"plot: {args.plot}")
    if sequential:
        print("sequential scans on the grown tables (a finding):")
        for line in sequential:
            print(f"  {line}")
    else:
        print("no sequential scan of consultation or attendee in any plan")
    errors = sum(run.errors.values())
    print(f"error responses (anything but 2xx, and 409 on booking): {errors}")
    return 0 if errors == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    return booking_bench.run_bounded(lambda workdir: run_all(args, workdir), args.time_limit, "telecon-growth-")


if __name__ == "__main__":
    sys.exit(main())
