"""The printable instruction sheet: the participant's own link and its QR code, in their language, nothing clinical."""

from __future__ import annotations

import html
import re

import httpx
import segno
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.templating import texts
from telecon.ui.sheet import QR_ERROR_LEVEL
from tests.conftest import World, berlin, booking_body, login, next_weekday, seed_world
from tests.integration.test_ui import DE, sign_in, text_of

PURPOSE = "PLANTED-PURPOSE-3141: Rückenschmerzen seit März"
DE_SHEET = texts("de")["sheet"]
EN_SHEET = texts("en")["sheet"]


async def book(client: httpx.AsyncClient, world: World, coach: dict[str, str], **extra: object) -> tuple[str, str]:
    """A consultation of the world's participant with the physician; its id and the participant's link."""
    day = next_weekday(2)
    body = booking_body(world, berlin(day, 10), purpose=PURPOSE, **extra)
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text
    consultation = booked.json()
    link = next(a["join_url"] for a in consultation["attendees"] if a["kind"] == "participant")
    return consultation["id"], link


def qr_path(svg: str) -> str:
    """The modules of a QR code as segno draws them (the path's ``d``): equal paths, equal codes."""
    found = re.search(r'<path[^>]*class="qrline"[^>]*\sd="([^"]+)"', svg)
    assert found, svg[:500]
    return found.group(1)


def html_text(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def article(page: httpx.Response) -> str:
    start = page.text.index("<article")
    return page.text[start : page.text.index("</article>", start)]


async def test_the_sheet_has_the_participants_link_as_text_and_qr_code_in_german_without_the_purpose(
    client: httpx.AsyncClient, world: World
) -> None:
    coach = await login(client, world.coach)
    consultation_id, link = await book(client, world, coach)
    await sign_in(client, world.coach)
    page = await client.get(f"/consultations/{consultation_id}")
    assert f'href="/consultations/{consultation_id}/sheet"' in page.text
    assert DE["consultation"]["print_sheet"] in text_of(page)

    sheet = await client.get(f"/consultations/{consultation_id}/sheet")
    assert sheet.status_code == 200
    assert sheet.headers["cache-control"] == "no-store"
    shown = article(sheet)
    assert '<article class="sheet" lang="de" dir="ltr"' in shown
    assert DE_SHEET["heading"] in shown
    assert link in shown
    expected = segno.make(link, error=QR_ERROR_LEVEL, micro=False).svg_inline(scale=4)
    assert "<svg" in shown
    assert qr_path(shown) == qr_path(expected)
    assert qr_path(shown) != qr_path(segno.make(link + "x", error=QR_ERROR_LEVEL, micro=False).svg_inline(scale=4))
    text = html_text(shown)
    assert "Erstgespräch" in text  # the type's neutral name, as in the invitation
    assert "coach" in text  # the booking coach as contact
    assert "Jobcenter Test" in text
    for step in DE_SHEET["steps"][:2]:
        assert step in text
    # Nothing the invitation would not say: no purpose, no specialist, no profession.
    assert "PLANTED-PURPOSE" not in sheet.text
    assert "doctor" not in shown
    assert "Ärzt" not in shown
    assert "physician" not in shown

    admin = await login(client, world.admin)
    events = await client.get("/api/v1/audit-events", params={"action": "attendee.sheet_opened"}, headers=admin)
    [event] = events.json()
    assert event["object_id"] == consultation_id


async def test_an_english_participant_gets_an_english_sheet(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    created = await client.post(
        "/api/v1/participants", json={"display_name": "John Smith", "preferred_language": "en"}, headers=coach
    )
    participant_id = created.json()["id"]
    consent = {"kind": "video_consultation", "granted": True}
    assert (
        await client.post(f"/api/v1/participants/{participant_id}/consents", json=consent, headers=coach)
    ).status_code == 201
    day = next_weekday(3)
    body = booking_body(world, berlin(day, 9), purpose=PURPOSE) | {"participant_id": participant_id}
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text
    link = next(a["join_url"] for a in booked.json()["attendees"] if a["kind"] == "participant")

    await sign_in(client, world.coach)  # the coach reads German; the sheet is in the participant's language
    sheet = await client.get(f"/consultations/{booked.json()['id']}/sheet")
    assert sheet.status_code == 200
    shown = article(sheet)
    assert 'lang="en"' in shown
    text = html_text(shown)
    assert EN_SHEET["heading"] in text
    assert DE_SHEET["heading"] not in text
    assert "Hello John Smith" in text
    assert EN_SHEET["steps"][3] in text
    assert link in text
    assert "AM" in text  # the time as English readers write it (Babel, in the organization's zone)
    assert "PLANTED-PURPOSE" not in sheet.text
    assert DE["sheet"]["title"] in text_of(sheet)  # the staff part around it stays in the coach's language


async def test_a_cancelled_consultations_sheet_says_so_and_has_no_link(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    consultation_id, link = await book(client, world, coach)
    cancelled = await client.post(
        f"/api/v1/consultations/{consultation_id}/cancel", json={"reason": "verlegt"}, headers=coach
    )
    assert cancelled.status_code == 200, cancelled.text
    await sign_in(client, world.coach)
    sheet = await client.get(f"/consultations/{consultation_id}/sheet")
    assert sheet.status_code == 200
    shown = article(sheet)
    assert texts("de")["cancelled_title"] in html_text(shown)
    assert link not in sheet.text
    assert "/join/" not in sheet.text
    assert "<svg" not in shown
    admin = await login(client, world.admin)
    events = await client.get("/api/v1/audit-events", params={"action": "attendee.sheet_opened"}, headers=admin)
    assert events.json() == []  # no link handed out


async def test_another_organizations_sheet_is_404_and_a_specialist_is_refused(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="o-")
    foreign_id, foreign_link = await book(client, other, await login(client, other.coach))
    own_id, _ = await book(client, world, await login(client, world.coach))
    await sign_in(client, world.coach)
    foreign = await client.get(f"/consultations/{foreign_id}/sheet")
    assert foreign.status_code == 404
    assert DE["errors"]["not_found"] in text_of(foreign)
    assert foreign_link not in foreign.text
    client.cookies.clear()
    await sign_in(client, world.specialist)
    refused = await client.get(f"/consultations/{own_id}/sheet")
    assert refused.status_code == 403
    assert DE["errors"]["forbidden"] in text_of(refused)
    assert "/join/" not in refused.text
