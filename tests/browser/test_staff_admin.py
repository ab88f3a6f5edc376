"""The admin's pages in a real Chromium: an admin deactivates the specialist through the page (under its real CSP)
and the booking page no longer offers them; then axe-core checks each admin page, screenshots at desktop and phone
width."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from telecon.settings import Settings
from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations, sign_in
from tests.conftest import LiveServer, World

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

DE = texts("de")["staff"]
U = DE["admin"]["users"]
W = DE["admin"]["webhooks"]
PAGES = {
    "users": "/admin/users",
    "types": "/admin/consultation-types",
    "webhooks": "/admin/webhooks",
    "audit": "/admin/audit",
}


async def test_an_admin_deactivates_the_specialist_and_the_booking_page_no_longer_offers_them(
    browser: Browser, server: LiveServer, world: World
) -> None:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.admin)
    choice = f'#specialist_id option[value="{world.specialist_id}"]'
    await page.goto(f"{server.url}/book?participant_id={world.participant_id}")
    assert await page.locator(choice).count() == 1

    await page.get_by_role("link", name=DE["nav_admin"]).click()
    await page.wait_for_url(server.url + "/admin/users")
    name = world.specialist.split("@")[0]
    await page.get_by_role("button", name=U["action_label"].format(action=U["deactivate"], name=name)).click()
    await page.wait_for_url(server.url + "/admin/users?done=deactivated")
    await page.get_by_text(U["done"]["deactivated"]).wait_for()
    row = page.locator(f'tr[id="user-{world.specialist_id}"]')
    assert U["states"]["deactivated"] in await row.inner_text()

    await page.goto(f"{server.url}/book?participant_id={world.participant_id}")
    assert await page.locator(choice).count() == 0

    await page.goto(server.url + "/admin/users")
    await page.get_by_role("button", name=U["action_label"].format(action=U["reactivate"], name=name)).click()
    await page.wait_for_url(server.url + "/admin/users?done=reactivated")
    await page.goto(f"{server.url}/book?participant_id={world.participant_id}")
    assert await page.locator(choice).count() == 1
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()


async def test_the_admin_pages_pass_axe_and_fit_a_phone(
    browser: Browser, server: LiveServer, settings: Settings, world: World
) -> None:
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    SCREENSHOTS.mkdir(exist_ok=True)
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in(page, server, world.admin)
    # Something on every page: a deactivated member, a webhook with its secret shown once, audit entries.
    await page.goto(server.url + "/admin/users")
    name = world.coach.split("@")[0]
    await page.get_by_role("button", name=U["action_label"].format(action=U["deactivate"], name=name)).click()
    await page.wait_for_url(server.url + "/admin/users?done=deactivated")
    await page.goto(server.url + "/admin/webhooks")
    await page.get_by_label(W["url"]).fill("http://127.0.0.1:9/hook")
    await page.get_by_role("button", name=W["add"]).click()
    await page.get_by_text(W["secret_once"]).wait_for()
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / f"admin-webhook-created-desktop-{backend}.png", full_page=True)

    for key, path in PAGES.items():
        await page.set_viewport_size(DESKTOP)
        await page.goto(server.url + path)
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"admin-{key}-desktop-{backend}.png", full_page=True)
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"admin-{key}-phone-{backend}.png", full_page=True)
    await context.close()
