"""What the browser tests share: a headless Debian Chromium per test and, for the staff pages, a live server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from telecon.settings import Settings
from tests.browser.test_join_page import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import LiveServer, World


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
