"""What the browser tests share: a headless Debian Chromium per test and, for the staff pages, a live server.

The browser tests run on ONE database: PostgreSQL when the run has one (as in CI), else SQLite. They check
what a page shows and does; what storage does underneath is the integration tests' work, on both backends,
through the same service functions. (Running every browser test twice cost CI minutes and found nothing the
integration tests did not.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from telecon.settings import Settings
from tests.browser.test_join_page import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import BACKENDS, LiveServer, World, fresh_database


@pytest.fixture(params=BACKENDS[-1:])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from fresh_database(request, tmp_path)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def server(settings: Settings, world: World) -> Iterator[LiveServer]:
    """The app on the test database, ``world`` seeded first (the join page's tests have a server of their own)."""
    with LiveServer(settings) as live:
        yield live
