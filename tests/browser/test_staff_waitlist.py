"""The waitlist in a real Chromium: a coach puts a participant on the list through the form (real CSP), sees the
slot held for them on the home page and books it; axe-core checks the waitlist and the home page with its notice."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations, sign_in
from tests.conftest import LiveServer, World

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

DE = texts("de")["staff"]
W = DE["waitlist"]


async def test_a_coach_puts_someone_on_the_waitlist_and_books_the_held_slot(
    browser: Browser, server: LiveServer, world: World
) -> None:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await page.get_by_role("link", name=DE["nav_waitlist"]).click()
    await page.wait_for_url(server.url + "/waitlist")
    await page.get_by_role("button", name=W["add_button"]).click()
    await page.get_by_text(W["participant_id_missing"]).wait_for()  # nothing chosen: said at the field
    await page.get_by_label(W["participant"]).select_option(label="Maria Muster")
    await page.get_by_label(W["type"]).select_option(index=1)
    await page.get_by_label(W["profession"]).select_option("physician")
    await page.get_by_role("button", name=W["add_button"]).click()
    await page.wait_for_url(server.url + "/waitlist")
    await page.get_by_role("button", name=W["confirm"]).wait_for()
    await page.goto(server.url + "/coach")
    await page.get_by_role("heading", name=W["notice"]).wait_for()
    await page.get_by_role("button", name=W["confirm"]).click()
    await page.wait_for_url(f"{server.url}/consultations/**")
    await page.goto(server.url + "/coach")
    assert await page.get_by_role("heading", name=W["notice"]).count() == 0
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()


async def test_the_waitlist_and_the_notice_pass_axe_and_fit_a_phone(
    browser: Browser, server: LiveServer, world: World
) -> None:
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await page.goto(server.url + "/waitlist")
    await page.get_by_label(W["participant"]).select_option(label="Maria Muster")
    await page.get_by_label(W["type"]).select_option(index=1)
    await page.get_by_label(W["profession"]).select_option("physician")
    await page.get_by_role("button", name=W["add_button"]).click()
    await page.wait_for_url(server.url + "/waitlist")
    SCREENSHOTS.mkdir(exist_ok=True)
    for name, path in {"waitlist": "/waitlist", "coach-notice": "/coach"}.items():
        await page.set_viewport_size(DESKTOP)
        await page.goto(server.url + path)
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    await context.close()
