"""Webhooks end to end: a real receiver on loopback, the app's own relay, signatures checked as a receiver would."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.notifications.webhooks import NOT_PUBLIC
from telecon.settings import Settings
from telecon.webhooks.signing import verify
from tests.conftest import (
    LiveServer,
    MovableClock,
    World,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    seed_world,
)
from tests.integration.test_outcomes import NOTES, SUMMARY, outcome_body

PURPOSE = "PLANTED-PURPOSE-5150: Verdacht auf Bandscheibenvorfall"
ALL_EVENTS = [
    "consultation.booked",
    "consultation.rescheduled",
    "consultation.cancelled",
    "consultation.completed",
    "outcome.recorded",
]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """A plain HTTP server on loopback recording every request; answers the scripted statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(Received(dict(self.headers.items()), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/telecon"

    def events(self, name: str) -> list[Received]:
        return [r for r in self.received if r.headers["Telecon-Event"] == name]

    async def wait_for(self, name: str, count: int = 1) -> list[Received]:
        deadline = time.monotonic() + 15
        while len(self.events(name)) < count:
            assert time.monotonic() < deadline, f"no {name} arrived: {[r.headers for r in self.received]}"
            await asyncio.sleep(0.05)
        return self.events(name)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    thread = threading.Thread(target=found.server.serve_forever, daemon=True)
    thread.start()
    yield found
    found.server.shutdown()
    found.server.server_close()


@dataclass
class Scene:
    client: httpx.AsyncClient
    clock: MovableClock
    world: World
    admin: dict[str, str]
    coach: dict[str, str]
    specialist: dict[str, str]

    async def subscribe(self, url: str, events: list[str]) -> dict[str, Any]:
        created = await self.client.post("/api/v1/webhooks", json={"url": url, "events": events}, headers=self.admin)
        assert created.status_code == 201, created.text
        return dict(created.json())

    async def book(self, day_offset: int = 1, hour: int = 9) -> dict[str, Any]:
        body = booking_body(self.world, berlin(next_weekday(day_offset), hour), purpose=PURPOSE)
        booked = await self.client.post("/api/v1/consultations", json=body, headers=self.coach)
        assert booked.status_code == 201, booked.text
        return dict(booked.json())

    async def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        answer = await self.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=self.admin)
        assert answer.status_code == 200, answer.text
        return list(answer.json())


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The receiver listens on loopback, which telecon posts to only where the operator allows the network."""
    return settings.model_copy(update={"allowed_private_networks": [ip_network("127.0.0.0/8")]})


@pytest.fixture
async def scene(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Scene]:
    world = await seed_world(sessionmaker)
    clock = MovableClock()
    with LiveServer(settings.model_copy(update={"relay_poll_seconds": 0.05}), app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            yield Scene(
                client=client,
                clock=clock,
                world=world,
                admin=await login(client, world.admin),
                coach=await login(client, world.coach),
                specialist=await login(client, world.specialist),
            )


def signed_at(received: Received) -> int:
    return int(received.headers["Telecon-Signature"].split(",")[0].removeprefix("t="))


async def test_a_booking_reaches_the_receiver_signed_with_the_secret_shown_once(
    scene: Scene, receiver: Receiver
) -> None:
    created = await scene.subscribe(receiver.url, ALL_EVENTS)
    secret = created["secret"].encode()
    assert len(created["secret"]) == 43  # 32 bytes, base64url without padding
    listed = await scene.client.get("/api/v1/webhooks", headers=scene.admin)
    assert [w["id"] for w in listed.json()] == [created["id"]]
    assert "secret" not in listed.json()[0]
    assert created["secret"] not in listed.text

    consultation = await scene.book()
    [hook] = await receiver.wait_for("consultation.booked")
    header, body = hook.headers["Telecon-Signature"], hook.body
    assert hook.headers["Content-Type"] == "application/json"
    now = scene.clock().timestamp()
    assert verify(secret, header, body, now=now)
    assert not verify(secret, header, body.replace(b"scheduled", b"cancelled"), now=now)  # tampered
    assert not verify(secret, header, body, now=now + 301)  # replayed later
    assert not verify(b"another secret", header, body, now=now)

    sent = hook.json
    assert sent["id"] == hook.headers["Telecon-Delivery"]
    assert sent["event"] == "consultation.booked"
    assert sent["organization_id"] == str(scene.world.organization_id)
    assert sent["consultation"]["id"] == consultation["id"]
    assert sent["consultation"]["status"] == "scheduled"
    assert sent["consultation"]["participant_id"] == str(scene.world.participant_id)
    assert sent["consultation"]["specialist_id"] == str(scene.world.specialist_id)
    assert sent["outcome"] is None
    for private in (PURPOSE.encode(), b"Maria", b"maria@test.invalid", scene.world.specialist.encode()):
        assert private not in body

    # Reschedule and cancel: one event each; the consultation's notifications stay its emails.
    moved = await scene.client.post(
        f"/api/v1/consultations/{consultation['id']}/reschedule",
        json={"start": berlin(next_weekday(1), 10)},
        headers=scene.coach,
    )
    assert moved.status_code == 200, moved.text
    assert all(n["topic"].startswith("email.") for n in moved.json()["notifications"])
    await receiver.wait_for("consultation.rescheduled")
    cancelled = await scene.client.post(
        f"/api/v1/consultations/{consultation['id']}/cancel", json={"reason": "krank"}, headers=scene.coach
    )
    assert cancelled.status_code == 200, cancelled.text
    [cancel] = await receiver.wait_for("consultation.cancelled")
    assert cancel.json["consultation"]["status"] == "cancelled"
    shown = await scene.deliveries(created["id"])
    assert [(d["event"], d["status"], d["attempts"]) for d in shown] == [
        ("consultation.cancelled", "sent", 1),
        ("consultation.rescheduled", "sent", 1),
        ("consultation.booked", "sent", 1),
    ]


async def test_a_failing_receiver_gets_the_same_delivery_again_later(scene: Scene, receiver: Receiver) -> None:
    created = await scene.subscribe(receiver.url, ["consultation.booked"])
    receiver.statuses = [500]
    await scene.book()
    [first] = await receiver.wait_for("consultation.booked")
    await asyncio.sleep(0.3)
    [pending] = await scene.deliveries(created["id"])
    assert (pending["status"], pending["attempts"]) == ("pending", 1)
    assert pending["last_error"].startswith("HTTP 500")
    assert len(receiver.received) == 1  # not before its backoff has passed

    scene.clock.move_to(scene.clock() + timedelta(minutes=1))
    _, second = await receiver.wait_for("consultation.booked", 2)
    assert second.headers["Telecon-Delivery"] == first.headers["Telecon-Delivery"] == pending["id"]
    assert second.json["id"] == first.json["id"]
    assert signed_at(second) > signed_at(first)
    assert verify(created["secret"].encode(), second.headers["Telecon-Signature"], second.body, now=signed_at(second))
    await asyncio.sleep(0.3)
    [sent] = await scene.deliveries(created["id"])
    assert (sent["status"], sent["attempts"], sent["last_error"]) == ("sent", 2, None)


async def test_a_refusing_receiver_fails_at_once_and_a_busy_one_is_retried(scene: Scene, receiver: Receiver) -> None:
    created = await scene.subscribe(receiver.url, ["consultation.booked"])
    receiver.statuses = [410, 429]
    await scene.book(hour=9)
    await receiver.wait_for("consultation.booked")
    await scene.book(hour=11)
    await receiver.wait_for("consultation.booked", 2)
    await asyncio.sleep(0.3)
    shown = await scene.deliveries(created["id"])
    assert sorted((d["status"], d["last_error"][:8]) for d in shown) == [
        ("failed", "HTTP 410"),
        ("pending", "HTTP 429"),
    ]


async def test_a_receiver_in_a_network_not_allowed_gets_nothing(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    """By default telecon posts to public addresses only: an organization's admin must not reach into the
    operator's network. The delivery to loopback fails at once, says why, and nothing arrives."""
    strict = settings.model_copy(update={"relay_poll_seconds": 0.05, "allowed_private_networks": []})
    world = await seed_world(sessionmaker)
    with LiveServer(strict) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            scene = Scene(
                client=client,
                clock=MovableClock(),
                world=world,
                admin=await login(client, world.admin),
                coach=await login(client, world.coach),
                specialist=await login(client, world.specialist),
            )
            created = await scene.subscribe(receiver.url, ["consultation.booked"])
            await scene.book()
            deadline = time.monotonic() + 20
            while not (shown := await scene.deliveries(created["id"])) or shown[0]["status"] == "pending":
                assert time.monotonic() < deadline, shown
                await asyncio.sleep(0.1)
    assert [(d["status"], d["attempts"], d["last_error"]) for d in shown] == [("failed", 1, NOT_PUBLIC)]
    assert receiver.received == []


async def test_an_outcome_carries_the_summary_only_with_the_release_and_never_the_notes(
    scene: Scene, receiver: Receiver
) -> None:
    created = await scene.subscribe(receiver.url, ["consultation.completed", "outcome.recorded"])
    consultation = await scene.book()
    scene.clock.move_to(berlin_time(next_weekday(1), 9) + timedelta(minutes=40))
    path = f"/api/v1/consultations/{consultation['id']}/outcome"
    recorded = await scene.client.put(path, json=outcome_body(), headers=scene.specialist)
    assert recorded.status_code == 200, recorded.text

    [completed] = await receiver.wait_for("consultation.completed")
    [first] = await receiver.wait_for("outcome.recorded")
    assert completed.json["consultation"]["status"] == "completed"
    assert first.json["outcome"]["release_missing"] is True
    assert first.json["outcome"]["attendance"] == "attended"
    assert "summary_for_coach" not in first.json["outcome"]
    for hook in (completed, first):
        assert SUMMARY.encode() not in hook.body
        assert NOTES.encode() not in hook.body
        assert PURPOSE.encode() not in hook.body
    assert receiver.events("consultation.booked") == []  # not subscribed

    consented = await scene.client.post(
        f"/api/v1/participants/{scene.world.participant_id}/consents",
        json={"kind": "share_outcome_with_coach", "granted": True},
        headers=scene.coach,
    )
    assert consented.status_code == 201, consented.text
    amended = await scene.client.put(path, json=outcome_body(follow_up_weeks=8), headers=scene.specialist)
    assert amended.status_code == 200, amended.text
    _, second = await receiver.wait_for("outcome.recorded", 2)
    assert second.json["outcome"]["release_missing"] is False
    assert second.json["outcome"]["summary_for_coach"] == SUMMARY
    assert second.json["outcome"]["follow_up_weeks"] == 8
    assert NOTES.encode() not in second.body
    assert len(receiver.events("consultation.completed")) == 1  # an amendment completes nothing
    assert len(await scene.deliveries(created["id"])) == 3


async def test_only_the_organizations_admin_sees_or_deletes_its_webhooks(
    scene: Scene, receiver: Receiver, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    created = await scene.subscribe(receiver.url, ["consultation.booked"])
    other = await seed_world(sessionmaker, name="Jobcenter B", prefix="b-")
    stranger = await login(scene.client, other.admin)
    listed = await scene.client.get("/api/v1/webhooks", headers=stranger)
    assert listed.status_code == 200
    assert listed.json() == []
    own = f"/api/v1/webhooks/{created['id']}"
    assert (await scene.client.delete(own, headers=stranger)).status_code == 404
    assert (await scene.client.get(f"{own}/deliveries", headers=stranger)).status_code == 404
    for headers in (scene.coach, scene.specialist):
        assert (await scene.client.get("/api/v1/webhooks", headers=headers)).status_code == 403
        assert (await scene.client.delete(own, headers=headers)).status_code == 403
        body = {"url": receiver.url, "events": ["consultation.booked"]}
        assert (await scene.client.post("/api/v1/webhooks", json=body, headers=headers)).status_code == 403

    assert (await scene.client.delete(own, headers=scene.admin)).status_code == 204
    assert (await scene.client.get("/api/v1/webhooks", headers=scene.admin)).json() == []
    await scene.book()
    await asyncio.sleep(0.5)
    assert receiver.received == []  # deleted: nothing more is sent


async def test_a_webhook_needs_an_http_url_with_a_host_and_known_events(scene: Scene) -> None:
    for body in (
        {"url": "ftp://example.org/hook", "events": ["consultation.booked"]},
        {"url": "https:///no-host", "events": ["consultation.booked"]},
        {"url": "https://example.org/hook", "events": ["consultation.exploded"]},
        {"url": "https://example.org/hook", "events": []},
    ):
        answer = await scene.client.post("/api/v1/webhooks", json=body, headers=scene.admin)
        assert answer.status_code == 422, (body, answer.text)
