"""``telecon.egress.public_client`` against real HTTP servers on loopback: the address is checked after name
resolution and on every redirect, before anything is connected."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from ipaddress import ip_network

import httpx
import pytest

from telecon.egress import NotPublic, public_client


@dataclass
class Server:
    """A one-answer HTTP server on a loopback address that counts the connections it accepted."""

    host: str
    answer: bytes
    connections: int = 0
    port: int = 0
    server: asyncio.Server | None = field(default=None, repr=False)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(self.answer)
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"


def answer(status: str, headers: str = "", body: bytes = b"") -> bytes:
    head = f"HTTP/1.1 {status}\r\n{headers}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    return head.encode() + body


@pytest.fixture
async def calendar() -> AsyncIterator[Server]:
    server = Server("127.0.0.1", answer("200 OK", "Content-Type: text/calendar\r\n", b"BEGIN:VCALENDAR"))
    await server.start()
    yield server
    assert server.server is not None
    server.server.close()


async def test_loopback_is_refused_by_address_and_by_name_before_connecting(calendar: Server) -> None:
    async with public_client() as client:
        for url in (calendar.url, calendar.url.replace("127.0.0.1", "localhost")):
            with pytest.raises(NotPublic):
                await client.get(url)
    assert calendar.connections == 0


async def test_an_allowed_network_is_read(calendar: Server) -> None:
    async with public_client([ip_network("127.0.0.0/8")]) as client:
        got = await client.get(calendar.url.replace("127.0.0.1", "localhost"))
    assert got.status_code == 200
    assert got.content == b"BEGIN:VCALENDAR"
    assert calendar.connections == 1


async def test_a_redirect_to_an_address_not_allowed_is_refused(calendar: Server) -> None:
    """Allowed: 127.0.0.2 only. It redirects to 127.0.0.1, which is not allowed and is never connected."""
    redirecting = Server("127.0.0.2", answer("302 Found", f"Location: {calendar.url}\r\n"))
    await redirecting.start()
    try:
        async with public_client([ip_network("127.0.0.2/32")], follow_redirects=True) as client:
            with pytest.raises(NotPublic):
                await client.get(redirecting.url)
    finally:
        assert redirecting.server is not None
        redirecting.server.close()
    assert redirecting.connections == 1
    assert calendar.connections == 0


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async with public_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://calendar.telecon.invalid/")
