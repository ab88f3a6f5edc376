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


# --- editing ---------------------------------------------------------------------------------------------


def edit_body(csrf: str, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "display_name": "Maria Muster-Neu",
        "email": "maria.neu@test.invalid",
        "preferred_language": "en",
        "case_reference": "JC-0815",
        "interpreter_language": "",
        **extra,
    }


async def test_edit_keeps_what_was_typed_on_errors_then_saves_and_audits(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.coach)
    participant = f"/participants/{world.participant_id}"
    assert f'href="{participant}/edit"' in (await client.get(participant)).text
    form = await client.get(participant + "/edit")
    assert form.status_code == 200
    assert 'value="Maria Muster"' in form.text
    assert 'value="maria@test.invalid"' in form.text
    assert '<option value="de" selected>' in form.text

    refused = await client.post(participant + "/edit", data=edit_body(csrf_of(form), email="kaputt", easy_language="1"))
    assert refused.status_code == 422
    assert P["email_invalid"] in text_of(refused)
    assert 'aria-describedby="email-hint email-error"' in refused.text
    assert 'value="kaputt"' in refused.text
    assert 'value="Maria Muster-Neu"' in refused.text
    assert '<option value="en" selected>' in refused.text
    assert 'value="1" checked' in refused.text

    # Another participant's case reference: said by its field, nothing saved.
    coach = await login(client, world.coach)
    other = await client.post(
        "/api/v1/participants", json={"display_name": "Zweite", "case_reference": "JC-0815"}, headers=coach
    )
    assert other.status_code == 201, other.text
    taken = await client.post(participant + "/edit", data=edit_body(csrf_of(form)))
    assert taken.status_code == 409
    assert P["case_reference_taken"] in text_of(taken)
    assert 'aria-describedby="case_reference-hint case_reference-error"' in taken.text
    assert 'value="Maria Muster-Neu"' in taken.text
    unchanged = (await client.get(f"/api/v1/participants/{world.participant_id}", headers=coach)).json()
    assert (unchanged["display_name"], unchanged["email"]) == ("Maria Muster", "maria@test.invalid")

    saved = await client.post(participant + "/edit", data=edit_body(csrf_of(form), case_reference=""))
    assert (saved.status_code, saved.headers["location"]) == (303, participant + "?done=updated")
    page = text_of(await client.get(saved.headers["location"]))
    assert P["updated"] in page
    assert "Maria Muster-Neu" in page
    now = (await client.get(f"/api/v1/participants/{world.participant_id}", headers=coach)).json()
    assert now["email"] == "maria.neu@test.invalid"
    assert now["preferred_language"] == "en"
    assert now["case_reference"] is None
    assert now["consents"] == ["video_consultation"]  # consents are a history of their own, untouched

    admin = await login(client, world.admin)
    events = await client.get("/api/v1/audit-events", params={"action": "participant.updated"}, headers=admin)
    [event] = events.json()
    assert event["object_id"] == str(world.participant_id)
    assert event["details"] == {"fields": ["display_name", "email", "preferred_language"]}
    assert "maria.neu" not in events.text  # which fields changed, never their values


async def test_patch_changes_only_the_fields_sent_and_null_clears(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    path = f"/api/v1/participants/{world.participant_id}"
    changed = await client.patch(path, json={"interpreter_language": "fa", "easy_language": True}, headers=coach)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["display_name"], body["email"]) == ("Maria Muster", "maria@test.invalid")
    assert (body["interpreter_language"], body["easy_language"]) == ("fa", True)
    cleared = await client.patch(path, json={"email": None, "display_name": "Maria M."}, headers=coach)
    assert (cleared.json()["email"], cleared.json()["display_name"]) == (None, "Maria M.")
    assert cleared.json()["interpreter_language"] == "fa"
    for refused in ({"display_name": ""}, {"email": "kaputt"}, {"display_name": "Zeile\nzwei"}, {"unknown": 1}):
        response = await client.patch(path, json=refused, headers=coach)
        assert response.status_code == 422, refused
    not_a_coach = await client.patch(path, json={"coach_id": str(world.specialist_id)}, headers=coach)
    assert not_a_coach.status_code == 422
    assert not_a_coach.json()["field"] == "coach_id"


async def test_edit_of_another_organizations_participant_is_404_and_a_specialist_is_refused(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="o-")
    await sign_in(client, world.coach)
    foreign = f"/participants/{other.participant_id}/edit"
    assert (await client.get(foreign)).status_code == 404
    home = await client.get("/participants")
    posted = await client.post(foreign, data=edit_body(csrf_of(home)))
    assert posted.status_code == 404
    coach = await login(client, world.coach)
    assert (
        await client.patch(f"/api/v1/participants/{other.participant_id}", json={}, headers=coach)
    ).status_code == 404
    client.cookies.clear()
    await sign_in(client, world.specialist)
    assert (await client.get(f"/participants/{world.participant_id}/edit")).status_code == 403


# --- search ---------------------------------------------------------------------------------------------


async def test_search_is_in_the_service_and_escapes_wildcards(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="o-")
    coach = await login(client, world.coach)
    for name, reference, email in (
        ("Özlem Öztürk", "AZ-100", None),
        ("Rabe_Karl", "AZ-200", None),
        ("Karl 100% Rabe", "AZ-300", "karl.rabe@test.invalid"),
        ("Karlxrabe", "AZ-400", None),
    ):
        body = {"display_name": name, "case_reference": reference, "email": email}
        assert (await client.post("/api/v1/participants", json=body, headers=coach)).status_code == 201
    foreign = await login(client, other.coach)
    assert (
        await client.post("/api/v1/participants", json={"display_name": "Özlem Fremd"}, headers=foreign)
    ).status_code == 201

    async def names(q: str) -> list[str]:
        found = await client.get("/api/v1/participants", params={"q": q}, headers=coach)
        assert found.status_code == 200, found.text
        return [p["display_name"] for p in found.json()]

    assert await names("özlem") == ["Özlem Öztürk"]  # case-insensitive beyond ASCII; the other organization's not
    assert await names("ÖZTÜRK") == ["Özlem Öztürk"]
    assert await names("az-2") == ["Rabe_Karl"]  # case reference
    assert await names("KARL.RABE@") == ["Karl 100% Rabe"]  # email address
    assert await names("_") == ["Rabe_Karl"]  # not "any one character"
    assert await names("0%") == ["Karl 100% Rabe"]
    assert await names("%") == ["Karl 100% Rabe"]
    assert await names("l_k") == []
    assert await names("karl") == ["Karl 100% Rabe", "Karlxrabe", "Rabe_Karl"]
    assert len(await names("")) == 1 + 4  # no filter: Maria and the four
    assert (await client.get("/api/v1/participants", params={"q": "a\nb"}, headers=coach)).status_code == 422

    await sign_in(client, world.coach)
    page = await client.get("/participants", params={"q": "rabe_"})
    assert page.status_code == 200
    shown = text_of(page)
    assert "Rabe_Karl" in shown
    assert "Karlxrabe" not in shown
    assert "Maria Muster" not in shown
    assert P["found"].format(count=1) in shown
    assert "Özlem Fremd" not in text_of(await client.get("/participants", params={"q": "özlem"}))
