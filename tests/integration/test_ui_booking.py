"""The coach's booking pages over real HTTP: the slot grid, booking, a slot taken meanwhile, cancelling."""

from __future__ import annotations

import html
import re
from datetime import UTC, date

import httpx

from telecon.templating import texts
from tests.conftest import World, berlin_time, next_weekday
from tests.integration.test_ui import csrf_of, sign_in, text_of

DE = texts("de")["staff"]
SLOT = re.compile(r'name="slot" value="([^"]+)"')


def grid_query(world: World, week: str) -> dict[str, str]:
    return {
        "participant_id": str(world.participant_id),
        "consultation_type_id": str(world.type_id),
        "specialist_id": str(world.specialist_id),
        "week": week,
    }


def slot_value(world: World, day: date, hour: int) -> str:
    """What the slot button at ``hour`` Berlin time on ``day`` sends."""
    start = berlin_time(day, hour).astimezone(UTC)
    return f"{world.specialist_id}|{start.isoformat()}"


async def book_form(client: httpx.AsyncClient, world: World, week: str, slot: str) -> dict[str, str]:
    grid = await client.get("/book", params=grid_query(world, week))
    assert grid.status_code == 200, grid.text
    assert slot in SLOT.findall(html_unescape(grid.text)), grid.text
    return grid_query(world, week) | {
        "csrf_token": csrf_of(grid),
        "slot": slot,
        "purpose": "Belastbarkeit klären",
        "guest_name": "Dolmetscherin",
        "guest_email": "interpreter@test.invalid",
        "guest_language": "tr",
    }


def html_unescape(text: str) -> str:
    return html.unescape(text)


async def test_the_grid_shows_the_specialists_slots_and_booking_one_leads_to_the_consultation(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.coach)
    tuesday = next_weekday(1, weeks_ahead=1)
    chooser = await client.get("/book")
    assert chooser.status_code == 200
    assert "Maria Muster" in text_of(chooser)

    slot = slot_value(world, tuesday, 10)
    form = await book_form(client, world, tuesday.isoformat(), slot)
    grid = text_of(await client.get("/book", params=grid_query(world, tuesday.isoformat())))
    assert "<time>09:00</time>" in grid
    assert "<time>11:30</time>" in grid
    booked = await client.post("/book", data=form)
    assert booked.status_code == 303, booked.text
    location = booked.headers["location"]
    assert re.fullmatch(r"/consultations/[0-9a-f-]{36}", location)

    page = await client.get(location)
    assert page.status_code == 200
    shown = text_of(page)
    assert "Maria Muster" in shown
    assert "doctor" in shown
    assert "Dolmetscherin" in shown
    assert "10:00" in shown
    assert DE["status"]["scheduled"] in shown
    assert "/join/" in shown  # the participant's link, which the coach may hand on
    assert "Belastbarkeit klären" in shown

    home = await client.get("/coach", params={"week": tuesday.isoformat()})
    assert f'href="{location}"' in home.text
    assert 'href="/book"' in home.text


async def test_a_slot_taken_meanwhile_shows_the_friendly_message_and_a_refreshed_grid(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.coach)
    wednesday = next_weekday(2, weeks_ahead=1)
    slot = slot_value(world, wednesday, 9)
    form = await book_form(client, world, wednesday.isoformat(), slot)
    assert (await client.post("/book", data=form)).status_code == 303

    # Replaying the form: the slot is gone.
    again = await client.post("/book", data=form)
    assert again.status_code == 409
    shown = text_of(again)
    assert DE["book"]["taken"] in shown
    assert slot not in SLOT.findall(shown)
    assert SLOT.findall(shown)  # the other slots are still there
    assert 'value="Dolmetscherin"' in again.text
    assert "Belastbarkeit klären" in shown

    # A second booker (the admin) who saw the grid before sees the same.
    async with httpx.AsyncClient(base_url=str(client.base_url), timeout=60) as admin:
        await sign_in(admin, world.admin)
        taken = await admin.post("/book", data=form | {"csrf_token": csrf_of(await admin.get("/book"))})
        assert taken.status_code == 409
        assert DE["book"]["taken"] in text_of(taken)


async def test_a_first_visit_asks_without_scolding(client: httpx.AsyncClient, world: World) -> None:
    """The only consultation type is preselected; nothing was chosen yet, so no field shows an error."""
    await sign_in(client, world.coach)
    page = await client.get("/book", params={"participant_id": str(world.participant_id)})
    assert page.status_code == 200, page.text
    assert 'class="error"' not in page.text
    assert f'<option value="{world.type_id}" selected>' in page.text


async def test_validation_errors_are_shown_by_their_fields(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    tuesday = next_weekday(1, weeks_ahead=2)
    form = await book_form(client, world, tuesday.isoformat(), slot_value(world, tuesday, 11))
    wrong = await client.post("/book", data=form | {"guest_name": "", "guest_email": "not-an-address"})
    assert wrong.status_code == 422
    assert 'aria-describedby="guest_name-error"' in wrong.text
    assert DE["book"]["guest_email_invalid"] in text_of(wrong)
    both = await client.get("/book", params=grid_query(world, "") | {"profession": "physician"})
    assert both.status_code == 422
    assert DE["book"]["either"] in text_of(both)


async def test_cancelling_with_a_reason(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    thursday = next_weekday(3, weeks_ahead=1)
    form = await book_form(client, world, thursday.isoformat(), slot_value(world, thursday, 9))
    location = (await client.post("/book", data=form)).headers["location"]
    page = await client.get(location)
    cancelled = await client.post(
        location + "/cancel", data={"csrf_token": csrf_of(page), "reason": "Person ist erkrankt"}
    )
    assert (cancelled.status_code, cancelled.headers["location"]) == (303, location + "?done=cancelled")
    shown = text_of(await client.get(cancelled.headers["location"]))
    assert DE["status"]["cancelled"] in shown
    assert "Person ist erkrankt" in shown
    assert DE["consultation"]["done"]["cancelled"] in shown
    assert DE["consultation"]["no_link"] in shown


async def test_rescheduling_to_another_slot(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    friday = next_weekday(4, weeks_ahead=1)
    form = await book_form(client, world, friday.isoformat(), slot_value(world, friday, 9))
    location = (await client.post("/book", data=form)).headers["location"]
    page = await client.get(location)
    later = slot_value(world, friday, 11)
    assert later in SLOT.findall(html_unescape(page.text))
    moved = await client.post(location + "/reschedule", data={"csrf_token": csrf_of(page), "slot": later})
    assert moved.status_code == 303, moved.text
    assert "11:00" in text_of(await client.get(location))


async def test_forms_without_csrf_and_specialists_are_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    monday = next_weekday(0, weeks_ahead=1)
    form = await book_form(client, world, monday.isoformat(), slot_value(world, monday, 9))
    no_token = {k: v for k, v in form.items() if k != "csrf_token"}
    refused = await client.post("/book", data=no_token)
    assert refused.status_code == 403
    assert DE["errors"]["form_expired"] in text_of(refused)
    location = (await client.post("/book", data=form)).headers["location"]
    assert (await client.post(location + "/cancel", data={"reason": "x"})).status_code == 403

    client.cookies.clear()
    await sign_in(client, world.specialist)
    assert (await client.get("/book")).status_code == 403
    assert (await client.get(location)).status_code == 403
    assert DE["errors"]["forbidden"] in text_of(await client.get(location))
