"""The participant pages in a real Chromium: a coach creates a participant and records consents through the
forms, under the pages' real CSP; then axe-core checks the list, the form and the participant's page."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, NO_SIDEWAYS_SCROLL, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, axe_violations, sign_in
from tests.conftest import LiveServer, World

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")

DE = texts("de")["staff"]
P = DE["participants"]


async def record_consent(page: Page, kind: str, granted: bool, evidence: str = "") -> None:
    await page.get_by_label(P["consent_kind"]).select_option(kind)
    await page.get_by_label(P["grant"] if granted else P["withdraw"], exact=True).check()
    if evidence:
        await page.get_by_label(P["evidence"], exact=True).fill(evidence)
    await page.get_by_role("button", name=P["save_consent"]).click()
    await page.wait_for_load_state()


async def test_a_coach_creates_a_participant_and_records_consents(
    browser: Browser, server: LiveServer, world: World
) -> None:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP)
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    await page.get_by_role("link", name=DE["nav_participants"]).click()
    await page.wait_for_url(server.url + "/participants")
    await page.get_by_role("link", name=P["new"]).click()
    await page.wait_for_url(server.url + "/participants/new")

    await page.get_by_label(P["display_name"]).fill("Olena Koval")
    await page.get_by_label(P["email"]).fill("kein-at-zeichen")
    await page.get_by_label(P["preferred_language"]).select_option("uk")
    await page.get_by_label(P["case_reference"]).fill("JC-0815")
    await page.get_by_label(P["easy_language"]).check()
    await page.get_by_role("button", name=P["create"]).click()
    await page.get_by_text(P["email_invalid"]).wait_for()
    assert await page.get_by_label(P["display_name"]).input_value() == "Olena Koval"
    assert await page.get_by_label(P["preferred_language"]).input_value() == "uk"
    assert await page.get_by_label(P["easy_language"]).is_checked()

    await page.get_by_label(P["email"]).fill("olena@test.invalid")
    await page.get_by_role("button", name=P["create"]).click()
    await page.wait_for_url(f"{server.url}/participants/*")
    assert await page.get_by_role("heading", level=1).inner_text() == "Olena Koval"
    assert await page.locator(".state-missing").count() == 3

    await record_consent(page, "video_consultation", True, "schriftlich, Formular vom 1. Dezember")
    await record_consent(page, "email_contact", True)
    await record_consent(page, "email_contact", False)
    assert await page.locator(".state-missing").count() == 1
    assert await page.locator(".consent-granted").count() == 1
    assert await page.locator(".consent-withdrawn").count() == 1
    history = page.locator(".consent-withdrawn details")
    await history.locator("summary").click()
    assert P["by"].format(name="coach") in await history.inner_text()
    assert await page.locator(".entry-consent_recorded").count() == 3

    await page.get_by_label(P["note"], exact=True).fill("Erstkontakt telefonisch")
    await page.get_by_role("button", name=P["save_note"]).click()
    await page.locator(".entry-note", has_text="Erstkontakt telefonisch").wait_for()

    await page.goto(server.url + "/participants?q=0815")
    assert await page.locator("table.participants tbody tr").count() == 1
    assert await page.evaluate("window.__cspViolations") == []
    await context.close()


async def test_the_participant_pages_pass_axe_and_fit_a_phone(
    browser: Browser, server: LiveServer, world: World
) -> None:
    # CSP bypassed only to inject axe-core; the other test runs the pages under their real CSP.
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, bypass_csp=True)
    page = await context.new_page()
    await sign_in(page, server, world.coach)
    SCREENSHOTS.mkdir(exist_ok=True)
    pages = {"list": "/participants", "new": "/participants/new", "one": f"/participants/{world.participant_id}"}
    for name, path in pages.items():
        await page.set_viewport_size(DESKTOP)
        await page.goto(server.url + path)
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"participants-{name}-desktop.png", full_page=True)
        await page.set_viewport_size(PHONE)
        await page.reload()
        assert await page.evaluate(NO_SIDEWAYS_SCROLL), path
        assert await axe_violations(page) == [], path
        await page.screenshot(path=SCREENSHOTS / f"participants-{name}-phone.png", full_page=True)
    # The form with its errors shown.
    await page.goto(server.url + "/participants/new")
    await page.get_by_role("button", name=P["create"]).click()
    await page.get_by_text(P["display_name_invalid"]).wait_for()
    assert await axe_violations(page) == []
    await context.close()
