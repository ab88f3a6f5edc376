"""The waitlist page over real HTTP: add someone, the hold on the coach's home page, confirm, release, errors."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.settings import Settings
from telecon.worker import run_waitlist
from tests.conftest import World, login, now
from tests.integration.test_ui import DE, csrf_of, sign_in, text_of
from tests.integration.test_waitlist import DAY, only_two_slots

W = DE["waitlist"]


def add_body(csrf: str, world: World, **extra: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "participant_id": str(world.participant_id),
        "consultation_type_id": str(world.type_id),
        "profession": "physician",
        "language": "",
        "latest_date": "",
        **extra,
    }


async def test_add_see_the_hold_at_home_and_book_it(client: httpx.AsyncClient, world: World) -> None:
    await only_two_slots(client, world)
    await sign_in(client, world.coach)
    page = await client.get("/waitlist")
    assert page.status_code == 200
    assert W["empty"] in text_of(page)
    assert "Maria Muster" in page.text  # offered in the form
    added = await client.post("/waitlist", data=add_body(csrf_of(page), world))
    assert added.status_code == 303, added.text
    listed = text_of(await client.get("/waitlist"))
    assert "Maria Muster" in listed
    assert W["confirm"] in listed

    home = await client.get("/coach")
    assert W["notice"] in text_of(home)
    entry_id = re.search(r"/waitlist/([0-9a-f-]{36})/confirm", home.text)
    assert entry_id is not None
    booked = await client.post(f"/waitlist/{entry_id[1]}/confirm", data={"csrf_token": csrf_of(home)})
    assert booked.status_code == 303, booked.text
    assert re.fullmatch(r"/consultations/[0-9a-f-]{36}", booked.headers["location"])
    home = await client.get("/coach")
    assert W["notice"] not in text_of(home)
    assert W["empty"] in text_of(await client.get("/waitlist"))
    again = await client.post(f"/waitlist/{entry_id[1]}/confirm", data={"csrf_token": csrf_of(home)})
    assert again.status_code == 409
    assert W["confirm_failed"].format(reason=W["not_held"]) in text_of(again)


async def test_a_confirmation_refused_by_the_booking_says_why_in_the_coachs_language(
    client: httpx.AsyncClient, world: World
) -> None:
    """The participant withdrew their consent after the hold was made: the booking refuses, the page says so."""
    await only_two_slots(client, world)
    await sign_in(client, world.coach)
    page = await client.get("/waitlist")
    assert (await client.post("/waitlist", data=add_body(csrf_of(page), world))).status_code == 303
    withdrawn = await client.post(
        f"/api/v1/participants/{world.participant_id}/consents",
        json={"kind": "video_consultation", "granted": False},
        headers=await login(client, world.coach),
    )
    assert withdrawn.status_code == 201, withdrawn.text
    page = await client.get("/waitlist")
    entry_id = re.search(r"/waitlist/([0-9a-f-]{36})/confirm", page.text)
    assert entry_id is not None
    refused = await client.post(f"/waitlist/{entry_id[1]}/confirm", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 409
    assert W["confirm_failed"].format(reason=W["no_consent"]) in text_of(refused)
    assert "consented" not in text_of(refused)  # not the service's English


async def test_errors_are_said_by_the_field_and_the_choice_is_kept(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    page = await client.get("/waitlist")
    refused = await client.post(
        "/waitlist", data=add_body(csrf_of(page), world, profession="", language="not a language")
    )
    assert refused.status_code == 422
    shown = text_of(refused)
    assert W["profession_missing"] in shown
    assert W["language_invalid"] in shown
    assert 'aria-describedby="language-hint language-error"' in refused.text
    assert f'<option value="{world.participant_id}" selected>' in refused.text
    past = await client.post("/waitlist", data=add_body(csrf_of(page), world, latest_date="2020-01-01"))
    assert past.status_code == 422
    assert W["latest_date_past"] in text_of(past)
    far = await client.post("/waitlist", data=add_body(csrf_of(page), world, latest_date="9999-12-31"))
    assert far.status_code == 422
    assert W["latest_date_far"] in text_of(far)
    assert W["latest_date_past"] not in text_of(far)
    first = await client.post("/waitlist", data=add_body(csrf_of(page), world))
    assert first.status_code == 303
    again = await client.post("/waitlist", data=add_body(csrf_of(page), world))
    assert again.status_code == 409
    assert W["already_waiting"] in text_of(again)


async def test_release_frees_the_slot_and_a_second_release_says_it_ended(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await only_two_slots(client, world)
    await sign_in(client, world.coach)
    page = await client.get("/waitlist")
    await client.post("/waitlist", data=add_body(csrf_of(page), world))
    page = await client.get("/waitlist")
    entry_id = re.search(r"/waitlist/([0-9a-f-]{36})/withdraw", page.text)
    assert entry_id is not None
    released = await client.post(f"/waitlist/{entry_id[1]}/withdraw", data={"csrf_token": csrf_of(page)})
    assert released.status_code == 303
    again = await client.post(f"/waitlist/{entry_id[1]}/withdraw", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 409
    assert W["ended"] in text_of(again)
    # The slot is free again: the sweep holds nothing (nobody waits) and the API offers both slots.
    assert (await run_waitlist(sessionmaker, settings, now=now()))["holds_made"] == 0
    coach = await login(client, world.coach)
    params = {
        "consultation_type_id": str(world.type_id),
        "specialist_id": str(world.specialist_id),
        "start": f"{DAY}T00:00:00+00:00",
        "end": f"{DAY}T23:00:00+00:00",
    }
    assert len((await client.get("/api/v1/slots", params=params, headers=coach)).json()["slots"]) == 2
