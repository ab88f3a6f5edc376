"""Client addresses through a real server: a client cannot choose its own; a trusted proxy can name it.

Every loopback address is this machine, so the tests connect from several: the reverse proxy is 127.0.0.5,
clients that reach the app directly are 127.0.0.1 and 127.0.0.2.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from asyncio.subprocess import PIPE, STDOUT
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from telecon.settings import Settings
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    World,
    assert_problem,
    berlin,
    free_port,
    login,
    next_weekday,
)

PROXY = "127.0.0.5"


@asynccontextmanager
async def connecting_from(server: LiveServer, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.url, transport=transport, timeout=60) as client:
        yield client


def forwarded(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def log_in(client: httpx.AsyncClient, email: str, password: str, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password}, headers=headers)


async def audit_events(client: httpx.AsyncClient, world: World, action: str) -> list[dict[str, Any]]:
    admin = await login(client, world.admin)
    found = await client.get("/api/v1/audit-events", params={"action": action}, headers=admin)
    assert found.status_code == 200, found.text
    events: list[dict[str, Any]] = found.json()
    return events


@pytest.fixture
def strict(settings: Settings) -> Settings:
    """Low limits, and one trusted proxy: a client that reaches the app directly is still not believed."""
    return settings.model_copy(
        update={
            "trusted_proxies": Settings(trusted_proxies=PROXY).trusted_proxies,  # type: ignore[arg-type]
            "login_max_failures_per_address": 3,
            "login_max_failures_per_account": 100,
            "join_max_misses_per_address": 3,
        }
    )


async def test_a_spoofed_header_changes_nothing_for_a_direct_client(strict: Settings, world: World) -> None:
    with LiveServer(strict) as server:
        async with connecting_from(server, "127.0.0.1") as client:
            for n in range(3):
                failed = await log_in(client, f"guess{n}@test.invalid", "wrong", forwarded(f"203.0.113.{n}"))
                assert_problem(failed, 401)
            # A fourth "address" is still this one: throttled, even with the right password.
            assert_problem(await log_in(client, world.coach, TEST_PASSWORD, forwarded("203.0.113.99")), 429)

            for n in range(3):
                missed = await client.get(f"/api/v1/join/{uuid.uuid4().hex}", headers=forwarded(f"203.0.113.{n}"))
                assert_problem(missed, 404, "token")
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}", headers=forwarded("203.0.113.99")), 429)

        # The audit trail names the real address, for a login and for a change made with a bearer token.
        async with connecting_from(server, "127.0.0.2") as client:
            coach = await log_in(client, world.coach, TEST_PASSWORD, forwarded("203.0.113.77"))
            assert coach.status_code == 200, coach.text
            headers = {"Authorization": f"Bearer {coach.json()['access_token']}", **forwarded("203.0.113.78")}
            booked = await client.post(
                "/api/v1/consultations",
                json={
                    "participant_id": str(world.participant_id),
                    "specialist_id": str(world.specialist_id),
                    "consultation_type_id": str(world.type_id),
                    "start": berlin(next_weekday(0), 9),
                },
                headers=headers,
            )
            assert booked.status_code == 201, booked.text
            logins = await audit_events(client, world, "auth.login")
            bookings = await audit_events(client, world, "consultation.booked")
    assert {e["remote_address"] for e in logins} == {"127.0.0.2"}
    assert [e["remote_address"] for e in bookings] == ["127.0.0.2"]


async def test_without_trusted_proxies_nobody_is_believed(settings: Settings, world: World) -> None:
    assert settings.trusted_proxies == []
    with LiveServer(settings) as server:
        async with connecting_from(server, PROXY) as client:
            response = await log_in(client, world.coach, TEST_PASSWORD, forwarded("198.51.100.7"))
            assert response.status_code == 200, response.text
            logins = await audit_events(client, world, "auth.login")
    assert {e["remote_address"] for e in logins} == {PROXY}


async def test_a_trusted_proxy_names_the_client(strict: Settings, world: World) -> None:
    with LiveServer(strict) as server:
        async with connecting_from(server, PROXY) as proxy:
            # One client behind the proxy fails three times and is throttled...
            for _ in range(3):
                assert_problem(await log_in(proxy, "guess@test.invalid", "wrong", forwarded("198.51.100.8")), 401)
            assert_problem(await log_in(proxy, world.coach, TEST_PASSWORD, forwarded("198.51.100.8")), 429)
            # ...also when it puts another address in front of its own (the proxy appends the real one)...
            spoofed = await log_in(proxy, world.coach, TEST_PASSWORD, forwarded("198.51.100.7, 198.51.100.8"))
            assert_problem(spoofed, 429)
            # ...while another client behind the same proxy logs in, and the audit trail names it.
            other = await log_in(proxy, world.coach, TEST_PASSWORD, forwarded("198.51.100.7"))
            assert other.status_code == 200, other.text

            for _ in range(3):
                missed = await proxy.get(f"/api/v1/join/{uuid.uuid4().hex}", headers=forwarded("198.51.100.8"))
                assert_problem(missed, 404, "token")
            assert_problem(await proxy.get(f"/api/v1/join/{uuid.uuid4().hex}", headers=forwarded("198.51.100.8")), 429)
            elsewhere = await proxy.get(f"/api/v1/join/{uuid.uuid4().hex}", headers=forwarded("198.51.100.7"))
            assert_problem(elsewhere, 404, "token")

            logins = await audit_events(proxy, world, "auth.login")
    # The coach's login behind the proxy, and the admin's own, sent by the proxy itself without a header.
    assert [e["remote_address"] for e in logins] == [PROXY, "198.51.100.7"]


async def test_telecon_serve_believes_no_header_by_default(settings: Settings, world: World) -> None:
    """The real command: uvicorn's own proxy handling (which trusts 127.0.0.1 by default) is off."""
    port = free_port()
    env = {**os.environ, "TELECON_DATABASE_URL": settings.database_url, "FORWARDED_ALLOW_IPS": "*"}
    env.pop("TELECON_TRUSTED_PROXIES", None)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "telecon", "serve", "--port", str(port), env=env, stdout=PIPE, stderr=STDOUT
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                assert process.returncode is None, "telecon serve exited early"
                assert time.monotonic() < deadline, "telecon serve did not start"
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health")).status_code == 200:
                        break
                await asyncio.sleep(0.2)
            response = await log_in(client, world.coach, TEST_PASSWORD, forwarded("198.51.100.7"))
            assert response.status_code == 200, response.text
            logins = await audit_events(client, world, "auth.login")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), timeout=30)
    assert {e["remote_address"] for e in logins} == {"127.0.0.1"}
