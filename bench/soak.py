"""Soak: minutes of mixed traffic while PostgreSQL, Redis, an arq worker and the mail server each fail once.

Run by hand, never by the test suite (it takes the whole run plus the outbox's drain)::

    .venv/bin/python bench/soak.py [--minutes 10] [--clients 8]

Everything it needs it starts itself, so it disturbs nothing else on the machine: a PostgreSQL cluster of its
own (``initdb`` in a temporary folder, as the ``postgres`` user when run as root), a Redis of its own, a mail
server (aiosmtpd, in this process) that can be told to refuse, one ``telecon serve`` and two ``telecon worker``
processes. It seeds one organization (six physicians available around the clock, 40 participants who consented)
and runs ``--clients`` clients, each doing a mix of slot search, booking, reschedule, cancel, join-link look-up,
outcome and waitlist (add, confirm). The faults, at fixed points of the run:

- 20 %: PostgreSQL is restarted (``pg_ctl restart -m fast``);
- 40 %: Redis is restarted (it keeps nothing: the queue is empty afterwards);
- 55 %: one worker is killed with SIGKILL, and a new one started;
- 70 %: the mail server answers 451 to every message for a tenth of the run.

Afterwards it waits for the outbox to drain and checks the invariants:

1. no two consultations or holds of a specialist overlap (what the exclusion constraint promises);
2. every email the outbox marks ``sent`` reached the mail server (by its Message-ID, which is the row's id), and
   nothing reached it that the outbox does not mark ``sent``; copies beyond the first are counted (at-least-once);
3. no outbox row is stuck: none pending and due, none ``failed``;
4. no 5xx answer outside the seconds the database was down (plus a grace of a few seconds).

It prints what it did, the answers by operation and status, latencies, the emails, and each invariant's verdict;
the exit status is 0 only when all invariants hold.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from telecon import migrate  # noqa: E402
from telecon.access import Role  # noqa: E402
from telecon.db import make_engine, make_sessionmaker  # noqa: E402
from telecon.organizations import services as organizations  # noqa: E402
from telecon.organizations.models import Profession  # noqa: E402
from telecon.participants.models import Consent, ConsentKind, Participant  # noqa: E402
from telecon.passwords import hash_password  # noqa: E402
from telecon.scheduling.models import AvailabilityRule, ConsultationType  # noqa: E402

PASSWORD = "soak-password-2026"  # noqa: S105 (the soak's own throwaway accounts)
GRACE = 5.0
"""Seconds after PostgreSQL answers again in which a 5xx still counts as the outage's."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the parts it starts ----------------------------------------------------------------------------


class Postgres:
    """A throwaway PostgreSQL cluster on a port of its own."""

    def __init__(self, workdir: Path) -> None:
        self.bin = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1])
        self.dir = workdir / "pg"
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as_postgres, *args], check=True, capture_output=True)  # noqa: S603

    def init(self) -> None:
        self.dir.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.dir.parent, "postgres")
            shutil.chown(self.dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres")

    def _ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.dir), "-o", options, "-l", str(self.dir / "log"), "-w", *args
        )

    def start(self) -> None:
        self._ctl("start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._ctl("-m", "fast", "stop")


class Redis:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise RuntimeError("redis did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)


class Mailbox:
    """aiosmtpd's handler: keeps each message's Message-ID; answers 451 while ``refusing``."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.refused = 0
        self.refusing = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusing:
            self.refused += 1
            return "451 4.3.0 soak: the mail server refuses for a while"
        content = (
            envelope.content.decode("utf-8", errors="replace")
            if isinstance(envelope.content, bytes)
            else envelope.content
        )
        for line in content.splitlines():
            if line.lower().startswith("message-id:"):
                with self._lock:
                    self.received[line.split(":", 1)[1].strip().strip("<>").split("@")[0]] += 1
                break
        return "250 OK"


class Processes:
    """``telecon serve`` and ``telecon worker``s, their output in files of the work folder."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._logs = 0

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        self._logs += 1
        log = (self.workdir / f"{args[0]}-{self._logs}.log").open("wb")
        return subprocess.Popen(  # noqa: S603 (our own interpreter)
            [sys.executable, "-m", "telecon", *args], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )

    def start_server(self) -> None:
        self.server = self._spawn("serve", "--port", str(self.port))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("telecon serve did not answer /health")

    def start_worker(self) -> None:
        self.workers.append(self._spawn("worker"))

    def kill_worker(self) -> None:
        victim = self.workers.pop(0)
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    def stop(self) -> None:
        for process in [*self.workers, self.server]:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, self.server]:
            if process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=40)
                if process.poll() is None:
                    process.kill()


# --- seeding ---------------------------------------------------------------------------------------


@dataclass
class World:
    coach: str
    specialists: dict[uuid.UUID, str]
    participants: list[uuid.UUID]
    type_id: uuid.UUID


async def seed(database_url: str) -> World:
    engine = make_engine(database_url)
    await migrate.upgrade(engine)
    password_hash = hash_password(PASSWORD)
    async with make_sessionmaker(engine)() as session, session.begin():
        organization = await organizations.get_or_create_organization(session, "Jobcenter Soak")
        coach = await organizations.create_user(
            session,
            organization_id=organization.id,
            email="coach@soak.invalid",
            role=Role.coach,
            display_name="Coach",
            password_hash=password_hash,
        )
        specialists = {}
        for n in range(6):
            user = await organizations.create_user(
                session,
                organization_id=organization.id,
                email=f"doctor{n}@soak.invalid",
                role=Role.specialist,
                display_name=f"Doctor {n}",
                password_hash=password_hash,
                profession=Profession.physician,
            )
            specialists[user.id] = user.email
            # Around the clock, so that the soak finds slots whatever the hour.
            session.add_all(
                AvailabilityRule(specialist_id=user.id, weekday=d, start_time=clock(0), end_time=clock.max)
                for d in range(7)
            )
        people = [
            Participant(
                organization_id=organization.id,
                display_name=f"Teilnehmer {n}",
                email=f"person{n}@soak.invalid",
                coach_id=coach.id,
            )
            for n in range(40)
        ]
        session.add_all(people)
        await session.flush()
        session.add_all(
            Consent(
                organization_id=organization.id, participant_id=p.id, kind=kind, granted=True, recorded_by_id=coach.id
            )
            for p in people
            for kind in (ConsentKind.video_consultation, ConsentKind.email_contact)
        )
        kind = ConsultationType(
            organization_id=organization.id, name="Kurzgespräch", duration_minutes=10, buffer_minutes=0, professions=[]
        )
        session.add(kind)
        await session.flush()
        world = World(coach.email, specialists, [p.id for p in people], kind.id)
    await engine.dispose()
    return world


# --- traffic ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[tuple[float, str, int]] = field(default_factory=list)
    transport_errors: Counter[str] = field(default_factory=Counter)
    booked: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Consultation id → what booking answered (start, specialist, the participant's join token)."""


class Traffic:
    def __init__(self, base_url: str, world: World, tally: Tally, rng: random.Random) -> None:
        self.base_url, self.world, self.tally, self.rng = base_url, world, tally, rng
        self.headers: dict[str, dict[str, str]] = {}

    async def login(self, http: httpx.AsyncClient, email: str) -> dict[str, str]:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
                if answer.status_code == 200:
                    return {"Authorization": f"Bearer {answer.json()['access_token']}"}
            await asyncio.sleep(1)

    async def call(
        self, http: httpx.AsyncClient, name: str, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        started = time.monotonic()
        try:
            answer = await http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.tally.transport_errors[f"{name}: {type(error).__name__}"] += 1
            return None
        self.tally.latencies[name].append(time.monotonic() - started)
        self.tally.answers[(name, answer.status_code)] += 1
        if answer.status_code >= 500:
            self.tally.server_errors.append((time.time(), name, answer.status_code))
        return answer

    async def slots(self, http: httpx.AsyncClient) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        params = {
            "consultation_type_id": str(self.world.type_id),
            "profession": "physician",
            "start": (now + timedelta(minutes=3)).isoformat(),
            "end": (now + timedelta(hours=6)).isoformat(),
        }
        answer = await self.call(http, "search", "GET", "/api/v1/slots", params=params, headers=self.headers["coach"])
        return answer.json()["slots"] if answer is not None and answer.status_code == 200 else []

    async def book(self, http: httpx.AsyncClient) -> None:
        found = await self.slots(http)
        if not found:
            return
        slot = self.rng.choice(found[:30])
        body = {
            "participant_id": str(self.rng.choice(self.world.participants)),
            "specialist_id": slot["specialist_id"],
            "consultation_type_id": str(self.world.type_id),
            "start": slot["start"],
        }
        answer = await self.call(
            http, "book", "POST", "/api/v1/consultations", json=body, headers=self.headers["coach"]
        )
        if answer is not None and answer.status_code == 201:
            self.remember(answer.json())

    def remember(self, consultation: dict[str, Any]) -> None:
        link = next((a.get("join_url") for a in consultation["attendees"] if a["kind"] == "participant"), None)
        self.tally.booked[consultation["id"]] = {
            "start": datetime.fromisoformat(consultation["start"]),
            "specialist_id": consultation["specialist_id"],
            "token": link.rsplit("/", 1)[1] if link else None,
        }

    def pick(self, *, started: bool | None = None) -> tuple[str, dict[str, Any]] | None:
        now = datetime.now(UTC)
        chosen = [(cid, c) for cid, c in self.tally.booked.items() if started is None or (c["start"] <= now) == started]
        return self.rng.choice(chosen) if chosen else None

    async def reschedule(self, http: httpx.AsyncClient) -> None:
        picked, found = self.pick(started=False), await self.slots(http)
        if picked is None:
            return
        same = [s for s in found if s["specialist_id"] == picked[1]["specialist_id"]]
        if same:
            body = {"start": self.rng.choice(same[:20])["start"]}
            path = f"/api/v1/consultations/{picked[0]}/reschedule"
            answer = await self.call(http, "reschedule", "POST", path, json=body, headers=self.headers["coach"])
            if answer is not None and answer.status_code == 200:
                self.remember(answer.json())

    async def cancel(self, http: httpx.AsyncClient) -> None:
        picked = self.pick(started=False)
        if picked is not None:
            path = f"/api/v1/consultations/{picked[0]}/cancel"
            answer = await self.call(
                http, "cancel", "POST", path, json={"reason": "soak"}, headers=self.headers["coach"]
            )
            if answer is not None and answer.status_code == 200:
                self.tally.booked.pop(picked[0], None)

    async def join(self, http: httpx.AsyncClient) -> None:
        picked = self.pick()
        if picked is not None and picked[1]["token"]:
            await self.call(http, "join", "GET", f"/api/v1/join/{picked[1]['token']}")

    async def outcome(self, http: httpx.AsyncClient) -> None:
        picked = self.pick(started=True)
        if picked is not None:
            specialist = self.world.specialists[uuid.UUID(picked[1]["specialist_id"])]
            body = {"attendance": "attended", "summary_for_coach": "soak"}
            path = f"/api/v1/consultations/{picked[0]}/outcome"
            answer = await self.call(http, "outcome", "PUT", path, json=body, headers=self.headers[specialist])
            if answer is not None and answer.status_code == 200:
                self.tally.booked.pop(picked[0], None)

    async def waitlist(self, http: httpx.AsyncClient) -> None:
        body = {
            "participant_id": str(self.rng.choice(self.world.participants)),
            "consultation_type_id": str(self.world.type_id),
            "profession": "physician",
        }
        coach = self.headers["coach"]
        answer = await self.call(http, "waitlist", "POST", "/api/v1/waitlist", json=body, headers=coach)
        if answer is not None and answer.status_code == 201 and answer.json()["status"] == "held":
            path = f"/api/v1/waitlist/{answer.json()['id']}/confirm"
            confirmed = await self.call(http, "confirm", "POST", path, json={}, headers=coach)
            if confirmed is not None and confirmed.status_code == 201:
                self.remember(confirmed.json())

    async def client(self, until: float) -> None:
        operations = [
            (self.slots, 30),
            (self.book, 20),
            (self.reschedule, 7),
            (self.cancel, 7),
            (self.join, 16),
            (self.outcome, 8),
            (self.waitlist, 12),
        ]
        actions, weights = zip(*operations, strict=True)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as http:
            while time.monotonic() < until:
                await self.rng.choices(actions, weights)[0](http)
                await asyncio.sleep(self.rng.uniform(0.01, 0.05))


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Outage:
    what: str
    started: float
    ended: float = 0.0


async def faults(
    args: argparse.Namespace, started: float, postgres: Postgres, redis: Redis, apps: Processes, mailbox: Mailbox
) -> list[Outage]:
    span = args.minutes * 60
    done: list[Outage] = []

    async def at(fraction: float) -> None:
        await asyncio.sleep(max(0.0, started + fraction * span - time.monotonic()))

    await at(0.20)
    outage = Outage("PostgreSQL restarted", time.time())
    await asyncio.to_thread(postgres.restart)
    outage.ended = time.time()
    done.append(outage)
    await at(0.40)
    outage = Outage("Redis restarted", time.time())
    await asyncio.to_thread(redis.stop)
    await asyncio.sleep(2)
    await asyncio.to_thread(redis.start)
    outage.ended = time.time()
    done.append(outage)
    await at(0.55)
    outage = Outage("a worker killed (SIGKILL), a new one started", time.time())
    apps.kill_worker()
    apps.start_worker()
    outage.ended = time.time()
    done.append(outage)
    await at(0.70)
    outage = Outage("the mail server refuses (451)", time.time())
    mailbox.refusing = True
    await asyncio.sleep(span * 0.10)
    mailbox.refusing = False
    outage.ended = time.time()
    done.append(outage)
    return done


async def drain(database_url: str, wait_seconds: float) -> int:
    """Wait until no email is pending and due (the relay's retries back off to minutes); the rows still due."""
    engine = make_engine(database_url)
    deadline = time.monotonic() + wait_seconds
    due = -1
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as connection:
                due = int(
                    await connection.scalar(
                        text(
                            "SELECT count(*) FROM outbox_message WHERE status = 'pending' AND topic LIKE 'email.%' "
                            "AND next_attempt_at <= now()"
                        )
                    )
                    or 0
                )
            if due == 0:
                return 0
            await asyncio.sleep(2)
    finally:
        await engine.dispose()
    return due


async def invariants(
    database_url: str, mailbox: Mailbox, tally: Tally, outages: list[Outage], still_due: int
) -> list[tuple[str, bool, str]]:
    engine = make_engine(database_url)
    async with engine.connect() as connection:
        overlaps = await connection.scalar(
            text(
                "SELECT count(*) FROM consultation a JOIN consultation b ON a.specialist_id = b.specialist_id "
                "AND a.id < b.id AND a.status <> 'cancelled' AND b.status <> 'cancelled' "
                "AND a.starts_at < b.blocked_until AND b.starts_at < a.blocked_until"
            )
        )
        sent = {
            str(row[0])
            for row in await connection.execute(
                text("SELECT id FROM outbox_message WHERE status = 'sent' AND topic LIKE 'email.%'")
            )
        }
        failed = await connection.scalar(text("SELECT count(*) FROM outbox_message WHERE status = 'failed'"))
        statuses = {
            row[0]: row[1]
            for row in await connection.execute(
                text("SELECT status, count(*) FROM outbox_message WHERE topic LIKE 'email.%' GROUP BY status")
            )
        }
    await engine.dispose()
    received = set(mailbox.received)
    copies = sum(n - 1 for n in mailbox.received.values())
    database_down = [o for o in outages if o.what.startswith("PostgreSQL")]
    stray = [e for e in tally.server_errors if not any(o.started - 1 <= e[0] <= o.ended + GRACE for o in database_down)]
    return [
        ("no overlapping consultations or holds", overlaps == 0, f"{overlaps} overlapping pairs"),
        (
            "every email marked sent reached the mail server",
            sent <= received,
            f"{len(sent)} sent, {len(sent - received)} of them never arrived",
        ),
        (
            "nothing arrived that the outbox does not mark sent",
            received <= sent,
            f"{len(received - sent)} unknown; {copies} copies beyond the first (at-least-once)",
        ),
        (
            "no outbox row stuck",
            still_due == 0 and failed == 0,
            f"{still_due} due and pending, {failed} failed; emails by status {statuses}",
        ),
        (
            "no 5xx outside the database's outage",
            not stray,
            f"{len(tally.server_errors)} 5xx in all, {len(stray)} outside; first outside: {stray[:3]}",
        ),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace, workdir: Path) -> int:
    postgres, redis, mailbox = Postgres(workdir), Redis(), Mailbox()
    postgres.init()
    postgres.start()
    redis.start()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    env = dict(
        os.environ,
        TELECON_DATABASE_URL=postgres.url,
        TELECON_REDIS_URL=redis.url,
        TELECON_SMTP_HOST="127.0.0.1",
        TELECON_SMTP_PORT=str(smtp.port),
        TELECON_SMTP_TLS="none",
        TELECON_SMTP_TIMEOUT_SECONDS="10",
        TELECON_MIN_NOTICE_MINUTES="0",
        TELECON_REMINDER_MINUTES="2",
        TELECON_JOIN_OPENS_MINUTES="600",
        TELECON_WAITLIST_HOLD_MINUTES="5",
        TELECON_LOG_FORMAT="text",
    )
    apps = Processes(workdir, env)
    try:
        world = await seed(postgres.url)
        apps.start_server()
        apps.start_worker()
        apps.start_worker()
        tally = Tally()
        traffic = Traffic(apps.url, world, tally, random.Random(args.seed))
        async with httpx.AsyncClient(base_url=apps.url, timeout=30) as http:
            traffic.headers["coach"] = await traffic.login(http, world.coach)
            for email in world.specialists.values():
                traffic.headers[email] = await traffic.login(http, email)
        print(f"soak: {args.minutes} min, {args.clients} clients, work folder {workdir}", flush=True)
        started = time.monotonic()
        until = started + args.minutes * 60
        fault_task = asyncio.create_task(faults(args, started, postgres, redis, apps, mailbox))
        await asyncio.gather(*(traffic.client(until) for _ in range(args.clients)))
        outages = await fault_task
        print("traffic over; waiting for the outbox to drain", flush=True)
        still_due = await drain(postgres.url, wait_seconds=args.drain_minutes * 60)
        checks = await invariants(postgres.url, mailbox, tally, outages, still_due)
    finally:
        apps.stop()
        smtp.stop()
        redis.stop()
        postgres.stop()

    print("\nfaults:")
    for outage in outages:
        print(f"  {outage.what}: {outage.ended - outage.started:.1f} s")
    print("\nanswers (operation, status: count):")
    for (name, status), count in sorted(tally.answers.items()):
        print(f"  {name:<11} {status}: {count}")
    for name, count in sorted(tally.transport_errors.items()):
        print(f"  transport error {name}: {count}")
    print("\nlatency p50 / p95 / p99 (ms):")
    for name, values in sorted(tally.latencies.items()):
        print(
            f"  {name:<11} {percentile(values, 0.5) * 1000:7.1f} {percentile(values, 0.95) * 1000:7.1f}"
            f" {percentile(values, 0.99) * 1000:7.1f}   ({len(values)} requests)"
        )
    print(
        f"\nemails received: {sum(mailbox.received.values())} ({len(mailbox.received)} distinct),"
        f" refused: {mailbox.refused}"
    )
    print("\ninvariants:")
    for name, ok, detail in checks:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the traffic (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--drain-minutes", type=float, default=8.0, help="longest wait for the outbox afterwards")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs of serve and workers)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="telecon-soak-"))
    try:
        return asyncio.run(run(args, workdir))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
