"""The specialist's pages over real HTTP: the agenda over every organization they serve, the outcome form,
their own clinical notes and the calendar feed, each through the services the API calls."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.audit.models import AuditEvent
from telecon.organizations.models import Membership, User
from telecon.settings import Settings
from telecon.templating import texts
from tests.conftest import (
    TEST_PASSWORD,
    LiveServer,
    MovableClock,
    World,
    berlin,
    booking_body,
    login,
    next_weekday,
    seed_world,
)
from tests.integration.test_ui import DE, csrf_of, sign_in, text_of

pytestmark = pytest.mark.dates  # the consultations lie in the weeks after the test day

S = DE["specialist"]
OUT = DE["outcome"]
F = texts("de")["outcome_form"]
FEED = DE["feed"]
NOTES = "PLANTED-NOTES-5521: lumbale Diskopathie"
SUMMARY = "PLANTED-SUMMARY-7713: Rückenschule empfohlen"


@dataclass
class Scene:
    client: httpx.AsyncClient
    clock: MovableClock
    world: World
    other: World
    here: dict[str, Any]
    """The physician's consultation in the world's organization (Tuesday 09:00 Berlin)."""
    there: dict[str, Any]
    """The physician's consultation in the other organization, which they serve too (Wednesday 10:00 Berlin)."""
    psychologist: dict[str, Any]
    """Another specialist's consultation (Thursday 11:00 Berlin)."""


async def book(
    client: httpx.AsyncClient, world: World, coach: str, start: str, specialist: uuid.UUID
) -> dict[str, Any]:
    body = booking_body(world, start) | {"specialist_id": str(specialist)}
    created = await client.post("/api/v1/consultations", json=body, headers=await login(client, coach))
    assert created.status_code == 201, created.text
    answer: dict[str, Any] = created.json()
    return answer


@pytest.fixture
async def scene(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Scene]:
    world = await seed_world(sessionmaker)
    other = await seed_world(sessionmaker, name="Jobcenter Zweite", prefix="zweite-")
    async with sessionmaker() as session, session.begin():
        session.add(
            Membership(user_id=world.specialist_id, organization_id=other.organization_id, role=Role.specialist)
        )
    movable = MovableClock()
    with LiveServer(settings, app_clock=movable) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
            # A Tuesday, the Wednesday after it and the Thursday after that: in this order on any test day.
            tuesday = next_weekday(1)
            here = await book(client, world, world.coach, berlin(tuesday, 9), world.specialist_id)
            there = await book(client, other, other.coach, berlin(tuesday + timedelta(days=1), 10), world.specialist_id)
            psychologist = await book(
                client, world, world.coach, berlin(tuesday + timedelta(days=2), 11), world.psychologist_id
            )
            yield Scene(client, movable, world, other, here, there, psychologist)


def after(scene: Scene, consultation: dict[str, Any], minutes: int = 40) -> None:
    """Move the app's clock to just after a consultation (they last 30 minutes)."""
    start = consultation["start"].replace("Z", "+00:00")
    scene.clock.move_to(datetime.fromisoformat(start) + timedelta(minutes=minutes))


async def api_as(scene: Scene, email: str, organization: uuid.UUID) -> dict[str, str]:
    answer = await scene.client.post(
        "/api/v1/auth/login",
        json={"email": email, "password": TEST_PASSWORD, "organization_id": str(organization)},
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def own_link(consultation: dict[str, Any], kind: str) -> str:
    return str(next(a for a in consultation["attendees"] if a["kind"] == kind)["join_url"])


async def specialist_join_url(scene: Scene, consultation: dict[str, Any], organization: uuid.UUID) -> str:
    headers = await api_as(scene, scene.world.specialist, organization)
    shown = await scene.client.get(f"/api/v1/consultations/{consultation['id']}", headers=headers)
    assert shown.status_code == 200, shown.text
    return own_link(shown.json(), "specialist")


def outcome_form(csrf: str, version: int = 0, **fields: Any) -> dict[str, Any]:
    return {
        "csrf_token": csrf,
        "version": str(version),
        "attendance": "attended",
        "recommendation": ["prevention_course", "physiotherapy"],
        "rec-prevention_course-text": "zweimal wöchentlich",
        "rec-physiotherapy-text": "",
        "work_capacity": "three_to_six_hours",
        "follow_up_weeks": "6",
        "summary_for_coach": SUMMARY,
        "clinical_notes": NOTES,
    } | fields


# --- the agenda --------------------------------------------------------------------------------------------


async def test_the_agenda_shows_both_organizations_in_the_specialists_zone_and_not_another_specialists(
    scene: Scene, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(update(User).where(User.id == scene.world.specialist_id).values(timezone="Europe/London"))
    await sign_in(scene.client, scene.world.specialist)
    agenda = await scene.client.get("/specialist")
    assert agenda.status_code == 200
    page = text_of(agenda)
    assert "Jobcenter Test" in page
    assert "Jobcenter Zweite" in page
    assert S["zone"].format(timezone="Europe/London") in page
    # 09:00 and 10:00 in Berlin are 08:00 and 09:00 in London; the psychologist's 11:00 is not here.
    assert "<time>08:00</time>" in agenda.text
    assert "<time>09:00</time>" in agenda.text
    assert "<time>10:00</time>" not in agenda.text
    assert "<time>11:00</time>" not in agenda.text
    # Each consultation's own join link for the specialist, as the API shows it to them in its organization.
    assert await specialist_join_url(scene, scene.here, scene.world.organization_id) in page
    assert await specialist_join_url(scene, scene.there, scene.other.organization_id) in page
    assert own_link(scene.here, "participant") not in page
    assert own_link(scene.psychologist, "participant") not in page
    assert 'href="/specialist" aria-current="page"' in agenda.text
    for link in ('href="/availability"', 'href="/specialist/notes"', 'href="/specialist/calendar-feed"'):
        assert link in agenda.text
    assert S["no_missing"] in page


async def test_an_ended_consultation_is_owed_until_its_outcome_is_recorded(scene: Scene) -> None:
    after(scene, scene.there)  # both of the physician's consultations have ended
    await sign_in(scene.client, scene.world.specialist)
    agenda = await scene.client.get("/specialist")
    page = text_of(agenda)
    assert S["owed"] in page
    assert page.count(f'href="/consultations/{scene.here["id"]}/outcome"') == 2  # owed, and in the last 14 days
    assert f'href="/consultations/{scene.there["id"]}/outcome"' in page
    assert scene.psychologist["id"] not in page

    form = await scene.client.get(f"/consultations/{scene.there['id']}/outcome")
    saved = await scene.client.post(f"/consultations/{scene.there['id']}/outcome", data=outcome_form(csrf_of(form)))
    assert saved.status_code == 303, saved.text
    agenda = await scene.client.get("/specialist")
    missing = text_of(agenda).split(S["upcoming"])[0]
    assert scene.here["id"] in missing
    assert scene.there["id"] not in missing


# --- the outcome form --------------------------------------------------------------------------------------


async def test_the_form_records_the_outcome_the_api_returns(scene: Scene) -> None:
    after(scene, scene.here)
    await sign_in(scene.client, scene.world.specialist)
    form = await scene.client.get(f"/consultations/{scene.here['id']}/outcome")
    assert form.status_code == 200
    assert form.headers["cache-control"] == "no-store"
    assert '<label for="attendance-attended">' in form.text
    assert f'<label for="clinical_notes">{F["clinical_notes"]}</label>' in text_of(form)
    assert 'name="version" value="0"' in form.text
    saved = await scene.client.post(f"/consultations/{scene.here['id']}/outcome", data=outcome_form(csrf_of(form)))
    assert (saved.status_code, saved.headers["location"]) == (
        303,
        f"/consultations/{scene.here['id']}/outcome?saved=1",
    )
    shown = await scene.client.get(saved.headers["location"])
    assert F["saved"].format(version=1) in text_of(shown)
    assert 'name="version" value="1"' in shown.text
    assert NOTES in text_of(shown)  # the form shows the saved version, the author's notes included

    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    api = await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    assert api.status_code == 200, api.text
    body = api.json()
    assert (body["version"], body["attendance"], body["work_capacity"]) == (1, "attended", "three_to_six_hours")
    assert body["follow_up_weeks"] == 6
    assert body["summary_for_coach"] == SUMMARY
    assert body["clinical_notes"] == NOTES
    assert body["recommendations"] == [
        {"code": "prevention_course", "text": "zweimal wöchentlich"},
        {"code": "physiotherapy", "text": None},
    ]
    consultation = await scene.client.get(f"/api/v1/consultations/{scene.here['id']}", headers=headers)
    assert consultation.json()["status"] == "completed"


async def test_a_consultation_of_the_other_organization_is_recorded_there(scene: Scene) -> None:
    """Signed in to the first organization, the specialist records the second one's outcome in its name."""
    after(scene, scene.there)
    await sign_in(scene.client, scene.world.specialist)
    form = await scene.client.get(f"/consultations/{scene.there['id']}/outcome")
    assert form.status_code == 200
    assert "Jobcenter Zweite" in text_of(form)
    saved = await scene.client.post(
        f"/consultations/{scene.there['id']}/outcome",
        data=outcome_form(csrf_of(form), attendance="participant_no_show"),
    )
    assert saved.status_code == 303, saved.text
    headers = await api_as(scene, scene.other.coach, scene.other.organization_id)
    api = await scene.client.get(f"/api/v1/consultations/{scene.there['id']}/outcome", headers=headers)
    assert api.status_code == 200, api.text
    assert api.json()["attendance"] == "participant_no_show"
    assert api.json()["clinical_notes"] is None  # never for the coach


async def test_invalid_input_is_kept_and_said_by_each_field(scene: Scene) -> None:
    after(scene, scene.here)
    await sign_in(scene.client, scene.world.specialist)
    form = await scene.client.get(f"/consultations/{scene.here['id']}/outcome")
    refused = await scene.client.post(
        f"/consultations/{scene.here['id']}/outcome",
        data=outcome_form(
            csrf_of(form), attendance="", follow_up_weeks="200", **{"rec-prevention_course-text": "x" * 4001}
        ),
    )
    assert refused.status_code == 422
    page = text_of(refused)
    assert F["invalid"] in page
    assert OUT["attendance_missing"] in page
    assert OUT["weeks_invalid"] in page
    assert OUT["text_invalid"] in page
    assert 'aria-describedby="follow_up_weeks-error"' in refused.text
    assert 'aria-describedby="attendance-error"' in refused.text
    assert 'aria-describedby="rec-prevention_course-error"' in refused.text
    assert 'value="200"' in refused.text
    assert SUMMARY in page
    assert NOTES in page
    assert re.search(r'value="three_to_six_hours" selected', refused.text)
    assert re.search(r'id="rec-physiotherapy" value="physiotherapy" checked', refused.text)
    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    api = await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    assert api.status_code == 404  # nothing was recorded


async def test_a_stale_version_is_a_conflict_that_shows_the_saved_state(scene: Scene) -> None:
    after(scene, scene.here)
    await sign_in(scene.client, scene.world.specialist)
    form = await scene.client.get(f"/consultations/{scene.here['id']}/outcome")
    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    meanwhile = await scene.client.put(
        f"/api/v1/consultations/{scene.here['id']}/outcome",
        json={"attendance": "technical_failure", "summary_for_coach": "Abbruch nach zehn Minuten"},
        headers=headers,
    )
    assert meanwhile.status_code == 200, meanwhile.text
    stale = await scene.client.post(f"/consultations/{scene.here['id']}/outcome", data=outcome_form(csrf_of(form)))
    assert stale.status_code == 409
    page = text_of(stale)
    assert OUT["stale"].format(version=1, next=2) in page
    assert OUT["current_title"].format(version=1) in page
    assert "Abbruch nach zehn Minuten" in page  # what is saved now
    assert SUMMARY in page  # and what was typed
    assert 'name="version" value="1"' in stale.text
    api = await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    assert (api.json()["version"], api.json()["attendance"]) == (1, "technical_failure")

    again = await scene.client.post(
        f"/consultations/{scene.here['id']}/outcome", data=outcome_form(csrf_of(stale), version=1)
    )
    assert again.status_code == 303, again.text
    api = await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    assert (api.json()["version"], api.json()["attendance"]) == (2, "attended")
    versions = await scene.client.get(f"/consultations/{scene.here['id']}/outcome/versions")
    assert versions.status_code == 200
    assert "Abbruch nach zehn Minuten" in text_of(versions)
    assert NOTES in text_of(versions)


async def test_before_the_start_the_form_says_so_and_records_nothing(scene: Scene) -> None:
    await sign_in(scene.client, scene.world.specialist)
    form = await scene.client.get(f"/consultations/{scene.here['id']}/outcome")
    assert form.status_code == 200
    assert OUT["not_started"] in text_of(form)
    assert 'name="attendance"' not in form.text
    refused = await scene.client.post(f"/consultations/{scene.here['id']}/outcome", data=outcome_form(csrf_of(form)))
    assert refused.status_code == 409
    assert OUT["not_started"] in text_of(refused)


async def test_nobody_else_reaches_the_form(scene: Scene) -> None:
    after(scene, scene.here)
    path = f"/consultations/{scene.here['id']}/outcome"
    await sign_in(scene.client, scene.world.coach)
    for page in (path, "/specialist/notes", "/specialist/calendar-feed", f"{path}/versions"):
        refused = await scene.client.get(page)
        assert refused.status_code == 403, page
        assert refused.headers["content-type"] == "text/html; charset=utf-8"
        assert DE["errors"]["forbidden"] in text_of(refused)
    home = await scene.client.get("/coach")
    assert 'href="/specialist/notes"' not in home.text

    for stranger in (scene.world.specialist.replace("doctor", "psych"), scene.other.specialist):
        scene.client.cookies.clear()
        await sign_in(scene.client, stranger)
        for page in (path, f"{path}/versions"):
            hidden = await scene.client.get(page)
            assert hidden.status_code == 404, (stranger, page)
            assert DE["errors"]["not_found"] in text_of(hidden)
        csrf = csrf_of(await scene.client.get("/specialist"))
        assert (await scene.client.post(path, data=outcome_form(csrf))).status_code == 404
    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    assert (
        await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    ).status_code == 404


async def test_the_forms_without_their_csrf_token_are_refused(scene: Scene) -> None:
    after(scene, scene.here)
    await sign_in(scene.client, scene.world.specialist)
    await scene.client.get("/specialist")
    for path, data in (
        (
            f"/consultations/{scene.here['id']}/outcome",
            {k: v for k, v in outcome_form("").items() if k != "csrf_token"},
        ),
        ("/specialist/calendar-feed", {}),
        ("/specialist/calendar-feed/revoke", {}),
    ):
        refused = await scene.client.post(path, data=data)
        assert refused.status_code == 403, path
        assert DE["errors"]["form_expired"] in text_of(refused)
    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    assert (
        await scene.client.get(f"/api/v1/consultations/{scene.here['id']}/outcome", headers=headers)
    ).status_code == 404
    assert (await scene.client.get("/api/v1/me/calendar-feed", headers=headers)).status_code == 404


# --- my clinical notes -------------------------------------------------------------------------------------


async def test_the_notes_page_lists_own_decrypted_notes_newest_first_and_audits_each_read(
    scene: Scene, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    after(scene, scene.there)
    here = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    there = await api_as(scene, scene.world.specialist, scene.other.organization_id)
    first = await scene.client.put(
        f"/api/v1/consultations/{scene.here['id']}/outcome",
        json={"attendance": "attended", "clinical_notes": "ERSTE-NOTIZ"},
        headers=here,
    )
    assert first.status_code == 200, first.text
    scene.clock.move_to(scene.clock() + timedelta(minutes=5))
    second = await scene.client.put(
        f"/api/v1/consultations/{scene.there['id']}/outcome",
        json={"attendance": "attended", "clinical_notes": "ZWEITE-NOTIZ"},
        headers=there,
    )
    assert second.status_code == 200, second.text
    # The psychologist's own outcome is theirs alone.
    after(scene, scene.psychologist)
    psychologist = await api_as(scene, scene.world.specialist.replace("doctor", "psych"), scene.world.organization_id)
    theirs = await scene.client.put(
        f"/api/v1/consultations/{scene.psychologist['id']}/outcome",
        json={"attendance": "attended", "clinical_notes": "FREMDE-NOTIZ"},
        headers=psychologist,
    )
    assert theirs.status_code == 200, theirs.text

    await sign_in(scene.client, scene.world.specialist)
    notes = await scene.client.get("/specialist/notes")
    assert notes.status_code == 200
    assert notes.headers["cache-control"] == "no-store"
    page = text_of(notes)
    assert page.index("ZWEITE-NOTIZ") < page.index("ERSTE-NOTIZ")  # the newest first
    assert "Jobcenter Zweite" in page
    assert "FREMDE-NOTIZ" not in page
    assert 'href="/specialist/notes" aria-current="page"' in notes.text
    async with sessionmaker() as session:
        reads = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "outcome.read", AuditEvent.actor_id == scene.world.specialist_id
                )
            )
        )
    listed = {(e.object_id, e.organization_id) for e in reads if e.details.get("via") == "own_list"}
    assert listed == {
        (uuid.UUID(scene.here["id"]), scene.world.organization_id),
        (uuid.UUID(scene.there["id"]), scene.other.organization_id),
    }
    assert all("NOTIZ" not in str(e.details) for e in reads)

    api = await scene.client.get("/api/v1/outcomes/mine", headers=there)
    assert api.status_code == 200, api.text
    assert [o["clinical_notes"] for o in api.json()] == ["ZWEITE-NOTIZ"]  # the token's organization only


async def test_no_outcome_yet_says_so(scene: Scene) -> None:
    await sign_in(scene.client, scene.world.specialist)
    notes = await scene.client.get("/specialist/notes")
    assert DE["notes"]["empty"] in text_of(notes)


# --- the calendar feed -------------------------------------------------------------------------------------


FEED_URL = re.compile(r'id="feed-url" class="link" readonly value="(http://telecon\.test/calendar/[^"]+\.ics)"')


async def test_the_feed_url_is_created_renewed_and_revoked(scene: Scene) -> None:
    await sign_in(scene.client, scene.world.specialist)
    page = await scene.client.get("/specialist/calendar-feed")
    assert page.status_code == 200
    assert FEED["none"] in text_of(page)
    assert not FEED_URL.search(page.text)

    created = await scene.client.post("/specialist/calendar-feed", data={"csrf_token": csrf_of(page)})
    assert (created.status_code, created.headers["location"]) == (303, "/specialist/calendar-feed?done=created")
    shown = await scene.client.get(created.headers["location"])
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["referrer-policy"] == "no-referrer"
    assert FEED["done"]["created"] in text_of(shown)
    found = FEED_URL.search(shown.text)
    assert found, shown.text
    url = found.group(1)
    assert "webcal://telecon.test/calendar/" in shown.text
    feed = await scene.client.get(urlsplit(url).path)
    assert feed.status_code == 200
    assert "BEGIN:VCALENDAR" in feed.text
    headers = await api_as(scene, scene.world.specialist, scene.world.organization_id)
    assert (await scene.client.get("/api/v1/me/calendar-feed", headers=headers)).json()["url"] == url

    renewed = await scene.client.post("/specialist/calendar-feed", data={"csrf_token": csrf_of(shown)})
    assert renewed.headers["location"] == "/specialist/calendar-feed?done=renewed"
    shown = await scene.client.get(renewed.headers["location"])
    found = FEED_URL.search(shown.text)
    assert found
    assert found.group(1) != url
    assert (await scene.client.get(urlsplit(url).path)).status_code == 404
    url = found.group(1)
    assert (await scene.client.get(urlsplit(url).path)).status_code == 200

    revoked = await scene.client.post("/specialist/calendar-feed/revoke", data={"csrf_token": csrf_of(shown)})
    assert revoked.headers["location"] == "/specialist/calendar-feed?done=revoked"
    shown = await scene.client.get(revoked.headers["location"])
    assert FEED["done"]["revoked"] in text_of(shown)
    assert not FEED_URL.search(shown.text)
    assert (await scene.client.get(urlsplit(url).path)).status_code == 404
