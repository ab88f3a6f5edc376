"""No staff page is heavier than 150 KB before images (issue 15), and the coach's week costs a fixed number of queries.

A page's weight is its HTML plus every stylesheet and script of this app it references, as served: bytes are
deterministic, so this is a fair test (the timing is ``bench/pages.py``'s, never a test's). The join page's
Jitsi script comes from the Jitsi server and is left out, as the issue says.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from telecon.settings import Settings
from tests.conftest import LiveServer, World, berlin, booking_body, login, next_weekday
from tests.integration.test_ui import sign_in

LIMIT = 150_000
ASSET = re.compile(r"""<(?:link[^>]*\brel="stylesheet"[^>]*\bhref|script[^>]*\bsrc)="([^"]+)\"""")


async def weight(client: httpx.AsyncClient, path: str) -> tuple[int, dict[str, int]]:
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    assets = {}
    for src in dict.fromkeys(ASSET.findall(page.text)):
        if src.startswith("/"):
            asset = await client.get(src)
            assert asset.status_code == 200, src
            assets[src] = len(asset.content)
    return len(page.content) + sum(assets.values()), assets


async def book(client: httpx.AsyncClient, world: World, hour: int, guests: int = 1) -> dict[str, Any]:
    coach = await login(client, world.coach)
    guest = [{"name": f"Gast {i}", "email": f"guest{hour}-{i}@test.invalid"} for i in range(guests)]
    body = booking_body(world, berlin(next_weekday(1), hour), guests=guest)
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text
    consultation: dict[str, Any] = booked.json()
    return consultation


async def test_every_main_page_with_its_assets_stays_under_150_kb(client: httpx.AsyncClient, world: World) -> None:
    consultation = await book(client, world, 10)
    join_url = next(a["join_url"] for a in consultation["attendees"] if a["kind"] == "participant")
    week = next_weekday(1).isoformat()
    coach_pages = [
        "/coach",
        f"/coach?week={week}",
        f"/book?participant_id={world.participant_id}&consultation_type_id={world.type_id}"
        f"&specialist_id={world.specialist_id}&week={week}",
        "/participants",
        f"/participants/{world.participant_id}",
        f"/consultations/{consultation['id']}",
        "/organization",
    ]
    base = str(client.base_url)
    weights: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base) as anonymous:
        for path in ("/login", urlsplit(join_url).path):
            weights[path], _ = await weight(anonymous, path)
    async with httpx.AsyncClient(base_url=base) as coach:
        await sign_in(coach, world.coach)
        for path in coach_pages:
            weights[path], assets = await weight(coach, path)
            assert "/static/staff.css" in assets
    async with httpx.AsyncClient(base_url=base) as specialist:
        await sign_in(specialist, world.specialist)
        for path in ("/specialist", "/availability"):
            weights[path], _ = await weight(specialist, path)
    assert len(weights) == 11
    heavy = {path: size for path, size in weights.items() if size > LIMIT}
    assert heavy == {}


def test_the_weight_counts_referenced_assets() -> None:
    html = '<link rel="stylesheet" href="/static/staff.css"><script src="/static/x.js" defer></script>'
    html += '<script src="https://meet.example/external_api.js" nonce="n"></script><script nonce="n">1</script>'
    assert ASSET.findall(html) == ["/static/staff.css", "/static/x.js", "https://meet.example/external_api.js"]


@contextmanager
def statements_of(thread_name: str) -> Iterator[list[str]]:
    """Every SQL statement sent by threads whose name starts with ``thread_name`` (the live server's)."""
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if threading.current_thread().name.startswith(thread_name):
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.fixture
async def quiet(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its in-process relay asleep (it polls once at start): only the pages talk to the database."""
    with LiveServer(settings.model_copy(update={"relay_poll_seconds": 60})) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield http


async def test_the_coach_week_costs_the_same_queries_for_one_or_many_consultations(
    quiet: httpx.AsyncClient, world: World
) -> None:
    client = quiet
    week = f"/coach?week={next_weekday(1).isoformat()}"
    await book(client, world, 9)
    await sign_in(client, world.coach)
    assert (await client.get(week)).status_code == 200

    def reads(statements: list[str]) -> list[str]:
        return [s for s in statements if s.lstrip().upper().startswith("SELECT")]

    with statements_of("Thread") as one:
        assert (await client.get(week)).status_code == 200
    for hour in (10, 11):
        await book(client, world, hour, guests=2)
    with statements_of("Thread") as three:
        page = await client.get(week)
    assert page.text.count('<tr class="status-scheduled"') == 3
    assert len(reads(three)) == len(reads(one))
    assert 0 < len(reads(one)) <= 8
