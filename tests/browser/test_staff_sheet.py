"""Editing a participant and the printable instruction sheet in a real Chromium: the forms under the pages' real
CSP, axe-core on the edit page and the sheet, screenshots at desktop and phone width and as printed, and the
sheet printed to PDF is one A4 page."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser

from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations, sign_in
from tests.conftest import LiveServer, World, berlin, booking_body, login, next_weekday

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

DE = texts("de")["staff"]
P = DE["participants"]
SHEET = texts("de")["sheet"]
PURPOSE = "PLANTED-PURPOSE-2718"


async def book(server: LiveServer, world: World) -> tuple[str, str]:
    """A consultation of the world's participant (through the API); its id and the participant's link."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        coach = await login(client, world.coach)
        body = booking_body(world, berlin(next_weekday(1), 10), purpose=PURPOSE)
        booked = await client.post("/api/v1/consultations", json=body, headers=coach)
        assert booked.status_code == 201, booked.text
    consultation = booked.json()
    return consultation["id"], next(a["join_url"] for a in consultation["attendees"] if a["kind"] == "participant")


async def test_a_coach_edits_a_participant_and_prints_the_sheet(
    browser: Browser, server: LiveServer, world: World
) -> None:
    consultation_id, link = await book(server, world)
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.coach)

    await page.goto(f"{server.url}/participants/{world.participant_id}")
    await page.get_by_role("link", name=P["edit"]).click()
    await page.wait_for_url(f"{server.url}/participants/{world.participant_id}/edit")
    assert await page.get_by_label(P["display_name"]).input_value() == "Maria Muster"
    await page.get_by_label(P["display_name"]).fill("Maria Muster-Neu")
    await page.get_by_label(P["email"]).fill("kein-at-zeichen")
    await page.get_by_role("button", name=P["save"]).click()
    await page.get_by_text(P["email_invalid"]).wait_for()
    assert await page.get_by_label(P["display_name"]).input_value() == "Maria Muster-Neu"
    assert await page.get_by_label(P["email"]).get_attribute("aria-invalid") == "true"
    await page.get_by_label(P["email"]).fill("")
    await page.get_by_role("button", name=P["save"]).click()
    await page.wait_for_url(re.compile(r".*/participants/[0-9a-f-]+\?done=updated$"))
    await page.get_by_text(P["updated"]).wait_for()
    assert await page.get_by_role("heading", level=1).inner_text() == "Maria Muster-Neu"

    await page.goto(f"{server.url}/consultations/{consultation_id}")
    await page.get_by_role("link", name=DE["consultation"]["print_sheet"]).click()
    await page.wait_for_url(f"{server.url}/consultations/{consultation_id}/sheet")
    sheet = page.locator("article.sheet")
    assert await sheet.get_attribute("lang") == "de"
    assert SHEET["heading"] in await sheet.inner_text()
    assert link in await sheet.inner_text()
    assert PURPOSE not in await page.content()
    assert await sheet.locator("svg").count() == 1
    # Printed: only the sheet, on one A4 page.
    await page.emulate_media(media="print")
    assert not await page.locator("header.top").is_visible()
    assert not await page.locator(".sheet-tools").is_visible()
    pdf = await page.pdf(format="A4", print_background=False)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf)) == 1
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()


async def test_the_edit_page_and_the_sheet_pass_axe_fit_a_phone_and_print(
    browser: Browser, server: LiveServer, world: World
) -> None:
    consultation_id, _ = await book(server, world)
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    SCREENSHOTS.mkdir(exist_ok=True)
    pages = {
        "participant-edit": f"/participants/{world.participant_id}/edit",
        "sheet": f"/consultations/{consultation_id}/sheet",
    }
    for name, path in pages.items():
        await page.set_viewport_size(DESKTOP)
        await page.goto(server.url + path)
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    # The sheet as printed: A4 at 96 dpi is 794 × 1123 CSS pixels.
    await page.set_viewport_size({"width": 794, "height": 1123})
    await page.emulate_media(media="print")
    await page.goto(server.url + pages["sheet"])
    await page.screenshot(path=SCREENSHOTS / "sheet-print.png", full_page=True)
    await page.emulate_media(media="screen")
    # The edit form with its errors shown.
    await page.set_viewport_size(DESKTOP)
    await page.goto(server.url + pages["participant-edit"])
    await page.get_by_label(P["display_name"]).fill("")
    await page.get_by_role("button", name=P["save"]).click()
    await page.get_by_text(P["display_name_invalid"]).wait_for()
    assert await axe_violations(page) == []
    await context.close()
