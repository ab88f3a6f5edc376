"""The staff pages in a real Chromium: sign-in, the coach's week, the remembered language, accessibility (axe-core)
and screenshots at desktop and phone width (``tests/browser/screenshots/``, not committed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations import services as organizations
from telecon.settings import Settings
from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    World,
    berlin,
    booking_body,
    login,
    next_weekday,
    seed_world,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
DE = texts("de")["staff"]
EN = texts("en")["staff"]
RUN_AXE = """() => axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
  id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)})))"""


@pytest.fixture
async def booked_day(server: LiveServer, world: World) -> str:
    """A consultation at 10:00 Berlin time on a Tuesday after the test day, booked by the coach through the API."""
    tuesday = next_weekday(1, weeks_ahead=1)
    guest = {"name": "Dolmetscherin", "email": "interpreter@test.invalid", "language": "tr"}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        coach = await login(http, world.coach)
        body = booking_body(world, berlin(tuesday, 10), guests=[guest])
        booked = await http.post("/api/v1/consultations", json=body, headers=coach)
        assert booked.status_code == 201, booked.text
    return tuesday.isoformat()


async def sign_in(page: Page, server: LiveServer, email: str) -> None:
    await page.goto(server.url + "/")
    assert page.url == server.url + "/login"
    await page.get_by_label(DE["login"]["email"]).fill(email)
    await page.get_by_label(DE["login"]["password"]).fill(TEST_PASSWORD)
    await page.get_by_role("button", name=DE["login"]["submit"]).click()
    await page.wait_for_url(server.url + "/coach")


async def test_a_coach_signs_in_sees_the_week_and_keeps_english(
    browser: Browser, server: LiveServer, world: World, booked_day: str
) -> None:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await page.goto(f"{server.url}/coach?week={booked_day}")
    row = page.locator("table.consultations tbody tr", has_text="Maria Muster")
    await row.wait_for()
    assert "10:00" in await row.inner_text()
    assert DE["status"]["scheduled"] in await row.inner_text()

    await page.get_by_role("button", name="English").click()
    await page.wait_for_url(f"{server.url}/coach?week={booked_day}")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.get_by_role("heading", level=1).inner_text() == EN["coach"]["title"]
    assert "10:00\u202fAM" in await page.locator("table.consultations").inner_text()
    await page.reload()
    assert await page.get_by_role("heading", level=1).inner_text() == EN["coach"]["title"]
    await page.goto(server.url + "/")  # and on the next visit too
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.evaluate("window.__cspViolations") == []

    await page.get_by_role("button", name=EN["logout"], exact=True).click()
    await page.wait_for_url(server.url + "/login")
    await context.close()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = await page.evaluate(RUN_AXE)
    return [v for v in found if v["impact"] in ("serious", "critical")]


async def test_login_and_coach_home_pass_axe_and_fit_a_phone(
    browser: Browser, server: LiveServer, settings: Settings, world: World, booked_day: str
) -> None:
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    SCREENSHOTS.mkdir(exist_ok=True)
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await page.goto(server.url + "/login")
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"login-desktop-{backend}.png", full_page=True)
    await page.set_viewport_size(PHONE)
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    await page.screenshot(path=SCREENSHOTS / f"login-phone-{backend}.png", full_page=True)

    await page.set_viewport_size(DESKTOP)
    await sign_in(page, server, world.coach)
    await page.goto(f"{server.url}/coach?week={booked_day}")
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"coach-desktop-{backend}.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.reload()
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"coach-phone-{backend}.png", full_page=True)
    await context.close()


async def test_a_specialist_of_two_organizations_chooses_one_and_switches_in_the_header(
    browser: Browser,
    server: LiveServer,
    settings: Settings,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    second = await seed_world(sessionmaker, name="Jobcenter Süd", prefix="s-")
    async with sessionmaker() as session, session.begin():
        await organizations.add_membership(
            session, organization_id=second.organization_id, email=world.specialist, role=Role.specialist
        )
    SCREENSHOTS.mkdir(exist_ok=True)
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await page.goto(server.url + "/login")
    await page.get_by_label(DE["login"]["email"]).fill(world.specialist)
    await page.get_by_label(DE["login"]["password"]).fill(TEST_PASSWORD)
    await page.get_by_role("button", name=DE["login"]["submit"]).click()
    await page.wait_for_url(server.url + "/organization")
    assert await page.get_by_role("heading", level=1).inner_text() == DE["organization"]["title"]
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"organization-desktop-{backend}.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.reload()
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"organization-phone-{backend}.png", full_page=True)

    await page.set_viewport_size(DESKTOP)
    choose = DE["organization"]["choose_in"].format(name="Jobcenter Süd")
    await page.get_by_role("button", name=choose).click()
    await page.wait_for_url(server.url + "/specialist")
    assert await page.locator(".top .org").inner_text() == "Jobcenter Süd"
    # The header's switcher, by keyboard: its label names the select.
    await page.get_by_label(DE["organization"]["switch_label"]).select_option(label="Jobcenter Test")
    await page.get_by_role("button", name=DE["organization"]["switch"], exact=True).press("Enter")
    await page.wait_for_url(server.url + "/specialist")
    assert await page.locator(".top .org").inner_text() == "Jobcenter Test"
    assert await axe_violations(page) == []
    await context.close()
