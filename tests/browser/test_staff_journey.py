"""The whole staff journey in a real Chromium, page by page, under the pages' real CSP, as the issue tells it:

a coach signs in, creates a participant, records consents and books a slot from the grid, after a second coach
took the slot they first chose (the friendly message, the refreshed grid); sees the consultation in the week and
prints the instruction sheet. The specialist signs in, finds it in the agenda, adds afternoon hours and, after
the consultation, records the outcome. The coach sees no summary until the participant releases it. Last, an
admin deactivates the specialist and the grid no longer offers them. The app runs on a clock the test moves past
the consultation. The coach's week and the booking grid are saved as screenshots (desktop and phone) on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations import services as organizations
from telecon.settings import Settings
from telecon.templating import texts
from tests.browser.test_join_page import CHROMIUM, PHONE, RECORD_CSP_VIOLATIONS
from tests.browser.test_staff_pages import DESKTOP, SCREENSHOTS, sign_in
from tests.browser.test_staff_participants import record_consent
from tests.browser.test_staff_specialist import sign_in_specialist
from tests.conftest import TEST_PASSWORD_HASH, LiveServer, MovableClock, World, berlin_time, next_weekday

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"),
    pytest.mark.dates,
]

DE = texts("de")["staff"]
P = DE["participants"]
B = DE["book"]
F = texts("de")["outcome_form"]
SUMMARY = "Rückenschule empfohlen, Belastbarkeit in acht Wochen erneut prüfen"
NOTES = "PLANTED-CLINICAL-NOTE: lumbale Beschwerden"


@pytest.fixture
def movable() -> MovableClock:
    return MovableClock()


@pytest.fixture
def clocked_server(settings: Settings, world: World, movable: MovableClock) -> Iterator[LiveServer]:
    with LiveServer(settings, app_clock=movable) as live:
        yield live


async def second_coach(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> str:
    async with sessionmaker() as session, session.begin():
        await organizations.create_user(
            session,
            organization_id=world.organization_id,
            email="coach2@test.invalid",
            role=Role.coach,
            display_name="Zweite Beraterin",
            password_hash=TEST_PASSWORD_HASH,
        )
    return "coach2@test.invalid"


async def staff_page(browser: Browser, **options: object) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(locale="de-DE", viewport=DESKTOP, **options)  # type: ignore[arg-type]
    await context.add_init_script(RECORD_CSP_VIOLATIONS)
    return context, await context.new_page()


def slot_button(world: World, instant: datetime) -> str:
    """The selector of the grid's button for the world's physician at ``instant``."""
    return f'button[name="slot"][value="{world.specialist_id}|{instant.astimezone(UTC).isoformat()}"]'


def grid_url(server: LiveServer, world: World, participant_id: str, week: str, **choice: str) -> str:
    query = {"participant_id": participant_id, "consultation_type_id": str(world.type_id), "week": week} | choice
    return f"{server.url}/book?{urlencode(query)}"


async def screenshots(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}-desktop.png", full_page=True)
    await page.set_viewport_size(PHONE)
    await page.screenshot(path=SCREENSHOTS / f"{name}-phone.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


async def test_the_staff_journey_from_a_new_participant_to_a_released_outcome(
    browser: Browser,
    clocked_server: LiveServer,
    world: World,
    movable: MovableClock,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    server = clocked_server
    other_coach = await second_coach(sessionmaker, world)
    tuesday = next_weekday(1, weeks_ahead=1)
    thursday = tuesday + timedelta(days=2)
    monday = (tuesday - timedelta(days=1)).isoformat()
    nine, ten = berlin_time(tuesday, 9), berlin_time(tuesday, 10)

    # --- the coach: a new participant with consents ---------------------------------------------------
    coach_context, coach = await staff_page(browser)
    await sign_in(coach, server, world.coach)
    await coach.get_by_role("link", name=DE["nav_participants"]).click()
    await coach.get_by_role("link", name=P["new"]).click()
    await coach.get_by_label(P["display_name"]).fill("Jonas Beispiel")
    await coach.get_by_label(P["email"]).fill("jonas@test.invalid")
    await coach.get_by_label(P["case_reference"]).fill("JC-4711")
    await coach.get_by_role("button", name=P["create"]).click()
    await coach.wait_for_url(re.compile(r".*/participants/[0-9a-f-]{36}$"))
    participant_id = coach.url.rsplit("/", 1)[1]
    await record_consent(coach, "video_consultation", True, "schriftlich im Termin")
    await record_consent(coach, "email_contact", True)
    assert await coach.locator(".state-missing").count() == 1  # the release of outcomes, not yet given

    # --- booking: the grid, a slot taken meanwhile, another slot ----------------------------------------
    await coach.get_by_role("link", name=DE["nav_book"]).click()
    await coach.get_by_label(B["participant"]).select_option(label="Jonas Beispiel")
    await coach.get_by_role("button", name=B["next"]).click()
    await coach.get_by_label(B["specialist"]).select_option(value=str(world.specialist_id))
    await coach.get_by_role("button", name=B["show_slots"]).click()
    await coach.goto(
        grid_url(server, world, participant_id, tuesday.isoformat(), specialist_id=str(world.specialist_id))
    )
    await coach.get_by_label(B["purpose"]).fill("Belastbarkeit klären")
    await coach.get_by_label(B["guest_name"]).fill("Dolmetscher Herr Ay")
    assert await coach.locator(slot_button(world, nine)).count() == 1
    await screenshots(coach, "journey-booking-grid")

    other_context, other = await staff_page(browser)
    await sign_in(other, server, other_coach)
    await other.goto(
        grid_url(server, world, str(world.participant_id), tuesday.isoformat(), specialist_id=str(world.specialist_id))
    )
    await other.locator(slot_button(world, nine)).click()
    await other.wait_for_url(f"{server.url}/consultations/*")
    await other_context.close()

    await coach.locator(slot_button(world, nine)).click()
    alert = coach.get_by_role("alert")
    await alert.wait_for()
    assert await alert.inner_text() == B["taken"]
    assert await coach.locator(slot_button(world, nine)).count() == 0
    assert await coach.get_by_label(B["purpose"]).input_value() == "Belastbarkeit klären"
    await coach.locator(slot_button(world, ten)).click()
    await coach.wait_for_url(re.compile(r".*/consultations/[0-9a-f-]{36}$"))
    consultation_id = coach.url.rsplit("/", 1)[1]
    assert DE["status"]["scheduled"] in await coach.locator("#status").inner_text()

    # --- the week and the instruction sheet -------------------------------------------------------------
    await coach.goto(f"{server.url}/coach?week={monday}")
    row = coach.locator("tr", has_text="Jonas Beispiel")
    await row.wait_for()
    assert DE["status"]["scheduled"] in await row.inner_text()
    await screenshots(coach, "journey-coach-week")
    await coach.goto(f"{server.url}/consultations/{consultation_id}")
    await coach.get_by_role("link", name=DE["consultation"]["print_sheet"]).click()
    await coach.wait_for_url(f"{server.url}/consultations/{consultation_id}/sheet")
    sheet = coach.locator("article.sheet")
    assert "/join/" in await sheet.inner_text()
    assert await sheet.locator("svg").count() == 1
    assert "Belastbarkeit" not in await coach.content()
    await coach.emulate_media(media="print")
    assert not await coach.locator("header.top").is_visible()
    await coach.emulate_media(media="screen")

    # --- the specialist: agenda, afternoon hours, the outcome after the consultation ----------------------
    specialist_context, specialist = await staff_page(browser)
    await sign_in_specialist(specialist, server, world.specialist)
    agenda_row = specialist.locator("tr", has_text="Jonas Beispiel")
    await agenda_row.wait_for()
    assert DE["status"]["scheduled"] in await agenda_row.inner_text()
    await specialist.get_by_role("link", name=DE["nav_availability"]).click()
    await specialist.locator("#w3_1_start").fill("14:00")
    await specialist.locator("#w3_1_end").fill("16:00")
    await specialist.get_by_role("button", name=DE["availability"]["save"]).click()
    await specialist.get_by_text(DE["availability"]["saved"]).wait_for()

    # The coach's grid offers the new Thursday afternoon.
    physician_grid = grid_url(
        server, world, participant_id, thursday.isoformat(), specialist_id=str(world.specialist_id)
    )
    await coach.goto(physician_grid)
    assert await coach.locator(slot_button(world, berlin_time(thursday, 14))).count() == 1

    # Days later, after the consultation: the sessions of that day have expired, everyone signs in again.
    movable.move_to(ten + timedelta(minutes=40))
    await specialist.get_by_role("link", name=DE["nav_specialist"]).click()
    await specialist.wait_for_url(f"{server.url}/login")
    await sign_in_specialist(specialist, server, world.specialist)
    owed = specialist.locator("tr.owed", has_text="Jonas Beispiel")
    await owed.first.wait_for()
    await owed.first.get_by_role("link", name=DE["specialist"]["record_outcome"]).click()
    await specialist.wait_for_url(f"{server.url}/consultations/{consultation_id}/outcome")
    await specialist.get_by_label(F["attendance_options"]["attended"]).check()
    await specialist.get_by_label(F["summary_for_coach"]).fill(SUMMARY)
    await specialist.get_by_label(F["clinical_notes"]).fill(NOTES)
    await specialist.get_by_role("button", name=F["submit"]).click()
    await specialist.get_by_text(F["saved"].format(version=1)).wait_for()
    assert await specialist.evaluate("window.__cspViolations") == []
    await specialist_context.close()

    # --- the coach: the summary only after the release consent ------------------------------------------
    await sign_in(coach, server, world.coach)
    await coach.goto(f"{server.url}/participants/{participant_id}")
    case_file = coach.locator("main")
    await coach.locator(".release-missing").wait_for()
    assert SUMMARY not in await case_file.inner_text()
    await record_consent(coach, "share_outcome_with_coach", True, "mündlich, im Beisein der Dolmetschung")
    assert SUMMARY in await case_file.inner_text()
    assert await coach.locator(".release-missing").count() == 0
    assert NOTES not in await coach.content()
    assert await coach.evaluate("window.__cspViolations") == []
    await coach_context.close()

    # --- the admin deactivates the specialist: the grid no longer offers them ----------------------------
    admin_context, admin = await staff_page(browser)
    await sign_in(admin, server, world.admin)
    await admin.get_by_role("link", name=DE["nav_admin"]).click()
    users = DE["admin"]["users"]
    name = world.specialist.split("@")[0]
    await admin.get_by_role("button", name=users["action_label"].format(action=users["deactivate"], name=name)).click()
    await admin.get_by_text(users["done"]["deactivated"]).wait_for()
    await admin.goto(grid_url(server, world, participant_id, thursday.isoformat(), profession="physician"))
    assert await admin.locator(f'#specialist_id option[value="{world.specialist_id}"]').count() == 0
    assert await admin.locator(f'button[name="slot"][value^="{world.specialist_id}|"]').count() == 0
    await admin.goto(physician_grid)
    assert await admin.locator(slot_button(world, berlin_time(thursday, 14))).count() == 0
    assert await admin.evaluate("window.__cspViolations") == []
    await admin_context.close()
