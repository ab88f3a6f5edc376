"""The specialist connects their own calendar on the availability page, in a real Chromium: a calendar that
cannot be read is shown as an alert; axe-core at desktop and phone width, screenshots (not committed)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations
from tests.browser.test_staff_specialist import sign_in_specialist
from tests.conftest import LiveServer, World

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

A = texts("de")["staff"]["availability"]
UNREACHABLE = "http://127.0.0.1:9/kalender/sehr-langer-privater-link-0123456789abcdef0123456789abcdef.ics"
"""Loopback's discard port: the read fails at once. Long, as private links are, to test the phone width."""


async def test_a_calendar_that_cannot_be_read_is_shown_and_the_page_passes_axe(
    browser: Browser, server: LiveServer, world: World
) -> None:
    # CSP bypassed only to inject axe-core.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in_specialist(page, server, world.specialist)
    await page.goto(server.url + "/availability")
    await page.get_by_text(A["calendar_none"]).wait_for()
    await page.get_by_label(A["calendar_kinds"]["ics"]).check()
    await page.get_by_label(A["calendar_url"]).fill(UNREACHABLE)
    await page.get_by_role("button", name=A["calendar_connect"]).click()
    await page.get_by_text(A["calendar_saved"]).wait_for()
    alert = page.get_by_role("alert")
    await alert.wait_for()
    # Loopback is no public address: refused before connecting, and said in the reader's language.
    assert A["calendar_reasons"]["not_public"] in await alert.inner_text()
    SCREENSHOTS.mkdir(exist_ok=True)
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / "availability-calendar-error-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.reload()
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    assert await axe_violations(page) == []
    await page.screenshot(path=SCREENSHOTS / "availability-calendar-error-phone.png", full_page=True)
    # The form's own errors, said by the field.
    await page.set_viewport_size(DESKTOP)
    await page.get_by_label(A["calendar_url"]).fill("")
    await page.get_by_role("button", name=A["calendar_connect"]).click()
    await page.get_by_text(A["calendar_url_missing"]).wait_for()
    assert await axe_violations(page) == []
    await context.close()
