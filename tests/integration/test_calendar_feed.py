"""A specialist's agenda in their own calendar: a private, revocable feed over every organization they serve."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import icalendar
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.audit.models import AuditEvent
from telecon.notifications.feeds import CalendarFeed
from telecon.organizations.models import Membership
from telecon.scheduling.links import new_room_name
from telecon.scheduling.models import Consultation, ConsultationStatus
from tests.conftest import World, assert_problem, berlin, booking_body, login, next_weekday, now, seed_world

pytestmark = pytest.mark.dates  # the bookings lie a week or two after the test day

FEED = "/api/v1/me/calendar-feed"
PURPOSE = "Rückenschmerzen, Belastbarkeit klären"


async def book(client: httpx.AsyncClient, world: World, start: str, **extra: Any) -> dict[str, Any]:
    coach = await login(client, world.coach)
    created = await client.post("/api/v1/consultations", json=booking_body(world, start, **extra), headers=coach)
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def own_join_url(client: httpx.AsyncClient, specialist: str, consultation_id: str, org: uuid.UUID) -> str:
    """The specialist's own join link, as the API shows it to them in the consultation's organization."""
    response = await client.post(
        "/api/v1/auth/login",
        json={"email": specialist, "password": "correct horse battery staple", "organization_id": str(org)},
    )
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    shown = await client.get(f"/api/v1/consultations/{consultation_id}", headers=headers)
    assert shown.status_code == 200, shown.text
    url: str = next(a for a in shown.json()["attendees"] if a["kind"] == "specialist")["join_url"]
    return url


async def fetch_feed(client: httpx.AsyncClient, url: str) -> dict[str, icalendar.Event]:
    """The feed's events by UID, fetched as a calendar app would: without any token but the URL's."""
    response = await client.get(urlsplit(url).path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    calendar = icalendar.Calendar.from_ical(response.content)
    assert "METHOD" not in calendar  # a subscription, not an iTIP message
    return {str(e["UID"]): e for e in calendar.walk("VEVENT")}


async def test_the_feed_shows_own_consultations_of_every_organization_without_participant_data(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Zweite", prefix="zweite-")
    async with sessionmaker() as session, session.begin():
        session.add(
            Membership(user_id=world.specialist_id, organization_id=other.organization_id, role=Role.specialist)
        )
    here = await book(client, world, berlin(next_weekday(0), 9), purpose=PURPOSE)
    there_body = booking_body(other, berlin(next_weekday(1), 10), purpose=PURPOSE)
    there_body["specialist_id"] = str(world.specialist_id)
    created = await client.post("/api/v1/consultations", json=there_body, headers=await login(client, other.coach))
    assert created.status_code == 201, created.text
    there = created.json()
    # Another specialist's consultation is not in this feed.
    psychologist = await book(
        client, world, berlin(next_weekday(0), 9), specialist_id=str(world.psychologist_id), purpose=PURPOSE
    )

    specialist = await login(client, world.specialist)
    assert_problem(await client.get(FEED, headers=specialist), 404)
    made = await client.post(FEED, headers=specialist)
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {"url", "webcal_url", "created_at"}
    assert body["url"].startswith("http://telecon.test/calendar/")
    assert body["url"].endswith(".ics")
    assert body["webcal_url"] == "webcal://" + body["url"].removeprefix("http://")
    shown = await client.get(FEED, headers=specialist)
    assert shown.status_code == 200
    assert shown.json() == body  # the server shows the same URL again

    events = await fetch_feed(client, body["url"])
    assert set(events) == {f"{here['id']}@telecon.test", f"{there['id']}@telecon.test"}
    assert f"{psychologist['id']}@telecon.test" not in events
    mine = events[f"{here['id']}@telecon.test"]
    assert str(mine["SUMMARY"]) == "Erstgespräch – Jobcenter Test"
    assert str(events[f"{there['id']}@telecon.test"]["SUMMARY"]) == "Erstgespräch – Jobcenter Zweite"
    join_url = await own_join_url(client, world.specialist, here["id"], world.organization_id)
    assert str(mine["URL"]) == join_url
    assert str(mine["LOCATION"]) == join_url
    there_url = await own_join_url(client, world.specialist, there["id"], other.organization_id)
    assert str(events[f"{there['id']}@telecon.test"]["URL"]) == there_url
    assert mine["STATUS"] == "CONFIRMED"
    assert mine["SEQUENCE"] == 0
    assert mine.decoded("DTSTART").isoformat().replace("+00:00", "Z") == here["start"]
    assert "ATTENDEE" not in mine
    text = (await client.get(urlsplit(body["url"]).path)).text
    for secret in ("Maria", "Muster", "maria@test.invalid", "Rückenschmerzen", "Belastbarkeit"):
        assert secret not in text
    participant_url = next(a for a in here["attendees"] if a["kind"] == "participant")["join_url"]
    assert participant_url not in text


async def test_regenerating_and_revoking_stop_the_old_url(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await book(client, world, berlin(next_weekday(2), 9))
    specialist = await login(client, world.specialist)
    first = (await client.post(FEED, headers=specialist)).json()
    assert len(await fetch_feed(client, first["url"])) == 1

    again = await client.post(FEED, headers=specialist)
    assert again.status_code == 201, again.text
    second = again.json()
    assert second["url"] != first["url"]
    gone = await client.get(urlsplit(first["url"]).path)
    assert_problem(gone, 404)
    assert "detail" not in gone.json()  # nothing said about why
    assert len(await fetch_feed(client, second["url"])) == 1

    # Only the hash of the token is stored, never the token.
    token = urlsplit(second["url"]).path.rsplit("/", 1)[1].removesuffix(".ics")
    async with sessionmaker() as session:
        feeds = list(await session.scalars(select(CalendarFeed)))
        assert [f.user_id for f in feeds] == [world.specialist_id]
        assert feeds[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token not in (feeds[0].token_nonce, feeds[0].token_hash)

    revoked = await client.delete(FEED, headers=specialist)
    assert revoked.status_code == 204, revoked.text
    assert_problem(await client.get(urlsplit(second["url"]).path), 404)
    assert_problem(await client.get(FEED, headers=specialist), 404)
    assert (await client.delete(FEED, headers=specialist)).status_code == 204  # nothing left to revoke

    async with sessionmaker() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.object_id == world.specialist_id, AuditEvent.action.like("calendar_feed.%"))
                .order_by(AuditEvent.occurred_at)
            )
        )
    assert actions == ["calendar_feed.created", "calendar_feed.regenerated", "calendar_feed.revoked"]


async def test_unknown_tokens_and_other_roles_get_nothing(client: httpx.AsyncClient, world: World) -> None:
    for path in ("/calendar/nonsense.ics", "/calendar/nonsense", "/calendar/.ics"):
        assert_problem(await client.get(path), 404)
    for who in (world.coach, world.admin):
        headers = await login(client, who)
        assert_problem(await client.get(FEED, headers=headers), 403)
        assert_problem(await client.post(FEED, headers=headers), 403)
    assert_problem(await client.get(FEED), 401)
    assert_problem(await client.post(FEED), 401)


async def test_a_cancellation_shows_as_cancelled_with_a_raised_sequence(
    client: httpx.AsyncClient, world: World
) -> None:
    booked = await book(client, world, berlin(next_weekday(3), 11))
    specialist = await login(client, world.specialist)
    url = (await client.post(FEED, headers=specialist)).json()["url"]
    uid = f"{booked['id']}@telecon.test"
    assert (await fetch_feed(client, url))[uid]["SEQUENCE"] == 0

    coach = await login(client, world.coach)
    cancelled = await client.post(f"/api/v1/consultations/{booked['id']}/cancel", headers=coach)
    assert cancelled.status_code == 200, cancelled.text
    event = (await fetch_feed(client, url))[uid]
    assert event["STATUS"] == "CANCELLED"
    assert event["SEQUENCE"] == cancelled.json()["sequence"] > 0
    assert "URL" not in event
    assert "LOCATION" not in event  # the link no longer opens


async def test_the_last_30_days_stay_and_older_ones_are_left_out(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Past consultations cannot be booked through the API, so they are written directly."""

    def past(days_ago: float, status: ConsultationStatus) -> Consultation:
        starts_at = now() - timedelta(days=days_ago)
        return Consultation(
            organization_id=world.organization_id,
            participant_id=world.participant_id,
            specialist_id=world.specialist_id,
            consultation_type_id=world.type_id,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=30),
            blocked_until=starts_at + timedelta(minutes=30),
            status=status,
            room_name=new_room_name(),
            sequence=1 if status is ConsultationStatus.cancelled else 0,
        )

    recent, cancelled, old = (
        past(10, ConsultationStatus.completed),
        past(12, ConsultationStatus.cancelled),
        past(31, ConsultationStatus.completed),
    )
    async with sessionmaker() as session, session.begin():
        session.add_all([recent, cancelled, old])
    specialist = await login(client, world.specialist)
    events = await fetch_feed(client, (await client.post(FEED, headers=specialist)).json()["url"])
    assert set(events) == {f"{recent.id}@telecon.test", f"{cancelled.id}@telecon.test"}
    assert events[f"{cancelled.id}@telecon.test"]["STATUS"] == "CANCELLED"
    assert events[f"{recent.id}@telecon.test"]["STATUS"] == "CONFIRMED"
    assert "URL" not in events[f"{recent.id}@telecon.test"]  # written without a specialist attendee


async def test_an_organization_that_switched_the_specialist_off_drops_out(
    client: httpx.AsyncClient, world: World
) -> None:
    booked = await book(client, world, berlin(next_weekday(4), 9))
    specialist = await login(client, world.specialist)
    url = (await client.post(FEED, headers=specialist)).json()["url"]
    assert f"{booked['id']}@telecon.test" in await fetch_feed(client, url)
    admin = await login(client, world.admin)
    assert (await client.post(f"/api/v1/users/{world.specialist_id}/deactivate", headers=admin)).status_code == 200
    assert await fetch_feed(client, url) == {}
