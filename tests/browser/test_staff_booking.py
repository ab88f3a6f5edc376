"""Booking in a real Chromium: a coach books from the grid, then loses a slot to a second booker meanwhile and
gets the friendly message; the grid and the consultation page pass axe-core (no serious or critical issues)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, Locator, Page

from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, axe_violations, sign_in
from tests.conftest import LiveServer, World, next_weekday
from tests.integration.test_ui_booking import grid_query, slot_value

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
DE = texts("de")["staff"]


async def open_grid(page: Page, server: LiveServer, world: World, week: str) -> None:
    await page.goto(f"{server.url}/book?{urlencode(grid_query(world, week))}")
    await page.get_by_role("heading", name=DE["book"]["slots"]).wait_for()


def slot_button(page: Page, value: str) -> Locator:
    return page.locator(f'button[name="slot"][value="{value}"]')


async def test_a_coach_books_and_loses_a_slot_taken_meanwhile(
    browser: Browser, server: LiveServer, world: World
) -> None:
    tuesday = next_weekday(1, weeks_ahead=1)
    coach_context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await coach_context.add_init_script(RECORD_CSP_VIOLATIONS)
    coach = await coach_context.new_page()
    await sign_in(coach, server, world.coach)
    await coach.locator("main").get_by_role("link", name=DE["coach"]["book"]).click()
    await coach.get_by_label(DE["book"]["participant"]).select_option(label="Maria Muster")
    await coach.get_by_role("button", name=DE["book"]["next"]).click()
    await coach.get_by_label(DE["book"]["specialist"]).select_option(value=str(world.specialist_id))
    await coach.get_by_role("button", name=DE["book"]["show_slots"]).click()
    await open_grid(coach, server, world, tuesday.isoformat())

    await coach.get_by_label(DE["book"]["purpose"]).fill("Belastbarkeit klären")
    await slot_button(coach, slot_value(world, tuesday, 9)).click()
    await coach.wait_for_url(f"{server.url}/consultations/*")
    assert DE["status"]["scheduled"] in await coach.locator("#status").inner_text()
    assert "Belastbarkeit klären" in await coach.locator("main").inner_text()

    # The coach opens the grid again; a second booker takes 10:00 before the coach clicks it.
    await open_grid(coach, server, world, tuesday.isoformat())
    await coach.get_by_label(DE["book"]["guest_name"]).fill("Dolmetscherin")
    ten = slot_value(world, tuesday, 10)
    other_context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    other = await other_context.new_page()
    await sign_in(other, server, world.admin)
    await open_grid(other, server, world, tuesday.isoformat())
    await slot_button(other, ten).click()
    await other.wait_for_url(f"{server.url}/consultations/*")

    await slot_button(coach, ten).click()
    alert = coach.get_by_role("alert")
    await alert.wait_for()
    assert await alert.inner_text() == DE["book"]["taken"]
    assert await slot_button(coach, ten).count() == 0
    assert await slot_button(coach, slot_value(world, tuesday, 11)).count() == 1
    assert await coach.get_by_label(DE["book"]["guest_name"]).input_value() == "Dolmetscherin"
    assert await coach.evaluate("window.__cspViolations") == []
    await other_context.close()
    await coach_context.close()


async def test_the_grid_and_the_consultation_page_pass_axe(browser: Browser, server: LiveServer, world: World) -> None:
    wednesday = next_weekday(2, weeks_ahead=1)
    # CSP bypassed only to inject axe-core; the test above runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await open_grid(page, server, world, wednesday.isoformat())
    assert await axe_violations(page) == []
    await slot_button(page, slot_value(world, wednesday, 9)).click()
    await page.wait_for_url(f"{server.url}/consultations/*")
    assert await axe_violations(page) == []
    await context.close()


async def test_the_week_links_swap_only_the_grid_and_keep_what_was_typed(
    browser: Browser, server: LiveServer, world: World
) -> None:
    this_tuesday = next_weekday(1, weeks_ahead=1)
    next_tuesday = this_tuesday + timedelta(days=7)
    next_monday = next_tuesday - timedelta(days=1)
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await open_grid(page, server, world, this_tuesday.isoformat())
    await page.get_by_label(DE["book"]["purpose"]).fill("Rückkehr an den Arbeitsplatz")
    await page.evaluate("window.__sameDocument = true")  # gone if the link loads a whole new page
    week_label = page.locator("#slots-week")
    before = await week_label.inner_text()

    await page.get_by_role("link", name=DE["coach"]["next_week"]).click()
    await page.wait_for_function("(before) => document.querySelector('#slots-week').innerText !== before", arg=before)
    assert f"week={next_monday.isoformat()}" in page.url  # the address names the week shown (pushState)
    assert await page.evaluate("window.__sameDocument") is True
    assert await page.get_by_label(DE["book"]["purpose"]).input_value() == "Rückkehr an den Arbeitsplatz"
    assert await page.evaluate("document.activeElement.id") == "slots-next"  # focus stays on the link

    # A slot of the week shown now books, with what was typed.
    await slot_button(page, slot_value(world, next_tuesday, 9)).click()
    await page.wait_for_url(f"{server.url}/consultations/*")
    assert "Rückkehr an den Arbeitsplatz" in await page.locator("main").inner_text()
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()
