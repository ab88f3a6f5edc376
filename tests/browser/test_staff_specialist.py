"""The specialist's pages in a real Chromium: the agenda over two organizations, the outcome form (filled in
under the page's real CSP), the clinical notes and the calendar feed; axe-core on each, and screenshots at
desktop and phone width (``tests/browser/screenshots/``, not committed)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations.models import Membership
from telecon.settings import Settings
from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    MovableClock,
    World,
    berlin,
    booking_body,
    login,
    next_weekday,
    seed_world,
)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
    pytest.mark.dates,
]

DE = texts("de")["staff"]
F = texts("de")["outcome_form"]
NOTES = "Lumbale Beschwerden, Verlauf in sechs Wochen prüfen"


@dataclass
class Scene:
    server: LiveServer
    world: World
    here: dict[str, Any]
    there: dict[str, Any]


async def _book(http: httpx.AsyncClient, world: World, coach: str, start: str, specialist: str) -> dict[str, Any]:
    body = booking_body(world, start) | {"specialist_id": specialist}
    created = await http.post("/api/v1/consultations", json=body, headers=await login(http, coach))
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


@pytest.fixture
def movable() -> MovableClock:
    return MovableClock()


@pytest.fixture
def clocked_server(settings: Settings, world: World, movable: MovableClock) -> Iterator[LiveServer]:
    with LiveServer(settings, app_clock=movable) as live:
        yield live


@pytest.fixture
async def scene(
    clocked_server: LiveServer,
    world: World,
    movable: MovableClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[Scene]:
    """The physician serves two organizations; a consultation in each has just ended, the first has an outcome."""
    other = await seed_world(sessionmaker, name="Jobcenter Zweite", prefix="zweite-")
    async with sessionmaker() as session, session.begin():
        session.add(
            Membership(user_id=world.specialist_id, organization_id=other.organization_id, role=Role.specialist)
        )
    async with httpx.AsyncClient(base_url=clocked_server.url, timeout=60) as http:
        specialist = str(world.specialist_id)
        here = await _book(http, world, world.coach, berlin(next_weekday(1), 9), specialist)
        there = await _book(http, other, other.coach, berlin(next_weekday(1), 11), specialist)
        await _book(http, world, world.coach, berlin(next_weekday(3, weeks_ahead=2), 10), specialist)
        movable.move_to(datetime.fromisoformat(there["start"].replace("Z", "+00:00")) + timedelta(minutes=45))
        headers = await login(http, world.specialist)
        recorded = await http.put(
            f"/api/v1/consultations/{here['id']}/outcome",
            json={"attendance": "attended", "summary_for_coach": "Rückenschule empfohlen", "clinical_notes": NOTES},
            headers=headers,
        )
        assert recorded.status_code == 200, recorded.text
        yield Scene(clocked_server, world, here, there)


async def sign_in_specialist(page: Page, server: LiveServer, email: str) -> None:
    await page.goto(server.url + "/login")
    await page.get_by_label(DE["login"]["email"]).fill(email)
    await page.get_by_label(DE["login"]["password"]).fill(TEST_PASSWORD)
    await page.get_by_role("button", name=DE["login"]["submit"]).click()
    await page.wait_for_url(re.compile(r".*/(specialist|organization)$"))
    if page.url.endswith("/organization"):  # a specialist of several organizations chooses one first
        choose = DE["organization"]["choose_in"].format(name="Jobcenter Test")
        await page.get_by_role("button", name=choose).click()
        await page.wait_for_url(server.url + "/specialist")


async def test_the_specialist_records_an_outcome_from_the_agenda(browser: Browser, scene: Scene) -> None:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in_specialist(page, scene.server, scene.world.specialist)
    owed = page.locator("#missing ~ div tr.owed", has_text="Jobcenter Zweite")
    await owed.wait_for()
    assert DE["specialist"]["owed"] in await owed.inner_text()
    await owed.get_by_role("link", name=DE["specialist"]["record_outcome"]).click()
    await page.wait_for_url(f"{scene.server.url}/consultations/{scene.there['id']}/outcome")

    await page.get_by_label(F["follow_up_weeks"]).fill("300")
    await page.get_by_role("button", name=F["submit"]).click()
    await page.get_by_text(DE["outcome"]["attendance_missing"]).wait_for()
    assert await page.get_by_text(DE["outcome"]["weeks_invalid"]).is_visible()
    assert await page.get_by_label(F["follow_up_weeks"]).input_value() == "300"

    await page.get_by_label(F["attendance_options"]["attended"]).check()
    await page.get_by_role("checkbox", name=F["recommendation_options"]["physiotherapy"], exact=True).check()
    await page.get_by_label(F["follow_up_weeks"]).fill("8")
    await page.get_by_label(F["clinical_notes"]).fill("Schulter, Beweglichkeit eingeschränkt")
    await page.get_by_role("button", name=F["submit"]).click()
    await page.get_by_text(F["saved"].format(version=1)).wait_for()
    assert await page.get_by_label(F["clinical_notes"]).input_value() == "Schulter, Beweglichkeit eingeschränkt"

    await page.get_by_role("link", name=DE["nav_notes"]).click()
    await page.wait_for_url(scene.server.url + "/specialist/notes")
    assert "Schulter, Beweglichkeit eingeschränkt" in await page.locator("main").inner_text()
    assert NOTES in await page.locator("main").inner_text()
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()


async def test_the_specialist_pages_pass_axe_and_fit_a_phone(browser: Browser, scene: Scene) -> None:
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in_specialist(page, scene.server, scene.world.specialist)
    await page.goto(scene.server.url + "/specialist/calendar-feed")
    await page.get_by_role("button", name=DE["feed"]["create"]).click()
    await page.get_by_text(DE["feed"]["done"]["created"]).wait_for()
    SCREENSHOTS.mkdir(exist_ok=True)
    pages = {
        "agenda": "/specialist",
        "outcome": f"/consultations/{scene.here['id']}/outcome",
        "notes": "/specialist/notes",
        "feed": "/specialist/calendar-feed",
    }
    for name, path in pages.items():
        await page.set_viewport_size(DESKTOP)
        await page.goto(scene.server.url + path)
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"specialist-{name}-desktop.png", full_page=True)
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"specialist-{name}-phone.png", full_page=True)
    # The outcome form with its errors shown.
    await page.set_viewport_size(DESKTOP)
    await page.goto(f"{scene.server.url}/consultations/{scene.there['id']}/outcome")
    await page.get_by_role("button", name=F["submit"]).click()
    await page.get_by_text(DE["outcome"]["attendance_missing"]).wait_for()
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / "specialist-outcome-errors-desktop.png", full_page=True)
    await context.close()
