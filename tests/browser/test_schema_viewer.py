"""The API viewer at /schema in a real Chromium: it renders every operation and asks no other origin."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from tests.conftest import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def test_the_viewer_renders_every_operation_from_the_app_alone(
    browser: Browser, live_server: LiveServer, client: httpx.AsyncClient
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operations = sum(
        1
        for item in document["paths"].values()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    )
    origins: set[str] = set()
    page = await browser.new_page()
    page.on("request", lambda request: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(request.url))))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{live_server.url}/schema")
    await page.wait_for_selector(".opblock", timeout=20_000)
    assert await page.locator(".opblock").count() == operations
    assert await page.locator(".information-container .title").inner_text() != ""
    # The bearer token can be entered once for every protected operation.
    assert await page.locator("button.authorize").count() == 1
    if shots := os.environ.get("TELECON_TEST_SCREENSHOTS"):
        await page.screenshot(path=f"{shots}/schema-viewer.png", full_page=False)
    assert origins == {live_server.url}
    assert errors == []
