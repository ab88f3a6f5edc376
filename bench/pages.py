"""Benchmark the staff pages: server time of the coach's week with 200 consultations, and each page's weight.

Run by hand, never by the test suite::

    .venv/bin/python bench/pages.py                          # SQLite in a scratch directory, about a minute
    .venv/bin/python bench/pages.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_bench
    BENCH_PAGES_DATABASE_URL=postgresql+asyncpg://… .venv/bin/python bench/pages.py
    .venv/bin/python bench/pages.py --profile /tmp/week.prof  # the measuring server under cProfile

What it does:

1. **Seed.** A scratch SQLite file (or the PostgreSQL database given, whose ``public`` schema it drops and
   re-creates; never ``test``/``postgres``, loopback only), migrated. One organization, a coach, an admin,
   three physicians available Mon–Fri 08:00–16:00, 60 participants with both consents, a 30-minute type.
2. **Book.** The app (uvicorn, one worker, in a subprocess) on a clock one week before the measured week;
   the coach books 210 consultations of that week through ``POST /api/v1/consultations`` (every third with
   a guest), so attendees, join links and invitation rows are the app's own. Then, in SQL: ten of them move
   to the week before and become no-shows (the follow-up list), the invitations get delivery states
   (sent, some failed, some pending), and everyone of a consultation before Wednesday noon opened their link.
   The week left holds 200 consultations with every column of the coach's week filled.
3. **Server time.** The app again, its clock at Wednesday noon of that week; the coach signs in through the
   form. ``GET /coach`` (this week, 200 rows) after 20 warm-up requests: ``--requests`` sequentially, then the
   same number at ``--concurrency``. "Server time" is measured in the server process by an ASGI wrapper
   around the app: from the call of the app to its last body message (routing, session, queries, template,
   commit). The loopback round trip seen by the client (httpx) is printed next to it.
4. **Weight.** Every main staff page (sign-in, coach's week, booking with a specialist's grid, participants,
   a participant, a consultation, availability, the specialist's agenda, the join page) is fetched, and each
   stylesheet and script it references; its weight is the sum of bytes as served, and gzip-compressed
   (level 6, as a proxy would). The Jitsi script of the join page (an address of the Jitsi server, not of
   this app) is left out, as the issue says. A page over 150 KB (150,000 bytes) uncompressed is flagged.

Targets (issue 15): p95 server time under 50 ms for the week, no page over 150 KB. The exit status is 1 when
the week does not show 200 consultations; the targets are printed, not enforced.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench as booking_bench
from telecon import migrate
from telecon.access import Role
from telecon.db import make_engine, make_sessionmaker
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession
from telecon.outbox.models import EMAIL_PREFIX, OutboxMessage, OutboxStatus
from telecon.participants.models import Consent, ConsentKind, Participant
from telecon.passwords import hash_password
from telecon.scheduling.models import Attendee, AvailabilityRule, Consultation, ConsultationStatus, ConsultationType

ZONE = ZoneInfo("Europe/Berlin")
PASSWORD = "bench password, not a secret"  # noqa: S105
COACH = "coach@pages.bench.invalid"
SPECIALIST = "specialist0@pages.bench.invalid"
SPECIALISTS = 3
PARTICIPANTS = 60
WEEK_CONSULTATIONS = 200
NO_SHOWS = 10
SLOT = timedelta(minutes=30)
TARGET_P95_MS = 50.0
TARGET_PAGE_BYTES = 150_000
ASSET = re.compile(r"""<(?:link[^>]*\brel="stylesheet"[^>]*\bhref|script[^>]*\bsrc)="([^"]+)\"""")
CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')


# --- the app as measured (``uvicorn --factory pages:make_app``, in the server process) -------------------


class ServerTime:
    """ASGI wrapper: appends "method path status milliseconds" per request to ``BENCH_TIMINGS``.

    From the call of the app to the last body message: everything the server does for a page but the socket.
    """

    def __init__(self, app: Any, out: Path) -> None:
        self.app = app
        self.out = out.open("a", buffering=1)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def timed(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                elapsed = (time.perf_counter() - started) * 1000
                self.out.write(f"{scope['method']}\t{scope['path']}\t{status}\t{elapsed:.3f}\n")

        await self.app(scope, receive, timed)


def make_app() -> Any:
    from telecon.app import create_app, freeze_startup_heap
    from telecon.settings import Settings

    start = datetime.fromisoformat(os.environ["BENCH_NOW"])
    started = time.monotonic()

    def clock() -> datetime:
        return start + timedelta(seconds=time.monotonic() - started)

    settings = Settings(
        database_url=os.environ["BENCH_DATABASE_URL"],
        # A Redis URL, so the web process runs no relay of its own (as in production): the invitations keep
        # the states the seeder gives them. Only /ready would talk to it.
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        mail_dir=Path(os.environ.get("BENCH_MAIL_DIR") or tempfile.mkdtemp(prefix="telecon-pages-mail-")),
        min_notice_minutes=0,
    )
    app = create_app(settings, clock=clock)
    freeze_startup_heap()
    return ServerTime(app, Path(os.environ["BENCH_TIMINGS"]))


# --- seeding -------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    organization_id: uuid.UUID
    type_id: uuid.UUID
    specialists: list[uuid.UUID]
    participants: list[uuid.UUID]


def monday_in_weeks(weeks: int) -> date:
    today = datetime.now(ZONE).date()
    return today - timedelta(days=today.weekday()) + timedelta(weeks=weeks)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=ZONE)


async def prepare_database(url: str, workdir: Path) -> str:
    if url.startswith("sqlite"):
        engine = make_engine(url)
        await migrate.upgrade(engine)
        await engine.dispose()
        return url
    parsed = make_url(url)
    if parsed.database in booking_bench.FORBIDDEN_DATABASES or parsed.host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to reset {parsed.database!r} on {parsed.host!r}: a loopback scratch database only")
    await booking_bench.create_database_if_missing(parsed)
    engine = make_engine(url)
    await booking_bench.reset_and_migrate(engine)
    await engine.dispose()
    return url


async def seed_staff(engine: AsyncEngine) -> Seeded:
    password_hash = hash_password(PASSWORD)
    async with make_sessionmaker(engine)() as session, session.begin():
        org = await organizations.get_or_create_organization(session, "Jobcenter Seitenmessung")

        async def staff(email: str, role: Role, profession: Profession | None = None) -> uuid.UUID:
            user = await organizations.create_user(
                session,
                organization_id=org.id,
                email=email,
                role=role,
                display_name=email.split("@")[0].capitalize(),
                password_hash=password_hash,
                profession=profession,
            )
            return user.id

        await staff("admin@pages.bench.invalid", Role.admin)
        coach_id = await staff(COACH, Role.coach)
        specialists = [
            await staff(f"specialist{i}@pages.bench.invalid", Role.specialist, Profession.physician)
            for i in range(SPECIALISTS)
        ]
        session.add_all(
            AvailabilityRule(specialist_id=s, weekday=d, start_time=clock_time(8), end_time=clock_time(16))
            for s in specialists
            for d in range(5)
        )
        kind = ConsultationType(
            organization_id=org.id, name="Videosprechstunde", duration_minutes=30, buffer_minutes=0, professions=[]
        )
        session.add(kind)
        participants = [
            Participant(
                organization_id=org.id,
                display_name=f"Teilnehmerin {i:02d} Musterfrau-Beispielname",
                email=f"participant{i:02d}@pages.bench.invalid",
                coach_id=coach_id,
            )
            for i in range(PARTICIPANTS)
        ]
        session.add_all(participants)
        await session.flush()
        session.add_all(
            Consent(organization_id=org.id, participant_id=p.id, kind=k, granted=True, recorded_by_id=coach_id)
            for p in participants
            for k in (ConsentKind.video_consultation, ConsentKind.email_contact)
        )
        return Seeded(org.id, kind.id, specialists, [p.id for p in participants])


async def book_week(client: httpx.AsyncClient, seeded: Seeded, monday: date) -> list[dict[str, Any]]:
    login = await client.post("/api/v1/auth/login", json={"email": COACH, "password": PASSWORD})
    login.raise_for_status()
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    starts = [local(monday + timedelta(days=d), 8) + k * SLOT for d in range(5) for k in range(16)]
    booked = []
    for index in range(WEEK_CONSULTATIONS + NO_SHOWS):
        specialist = seeded.specialists[index % SPECIALISTS]
        start = starts[index // SPECIALISTS]
        body: dict[str, Any] = {
            "participant_id": str(seeded.participants[index % PARTICIPANTS]),
            "specialist_id": str(specialist),
            "consultation_type_id": str(seeded.type_id),
            "start": start.isoformat(),
        }
        if index % 3 == 0:
            body["guests"] = [{"name": "Dolmetscherin Beispiel", "email": f"guest{index}@pages.bench.invalid"}]
        answer = await client.post("/api/v1/consultations", json=body, headers=headers)
        if answer.status_code != 201:
            raise SystemExit(f"booking {index} failed: {answer.status_code} {answer.text[:300]}")
        booked.append(answer.json())
    return booked


async def fill_the_columns(engine: AsyncEngine, booked: list[dict[str, Any]], now: datetime) -> None:
    """No-shows the week before, delivery states, and links opened before ``now``."""
    first = sorted(booked, key=lambda c: c["start"])[:NO_SHOWS]
    async with make_sessionmaker(engine)() as session, session.begin():
        for consultation in first:
            await session.execute(
                update(Consultation)
                .where(Consultation.id == uuid.UUID(consultation["id"]))
                .values(
                    starts_at=datetime.fromisoformat(consultation["start"]) - timedelta(days=7),
                    ends_at=datetime.fromisoformat(consultation["end"]) - timedelta(days=7),
                    blocked_until=datetime.fromisoformat(consultation["end"]) - timedelta(days=7),
                    status=ConsultationStatus.no_show,
                )
            )
        messages = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.topic.startswith(EMAIL_PREFIX)).order_by(OutboxMessage.id)
            )
        )
        for index, message in enumerate(messages):
            if index % 10 == 0:
                message.status, message.last_error = OutboxStatus.failed, "550 5.1.1 mailbox unavailable"
            elif index % 10 != 1:
                message.status, message.sent_at = OutboxStatus.sent, now - timedelta(days=6)
        started = select(Consultation.id).where(Consultation.starts_at < now)
        await session.execute(
            update(Attendee)
            .where(Attendee.consultation_id.in_(started))
            .values(first_joined_at=now - timedelta(hours=1), last_joined_at=now - timedelta(hours=1), join_count=1)
        )


# --- measuring -----------------------------------------------------------------------------------------


def read_timings(path: Path, since: int) -> tuple[list[float], int]:
    lines = path.read_text().splitlines()
    times = [float(line.split("\t")[3]) for line in lines[since:] if line.startswith("GET\t/coach\t")]
    return times, len(lines)


async def sign_in(client: httpx.AsyncClient, email: str) -> None:
    page = await client.get("/login")
    found = CSRF.search(page.text)
    assert found, page.text
    answer = await client.post("/login", data={"csrf_token": found.group(1), "email": email, "password": PASSWORD})
    if answer.status_code != 303:
        raise SystemExit(f"signing in as {email} failed: {answer.status_code}")


async def timed_requests(client: httpx.AsyncClient, path: str, count: int, concurrency: int) -> list[float]:
    """Round trips in ms, ``concurrency`` requests in flight."""
    round_trips: list[float] = []
    per_worker = [count // concurrency + (1 if i < count % concurrency else 0) for i in range(concurrency)]

    async def worker(n: int) -> None:
        for _ in range(n):
            started = time.perf_counter()
            answer = await client.get(path)
            round_trips.append((time.perf_counter() - started) * 1000)
            if answer.status_code != 200:
                raise SystemExit(f"{path}: {answer.status_code}")

    await asyncio.gather(*(worker(n) for n in per_worker))
    return round_trips


def percentiles(values: Sequence[float]) -> str:
    ordered = sorted(values)
    p50, p95, p99 = (booking_bench.percentile(ordered, f) for f in (0.50, 0.95, 0.99))
    return f"{p50:7.1f} {p95:7.1f} {p99:7.1f} {max(ordered):7.1f} {statistics.fmean(ordered):7.1f}"


@dataclass
class Weight:
    page: str
    status: int
    html: int
    assets: dict[str, int]
    gzip: int

    @property
    def total(self) -> int:
        return self.html + sum(self.assets.values())


async def page_weight(client: httpx.AsyncClient, label: str, path: str) -> Weight:
    """The page's HTML plus every stylesheet and script of this app it references, as served."""
    page = await client.get(path)
    assets: dict[str, int] = {}
    compressed = len(gzip.compress(page.content, 6))
    for src in dict.fromkeys(ASSET.findall(page.text)):
        if not src.startswith("/"):
            continue  # the Jitsi server's external_api.js on the join page: not ours, left out by the issue
        asset = await client.get(src)
        assets[src] = len(asset.content)
        compressed += len(gzip.compress(asset.content, 6))
    return Weight(label, page.status_code, len(page.content), assets, compressed)


async def weights(
    client: httpx.AsyncClient, seeded: Seeded, booked: list[dict[str, Any]], monday: date
) -> list[Weight]:
    consultation = booked[-1]
    join = next(a["join_url"] for a in consultation["attendees"] if a["kind"] == "participant")
    join_path = httpx.URL(join).path
    book = (
        f"/book?participant_id={seeded.participants[0]}&consultation_type_id={seeded.type_id}"
        f"&specialist_id={seeded.specialists[0]}&week={monday + timedelta(weeks=1)}"
    )
    async with httpx.AsyncClient(base_url=str(client.base_url)) as anonymous:
        found = [await page_weight(anonymous, "sign-in", "/login"), await page_weight(anonymous, "join", join_path)]
    pages: list[tuple[str, str]] = [
        ("coach's week (200)", f"/coach?week={monday}"),
        ("booking grid", book),
        ("participants", "/participants"),
        ("participant", f"/participants/{seeded.participants[0]}"),
        ("consultation", f"/consultations/{consultation['id']}"),
    ]
    for label, path in pages:
        found.append(await page_weight(client, label, path))
    async with httpx.AsyncClient(base_url=str(client.base_url)) as specialist:
        await sign_in(specialist, SPECIALIST)
        for label, path in (("specialist's agenda", "/specialist"), ("availability", "/availability")):
            found.append(await page_weight(specialist, label, path))
    return found


async def measure(args: argparse.Namespace, workdir: Path) -> int:
    url = (
        args.database_url or os.environ.get("BENCH_PAGES_DATABASE_URL") or f"sqlite+aiosqlite:///{workdir / 'pages.db'}"
    )
    url = await prepare_database(url, workdir)
    engine = make_engine(url)
    seeded = await seed_staff(engine)
    monday = monday_in_weeks(2)
    booking_now = local(monday - timedelta(days=7), 9).astimezone(UTC)
    measuring_now = local(monday + timedelta(days=2), 12).astimezone(UTC)
    timings = workdir / "timings.tsv"
    timings.touch()
    os.environ.update(BENCH_TIMINGS=str(timings), BENCH_REDIS_URL=args.redis_url, BENCH_MAIL_DIR=str(workdir / "mail"))

    def server(now: datetime, profile: Path | None, name: str) -> booking_bench.Server:
        os.environ["BENCH_NOW"] = now.isoformat()
        return booking_bench.Server(url, booking_bench.free_port(), workdir / f"{name}.log", profile, "pages:make_app")

    started = time.monotonic()
    booking_server = server(booking_now, None, "booking")
    booking_server.start()
    try:
        async with httpx.AsyncClient(base_url=booking_server.base_url, timeout=60) as client:
            booked = await book_week(client, seeded, monday)
    finally:
        booking_server.stop()
    await fill_the_columns(engine, booked, measuring_now)
    await engine.dispose()
    print(f"database: {make_url(url).get_backend_name()}; seeded and booked in {time.monotonic() - started:.1f} s")

    week_server = server(measuring_now, args.profile, "week")
    week_server.start()
    try:
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=week_server.base_url, timeout=60, limits=limits) as client:
            await sign_in(client, COACH)
            page = await client.get("/coach")
            rows = page.text.count('<tr class="status-')
            no_shows = page.text.count('<tr class="status-no_show"')
            print(
                f"GET /coach: {rows - no_shows} consultations this week, {no_shows} no-shows to follow up, "
                f"{len(page.content):,} bytes"
            )
            if rows - no_shows != WEEK_CONSULTATIONS:
                print(f"expected {WEEK_CONSULTATIONS} consultations in the week", file=sys.stderr)
                return 1
            await timed_requests(client, "/coach", args.warmup, 1)
            _, mark = read_timings(timings, 0)
            results: list[tuple[str, list[float], list[float]]] = []
            for concurrency in (1, args.concurrency):
                round_trips = await timed_requests(client, "/coach", args.requests, concurrency)
                await asyncio.sleep(0.2)
                server_times, mark = read_timings(timings, mark)
                results.append((f"concurrency {concurrency}", server_times, round_trips))
            print(
                f"\nGET /coach, this week with {WEEK_CONSULTATIONS} consultations, {args.requests} requests each "
                f"(ms; server = in the app process, round trip = httpx over loopback)"
            )
            print(f"{'':28} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7} {'mean':>7}")
            for label, server_times, round_trips in results:
                print(f"{label + ', server':28} {percentiles(server_times)}")
                print(f"{label + ', round trip':28} {percentiles(round_trips)}")
            p95 = booking_bench.percentile(sorted(results[0][1]), 0.95)

            found = await weights(client, seeded, booked, monday)
    finally:
        week_server.stop()

    limit = f"bytes; limit {TARGET_PAGE_BYTES:,}"
    print(f"\nPage weight: HTML + the stylesheets and scripts it references, as served ({limit})")
    print(f"{'page':22} {'status':>6} {'HTML':>8} {'assets':>8} {'total':>8} {'gzip':>7}  assets")
    heavy = []
    for w in found:
        flag = "  OVER 150 KB" if w.total > TARGET_PAGE_BYTES else ""
        if flag:
            heavy.append(w.page)
        listed = ", ".join(f"{src.rsplit('/', 1)[-1]} {size:,}" for src, size in w.assets.items())
        print(
            f"{w.page:22} {w.status:>6} {w.html:>8,} {sum(w.assets.values()):>8,} {w.total:>8,} {w.gzip:>7,}  "
            f"{listed}{flag}"
        )
    print("\n(the join page's Jitsi script, external_api.js from the Jitsi server, is not counted)")
    print(
        f"\nTargets: week p95 server time < {TARGET_P95_MS:.0f} ms (sequential): {p95:.1f} ms "
        f"{booking_bench.verdict(p95 < TARGET_P95_MS)}; no page over 150 KB: "
        f"{booking_bench.verdict(not heavy)}{' (' + ', '.join(heavy) + ')' if heavy else ''}"
    )
    print(
        f"load average {os.getloadavg()[0]:.2f}; single-core loop of 10^6 additions: "
        f"{booking_bench.python_loop_ms():.0f} ms"
    )
    return 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--database-url", help="PostgreSQL (reset!) instead of a scratch SQLite file")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11", help="only so the app runs no relay")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--profile", type=Path, help="the measuring server under cProfile (.prof) or pyinstrument")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (the SQLite file, logs)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        return asyncio.run(measure(args, args.keep))
    with tempfile.TemporaryDirectory(prefix="telecon-pages-") as workdir:
        return asyncio.run(measure(args, Path(workdir)))


if __name__ == "__main__":
    raise SystemExit(main())
