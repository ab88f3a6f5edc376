"""/ready: 503 while the database or (when configured) Redis does not answer, 200 again once it does."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time

import httpx
import pytest
from sqlalchemy.engine import make_url

from telecon.settings import Settings
from tests.conftest import LiveServer, free_port


class TcpProxy:
    """A loopback TCP forwarder the test can take away and bring back on the same port: a database that
    goes away and comes back, without touching the real server. It runs on a loop in a thread of its own
    (the test's loop blocks while the live server stops)."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)

    def close(self) -> None:
        if self._server is not None:
            self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


async def _ready(client: httpx.AsyncClient) -> httpx.Response:
    return await client.get("/ready")


async def test_ready_is_503_while_the_database_is_away_and_200_once_it_is_back(settings: Settings) -> None:
    if settings.is_sqlite:
        pytest.skip("the database is taken away by a TCP proxy in front of PostgreSQL")
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        await _away_and_back(settings.model_copy(update={"database_url": through_proxy}), proxy)
    finally:
        proxy.close()


async def _away_and_back(settings: Settings, proxy: TcpProxy) -> None:
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            assert (await _ready(client)).json() == {"status": "ready"}

            proxy.stop()  # open connections cut, new ones refused
            for _ in range(3):
                down = await _ready(client)
                assert down.status_code == 503, down.text
                assert down.json()["detail"] == "the database does not answer"
            assert (await client.get("/health")).status_code == 200  # alive, only not ready
            # An API call meanwhile: 503 with Retry-After, a problem that says to try again, not a 500.
            login = {"email": "nobody@test.invalid", "password": "wrong password here"}
            refused = await client.post("/api/v1/auth/login", json=login)
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.headers["retry-after"] == "5"

            proxy.start()
            deadline = time.monotonic() + 15
            while (again := await _ready(client)).status_code != 200:
                assert again.status_code == 503, again.text
                assert time.monotonic() < deadline, "/ready stayed 503 after the database came back"
                await asyncio.sleep(0.2)
            assert again.json() == {"status": "ready"}
            assert (await client.post("/api/v1/auth/login", json=login)).status_code == 401


async def test_ready_is_503_while_redis_is_away(settings: Settings) -> None:
    """Redis configured at a port where nothing listens (the real-Redis case is in test_worker.py)."""
    with LiveServer(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            down = await _ready(client)
    assert down.status_code == 503, down.text
    assert down.json()["detail"] == "Redis does not answer"
