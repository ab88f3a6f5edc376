"""The participant pages over real HTTP: the list, the create form, consents, notes and the case file."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.settings import Settings
from tests.conftest import (
    LiveServer,
    MovableClock,
    World,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    seed_world,
)
from tests.integration.test_ui import DE, csrf_of, sign_in, text_of

P = DE["participants"]
SUMMARY = "PLANTED-SUMMARY-7781: Bewegungsangebot empfohlen"
NOTES = "PLANTED-NOTES-5512: nur für die Fachkraft"


def new_body(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "display_name": "Ayşe Yılmaz",
        "email": "ayse@test.invalid",
        "preferred_language": "tr",
        "case_reference": "JC-4711",
        "interpreter_language": "",
        **extra,
    }


async def test_a_bad_email_is_said_by_the_field_and_the_values_are_kept(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.coach)
    form = await client.get("/participants/new")
    assert form.status_code == 200
    assert '<label for="display_name">' in form.text
    assert '<label for="email">' in form.text
    assert form.text.count("<option value=") == 7
    refused = await client.post(
        "/participants/new", data=new_body(csrf_of(form), email="not-an-email", easy_language="1")
    )
    assert refused.status_code == 422
    page = text_of(refused)
    assert P["email_invalid"] in page
    assert 'aria-describedby="email-hint email-error"' in refused.text
    assert 'value="not-an-email"' in refused.text
    assert 'value="Ayşe Yılmaz"' in page
    assert 'value="JC-4711"' in refused.text
    assert '<option value="tr" selected>' in refused.text
    assert 'value="1" checked' in refused.text
    listed = await client.get("/participants")
    assert "Ayşe" not in text_of(listed)


async def test_create_then_the_page_shows_missing_consents_then_a_recorded_one(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.coach)
    form = await client.get("/participants/new")
    created = await client.post("/participants/new", data=new_body(csrf_of(form), easy_language="1"))
    assert created.status_code == 303, created.text
    location = created.headers["location"]
    assert re.fullmatch(r"/participants/[0-9a-f-]{36}", location)
    page = await client.get(location)
    assert page.status_code == 200
    shown = text_of(page)
    assert "Ayşe Yılmaz" in shown
    assert "JC-4711" in shown
    assert shown.count(P["consent_states"]["missing"]) == 3

    # The same case reference again: said by its field.
    again = await client.post("/participants/new", data=new_body(csrf_of(page), display_name="Zweite"))
    assert again.status_code == 409
    assert P["case_reference_taken"] in text_of(again)
    assert 'value="Zweite"' in again.text

    recorded = await client.post(
        location + "/consents",
        data={"csrf_token": csrf_of(page), "kind": "email_contact", "granted": "yes", "evidence": "schriftlich"},
    )
    assert (recorded.status_code, recorded.headers["location"]) == (303, location + "#consents")
    page = text_of(await client.get(location))
    assert page.count(P["consent_states"]["missing"]) == 2
    assert f'{P["consent_kinds"]["email_contact"]}: <span class="badge state-granted">' in page
    assert P["by"].format(name="coach") in page
    assert "schriftlich" in page

    withdrawn = await client.post(
        location + "/consents",
        data={"csrf_token": csrf_of(await client.get(location)), "kind": "email_contact", "granted": "no"},
    )
    assert withdrawn.status_code == 303
    page = text_of(await client.get(location))
    assert "state-withdrawn" in page
    assert P["consent_entry_granted"].split("{")[0] in page
    assert P["consent_entry_withdrawn"].split("{")[0] in page

    incomplete = await client.post(location + "/consents", data={"csrf_token": csrf_of(await client.get(location))})
    assert incomplete.status_code == 422
    assert P["consent_kind_missing"] in text_of(incomplete)
    assert P["granted_missing"] in text_of(incomplete)

    noted = await client.post(
        location + "/notes", data={"csrf_token": csrf_of(await client.get(location)), "text": "Rückruf am Montag"}
    )
    assert noted.status_code == 303
    page = text_of(await client.get(location))
    assert page.index(P["entry_kinds"]["consent_recorded"]) < page.index("Rückruf am Montag")  # newest last

    listed = await client.get("/participants", params={"q": "jc-47"})
    assert f'href="{location}"' in listed.text
    assert "Maria Muster" not in text_of(listed)
    everyone = text_of(await client.get("/participants"))
    assert "Maria Muster" in everyone
    assert "Ayşe Yılmaz" in everyone


async def test_forms_without_their_token_are_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    participant = f"/participants/{world.participant_id}"
    for path, data in (
        ("/participants/new", new_body("")),
        (participant + "/consents", {"kind": "email_contact", "granted": "yes"}),
        (participant + "/notes", {"text": "Notiz"}),
    ):
        refused = await client.post(path, data={k: v for k, v in data.items() if k != "csrf_token"})
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "text/html; charset=utf-8"
        assert DE["errors"]["form_expired"] in text_of(refused)
    page = text_of(await client.get(participant))
    assert page.count(P["consent_states"]["missing"]) == 2  # only the seeded video consent exists


async def test_another_organizations_participant_is_a_404_page_and_a_specialist_gets_403(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="o-")
    await sign_in(client, world.coach)
    foreign = await client.get(f"/participants/{other.participant_id}")
    assert foreign.status_code == 404
    assert foreign.headers["content-type"] == "text/html; charset=utf-8"
    assert DE["errors"]["not_found"] in text_of(foreign)
    assert "Maria Muster" not in text_of(foreign)
    home = await client.get("/participants")
    posted = await client.post(
        f"/participants/{other.participant_id}/notes", data={"csrf_token": csrf_of(home), "text": "fremd"}
    )
    assert posted.status_code == 404

    client.cookies.clear()
    await sign_in(client, world.specialist)
    for path in ("/participants", "/participants/new", f"/participants/{world.participant_id}"):
        refused = await client.get(path)
        assert refused.status_code == 403, path
        assert DE["errors"]["forbidden"] in text_of(refused)


@pytest.fixture
async def moved(settings: Settings, world: World) -> AsyncIterator[tuple[httpx.AsyncClient, MovableClock]]:
    clock = MovableClock()
    with LiveServer(settings, app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            yield http, clock


async def test_the_case_file_shows_the_summary_only_with_the_release(
    moved: tuple[httpx.AsyncClient, MovableClock], world: World
) -> None:
    client, clock = moved
    coach = await login(client, world.coach)
    day = next_weekday(1)
    booked = await client.post("/api/v1/consultations", json=booking_body(world, berlin(day, 9)), headers=coach)
    assert booked.status_code == 201, booked.text
    clock.move_to(berlin_time(day, 9) + timedelta(minutes=40))
    specialist = await login(client, world.specialist)
    body = {"attendance": "attended", "summary_for_coach": SUMMARY, "clinical_notes": NOTES, "follow_up_weeks": 6}
    recorded = await client.put(f"/api/v1/consultations/{booked.json()['id']}/outcome", json=body, headers=specialist)
    assert recorded.status_code == 200, recorded.text

    await sign_in(client, world.coach)
    participant = f"/participants/{world.participant_id}"
    page = await client.get(participant)
    shown = text_of(page)
    assert P["entry_kinds"]["outcome_recorded"] in shown
    assert P["release_missing"] in shown
    assert SUMMARY not in shown
    assert NOTES not in shown

    released = await client.post(
        participant + "/consents",
        data={"csrf_token": csrf_of(page), "kind": "share_outcome_with_coach", "granted": "yes"},
    )
    assert released.status_code == 303
    shown = text_of(await client.get(participant))
    assert SUMMARY in shown
    assert P["release_missing"] not in shown
    assert P["follow_up_weeks"].format(weeks=6) in shown
    assert NOTES not in shown
    assert shown.index(P["entry_kinds"]["outcome_recorded"]) < shown.rindex(P["entry_kinds"]["consent_recorded"])
