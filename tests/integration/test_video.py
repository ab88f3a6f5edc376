"""Join links and Jitsi tokens, end to end: booking, window, token claims, revocation, reissue."""

from __future__ import annotations

import html
import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Role
from telecon.organizations.models import User
from telecon.scheduling.booking import book_consultation
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.models import AvailabilityOverride, OverrideKind
from telecon.scheduling.services import ConsultationView, SchedulingPolicy, reschedule_consultation
from telecon.settings import Settings
from telecon.templating import texts
from telecon.video.services import VideoPolicy, open_join
from tests.conftest import (
    LiveServer,
    World,
    assert_problem,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    now,
)

APP_SECRET = "development-jitsi-app-secret-change-me"
pytestmark = pytest.mark.dates  # join windows open and close on the test day's clock
# PyJWT checks nbf and exp against the machine's clock; the tests check them against the test day's.
ON_OUR_CLOCK = {"verify_exp": False, "verify_nbf": False, "verify_iat": False}


def links_of(settings: Settings) -> JoinLinks:
    return JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)


async def book_soon(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    world: World,
    *,
    minutes_ahead: int = 5,
    specialist_id: uuid.UUID | None = None,
) -> ConsultationView:
    """A consultation starting in a few minutes: extra hours for the specialist, no minimum notice."""
    start = (now() + timedelta(minutes=minutes_ahead)).replace(second=0, microsecond=0)
    specialist_id = specialist_id or world.specialist_id
    async with sessionmaker() as session, session.begin():
        session.add(
            AvailabilityOverride(
                specialist_id=specialist_id,
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                kind=OverrideKind.extra,
            )
        )
    async with sessionmaker() as session, session.begin():
        coach = await session.scalar(select(User).where(User.email == world.coach))
        assert coach is not None
        actor = Actor(coach.id, world.organization_id, Role.coach)
        booking = await book_consultation(
            session,
            actor,
            SchedulingPolicy(links=links_of(settings), min_notice=timedelta(0)),
            participant_id=world.participant_id,
            specialist_id=specialist_id,
            consultation_type_id=world.type_id,
            starts_at=start,
            purpose="Schlafstörungen",
            invite_coach=True,
            now=now(),
        )
    assert booking.created
    return booking.view


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def urls_by_kind(settings: Settings, view: ConsultationView) -> dict[str, str]:
    return {a.kind.value: links_of(settings).url(a.token_nonce) for a in view.attendees}


def decode(token: str, *, audience: str = "telecon") -> dict[str, Any]:
    """The claims of a Jitsi token that is valid now, by the test day's clock (PyJWT only knows the machine's)."""
    claims: dict[str, Any] = jwt.decode(
        token, APP_SECRET, algorithms=["HS256"], audience=audience, options=ON_OUR_CLOCK
    )
    assert claims["nbf"] <= now().timestamp() < claims["exp"]
    return claims


async def test_coach_sees_links_to_hand_on_but_never_the_specialists(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    body = {
        "participant_id": str(world.participant_id),
        "specialist_id": str(world.specialist_id),
        "consultation_type_id": str(world.type_id),
        "start": berlin(next_weekday(0), 9),
        "invite_coach": True,
        "guests": [{"name": "Dolmetscherin Aylin", "email": "aylin@example.org", "language": "tr"}],
    }
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text
    links = {a["kind"]: a["join_url"] for a in booked.json()["attendees"]}
    assert links["specialist"] is None
    for kind in ("participant", "coach", "guest"):
        assert links[kind].startswith("http://telecon.test/join/")
        assert len(token_of(links[kind])) >= 43  # 256 bits, base64url
    assert len(set(links.values())) == 4

    again = await client.get(f"/api/v1/consultations/{booked.json()['id']}", headers=coach)
    assert {a["kind"]: a["join_url"] for a in again.json()["attendees"]} == links

    specialist = await login(client, world.specialist)
    own = await client.get(f"/api/v1/consultations/{booked.json()['id']}", headers=specialist)
    seen = {a["kind"]: a["join_url"] for a in own.json()["attendees"]}
    assert seen["specialist"] is not None
    assert seen["participant"] is None

    early = await client.get(f"/api/v1/join/{token_of(links['participant'])}")
    assert early.status_code == 200, early.text
    assert early.json()["status"] == "early"
    assert early.json()["jwt"] is None


async def test_open_window_mints_per_person_tokens(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    view = await book_soon(sessionmaker, settings, world)
    urls = urls_by_kind(settings, view)
    participant = (await client.get(f"/api/v1/join/{token_of(urls['participant'])}")).json()
    specialist = (await client.get(f"/api/v1/join/{token_of(urls['specialist'])}")).json()
    assert participant["status"] == specialist["status"] == "open"
    assert participant["room"] == view.consultation.room_name

    claims = decode(participant["jwt"])
    header = jwt.get_unverified_header(participant["jwt"])
    assert header == {"alg": "HS256", "typ": "JWT"}
    assert claims["iss"] == "telecon"
    assert claims["aud"] == "telecon"
    assert claims["sub"] == settings.jitsi_domain
    assert claims["room"] == view.consultation.room_name
    assert claims["context"]["user"] == {
        "id": str(next(a.id for a in view.attendees if a.kind.value == "participant")),
        "name": "Maria Muster",
        "moderator": False,
    }
    assert claims["context"]["features"] == {"recording": False, "livestreaming": False, "transcription": False}
    assert claims["nbf"] == int((view.consultation.starts_at - timedelta(minutes=15)).timestamp())
    assert claims["exp"] == int((view.consultation.ends_at + timedelta(minutes=30)).timestamp())
    assert "maria@test.invalid" not in str(claims)
    assert "avatar" not in str(claims)
    assert "Schlaf" not in str(claims)
    assert decode(specialist["jwt"])["context"]["user"]["moderator"] is True

    coach = await login(client, world.coach)
    seen = await client.get(f"/api/v1/consultations/{view.consultation.id}", headers=coach)
    joins = {a["kind"]: a for a in seen.json()["attendees"]}
    assert joins["participant"]["join_count"] == 1
    assert joins["participant"]["first_joined_at"] is not None
    assert joins["guest" if "guest" in joins else "coach"]["join_count"] == 0


async def test_reschedule_moves_the_window_and_cancel_revokes(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    coach = await login(client, world.coach)
    booked = await client.post(
        "/api/v1/consultations",
        json={
            "participant_id": str(world.participant_id),
            "specialist_id": str(world.specialist_id),
            "consultation_type_id": str(world.type_id),
            "start": berlin(next_weekday(1), 9),
        },
        headers=coach,
    )
    link = token_of(next(a["join_url"] for a in booked.json()["attendees"] if a["kind"] == "participant"))
    before = (await client.get(f"/api/v1/join/{link}")).json()
    moved = await client.post(
        f"/api/v1/consultations/{booked.json()['id']}/reschedule",
        json={"start": berlin(next_weekday(1), 11)},
        headers=coach,
    )
    assert moved.status_code == 200
    after = (await client.get(f"/api/v1/join/{link}")).json()
    shift = datetime.fromisoformat(after["opens_at"]) - datetime.fromisoformat(before["opens_at"])
    assert shift == timedelta(hours=2)
    assert after["status"] == "early"

    await client.post(f"/api/v1/consultations/{booked.json()['id']}/cancel", json={"reason": "krank"}, headers=coach)
    cancelled = await client.get(f"/api/v1/join/{link}")
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["jwt"] is None


async def test_cancel_inside_the_window_stops_tokens(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    view = await book_soon(sessionmaker, settings, world)
    token = token_of(urls_by_kind(settings, view)["participant"])
    assert (await client.get(f"/api/v1/join/{token}")).json()["jwt"]
    coach = await login(client, world.coach)
    await client.post(f"/api/v1/consultations/{view.consultation.id}/cancel", json={}, headers=coach)
    after = (await client.get(f"/api/v1/join/{token}")).json()
    assert (after["status"], after["jwt"]) == ("cancelled", None)


async def test_reissue_replaces_one_link(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    view = await book_soon(sessionmaker, settings, world)
    urls = urls_by_kind(settings, view)
    participant = next(a for a in view.attendees if a.kind.value == "participant")
    coach = await login(client, world.coach)
    reissued = await client.post(
        f"/api/v1/consultations/{view.consultation.id}/attendees/{participant.id}/reissue", headers=coach
    )
    assert reissued.status_code == 200, reissued.text
    new_url = reissued.json()["join_url"]
    assert new_url != urls["participant"]
    assert_problem(await client.get(f"/api/v1/join/{token_of(urls['participant'])}"), 404)
    assert (await client.get(f"/api/v1/join/{token_of(new_url)}")).json()["status"] == "open"
    assert (await client.get(f"/api/v1/join/{token_of(urls['specialist'])}")).json()["status"] == "open"

    other = await login(client, world.specialist)
    refused = await client.post(
        f"/api/v1/consultations/{view.consultation.id}/attendees/{participant.id}/reissue", headers=other
    )
    assert_problem(refused, 403)
    unknown = await client.post(
        f"/api/v1/consultations/{view.consultation.id}/attendees/{uuid.uuid4()}/reissue", headers=coach
    )
    assert_problem(unknown, 404)


async def test_window_edges(world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    view = await book_soon(sessionmaker, settings, world, minutes_ahead=60)
    token = token_of(urls_by_kind(settings, view)["participant"])
    from telecon.app import jitsi_config

    policy = VideoPolicy(links=links_of(settings), jitsi=jitsi_config(settings))
    opens = view.consultation.starts_at - timedelta(minutes=15)
    closes = view.consultation.ends_at + timedelta(minutes=30)

    async def at(now: datetime) -> tuple[str, str | None]:
        async with sessionmaker() as session, session.begin():
            info = await open_join(session, policy, token, remote_address="127.0.0.1", now=now)
        assert info is not None
        return info.status, info.jwt

    assert await at(opens - timedelta(seconds=1)) == ("early", None)
    status, token_at_open = await at(opens)
    assert status == "open"
    assert token_at_open is not None
    claims = jwt.decode(token_at_open, options={"verify_signature": False})
    assert (claims["nbf"], claims["exp"]) == (int(opens.timestamp()), int(closes.timestamp()))
    assert (await at(closes - timedelta(seconds=1)))[0] == "open"
    assert await at(closes) == ("ended", None)
    assert await at(closes + timedelta(hours=1)) == ("ended", None)


async def test_unknown_links_are_404_and_guessing_is_throttled(settings: Settings, world: World) -> None:
    with LiveServer(settings.model_copy(update={"join_max_misses_per_address": 5})) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(5):
                assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 404, "token")
            throttled = await client.get(f"/api/v1/join/{uuid.uuid4().hex}")
            assert_problem(throttled, 429)
            assert int(throttled.headers["Retry-After"]) > 0
            page = await client.get(f"/join/{uuid.uuid4().hex}")
            assert page.status_code == 429


async def test_a_valid_link_opens_from_an_address_that_hit_the_miss_limit(
    settings: Settings, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """One person behind a job centre's NAT guessing links must not stop everyone else's consultations."""
    view = await book_soon(sessionmaker, settings, world)
    urls = urls_by_kind(settings, view)
    with LiveServer(settings.model_copy(update={"join_max_misses_per_address": 3})) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            for _ in range(3):
                assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 404, "token")
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 429)
            page = await client.get(f"/join/{uuid.uuid4().hex}", headers={"Accept-Language": "en"})
            assert page.status_code == 429
            assert page.headers["content-type"].startswith("text/html")  # a page in words, not problem JSON
            assert "Please wait a moment" in page.text
            assert int(page.headers["retry-after"]) > 0
            # Same address, valid links: they open, as the API and as the page, again and again.
            for _ in range(2):
                for kind in ("participant", "specialist"):
                    answer = await client.get(f"/api/v1/join/{token_of(urls[kind])}")
                    assert answer.status_code == 200, answer.text
                    assert answer.json()["status"] == "open"
                    assert decode(answer.json()["jwt"])["room"] == view.consultation.room_name
                assert (await client.get(f"/join/{token_of(urls['coach'])}")).status_code == 200
            # Misses stay throttled.
            assert_problem(await client.get(f"/api/v1/join/{uuid.uuid4().hex}"), 429)


@pytest.mark.parametrize("kind", ["participant", "specialist"])
async def test_join_page_serves_csp_and_no_health_data(
    kind: str,
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    view = await book_soon(sessionmaker, settings, world)
    page = await client.get(f"/join/{token_of(urls_by_kind(settings, view)[kind])}")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert f"https://{settings.jitsi_domain}" in csp
    assert "unsafe-inline" not in csp
    assert "*" not in csp
    assert f"https://{settings.jitsi_domain}/external_api.js" in page.text
    assert "Schlaf" not in page.text  # the purpose never reaches a page or a token
    assert view.consultation.room_name in page.text


async def test_each_consultation_token_names_only_its_own_room(
    client: httpx.AsyncClient, world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await book_soon(sessionmaker, settings, world, minutes_ahead=5)
    second = await book_soon(sessionmaker, settings, world, specialist_id=world.psychologist_id)
    assert first.consultation.room_name != second.consultation.room_name
    for view in (first, second):
        for url in urls_by_kind(settings, view).values():
            answer = (await client.get(f"/api/v1/join/{token_of(url)}")).json()
            assert answer["room"] == view.consultation.room_name
            assert decode(answer["jwt"])["room"] == view.consultation.room_name


async def test_jaas_tokens_are_rs256_with_kid(
    world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "jaas.pem").write_bytes(pem)
    jaas = settings.model_copy(
        update={
            "jitsi_private_key_file": tmp_path / "jaas.pem",
            "jitsi_app_id": "vpaas-magic-cookie-abc123",
            "jitsi_kid": "vpaas-magic-cookie-abc123/4f4910",
            "jitsi_domain": "8x8.vc",
        }
    )
    view = await book_soon(sessionmaker, jaas, world)
    with LiveServer(jaas) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            specialist_url = urls_by_kind(jaas, view)["specialist"]
            answer = (await client.get(f"/api/v1/join/{token_of(specialist_url)}")).json()
            page = await client.get(f"/join/{token_of(specialist_url)}")
    assert answer["status"] == "open", answer
    assert answer["room"] == f"vpaas-magic-cookie-abc123/{view.consultation.room_name}"
    header = jwt.get_unverified_header(answer["jwt"])
    assert header["alg"] == "RS256"
    assert header["kid"] == "vpaas-magic-cookie-abc123/4f4910"
    claims = jwt.decode(answer["jwt"], key.public_key(), algorithms=["RS256"], audience="jitsi", options=ON_OUR_CLOCK)
    assert claims["nbf"] <= now().timestamp() < claims["exp"]
    assert (claims["iss"], claims["sub"], claims["room"]) == (
        "chat",
        "vpaas-magic-cookie-abc123",
        view.consultation.room_name,
    )
    assert "https://8x8.vc/vpaas-magic-cookie-abc123/external_api.js" in page.text
    assert "https://8x8.vc" in page.headers["content-security-policy"]


async def test_token_window_follows_a_reschedule(
    world: World, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    wide = settings.model_copy(update={"join_opens_minutes": 120})  # open before and after the move
    view = await book_soon(sessionmaker, wide, world)
    token = token_of(urls_by_kind(wide, view)["participant"])
    with LiveServer(wide) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            before = decode((await client.get(f"/api/v1/join/{token}")).json()["jwt"])
            async with sessionmaker() as session, session.begin():
                coach = await session.scalar(select(User).where(User.email == world.coach))
                assert coach is not None
                await reschedule_consultation(
                    session,
                    Actor(coach.id, world.organization_id, Role.coach),
                    SchedulingPolicy(links=links_of(wide), min_notice=timedelta(0)),
                    view.consultation.id,
                    starts_at=view.consultation.starts_at + timedelta(minutes=30),
                    now=now(),
                )
            after = decode((await client.get(f"/api/v1/join/{token}")).json()["jwt"])
    assert after["nbf"] - before["nbf"] == 30 * 60
    assert after["exp"] - before["exp"] == 30 * 60
    assert after["room"] == before["room"]


# The join page in the attendee's language: Babel's dates and zone names, right to left for Arabic. Literal
# words here, not ``telecon.dates``, so that a page which stopped formatting through Babel would fail.
GERMAN_MONTHS = [
    "Januar",
    "Februar",
    "März",
    "April",
    "Mai",
    "Juni",
    "Juli",
    "August",
    "September",
    "Oktober",
    "November",
    "Dezember",
]
RUSSIAN_MONTHS = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
]
ARABIC_MONTHS = [
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
]


async def test_join_page_speaks_each_guests_language(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    day = next_weekday(0)
    languages = ["ar", "ru", "tr", "uk", "de-x-simple"]  # five guests at most; the participant reads German
    guests = [{"name": f"Gast {language}", "language": language} for language in languages]
    booked = await client.post(
        "/api/v1/consultations", json=booking_body(world, berlin(day, 9, 30), guests=guests), headers=coach
    )
    assert booked.status_code == 201, booked.text
    attendees = booked.json()["attendees"]
    links = {a["name"]: a["join_url"] for a in attendees if a["kind"] == "guest"}
    (links["Gast de"],) = [a["join_url"] for a in attendees if a["kind"] == "participant"]
    summer = berlin_time(day, 9, 30).dst() != timedelta(0)

    pages = {}
    for language in ["de", *languages]:
        page = await client.get(f"/join/{token_of(links[f'Gast {language}'])}")
        assert page.status_code == 200, page.text
        text = pages[language] = html.unescape(page.text)
        t = texts(language)
        # Left to right is HTML's default, so only Arabic names a direction.
        assert (f'<html lang="{language}" dir="rtl">' if language == "ar" else f'<html lang="{language}">') in text
        assert t["title"] in text
        assert t["check_title"] in text

    german = pages["de"]
    assert f"Montag, {day.day}. {GERMAN_MONTHS[day.month - 1]} {day.year}" in german
    assert "um 09:30 Uhr" in german
    assert ("(Mitteleuropäische Sommerzeit)" if summer else "(Mitteleuropäische Normalzeit)") in german
    assert 'dir="rtl"' not in german

    arabic = pages["ar"]
    assert 'dir="rtl"' in arabic
    assert "تبدأ استشارتكم عبر الفيديو" in arabic
    assert f"الاثنين، {day.day} {ARABIC_MONTHS[day.month - 1]} {day.year}" in arabic
    assert ("توقيت وسط أوروبا الصيفي" if summer else "توقيت وسط أوروبا الرسمي") in arabic

    russian = pages["ru"]
    assert f"понедельник, {day.day} {RUSSIAN_MONTHS[day.month - 1]} {day.year}\u202fг." in russian
    assert "в 09:30" in russian
    assert ("(Центральная Европа, летнее время)" if summer else "(Центральная Европа, стандартное время)") in russian
    assert "Здравствуйте, Gast ru" in russian

    assert "Mitteleuropäische" in pages["de-x-simple"]
    assert ("Orta Avrupa Yaz Saati" if summer else "Orta Avrupa Standart Saati") in pages["tr"]
    assert "понеділок" in pages["uk"]
    for language, text in pages.items():
        units = json.loads(text.split('id="join-texts">')[1].split("</script>")[0])["units"]
        assert units == texts(language)["units"], "the countdown gets every plural form of the language"


async def test_notice_pages_follow_the_browser_and_read_right_to_left_in_arabic(client: httpx.AsyncClient) -> None:
    unknown = await client.get(f"/join/{uuid.uuid4().hex}", headers={"Accept-Language": "ar-SY, de;q=0.5"})
    assert unknown.status_code == 404
    assert '<html lang="ar" dir="rtl">' in unknown.text
    assert texts("ar")["link_unknown_title"] in html.unescape(unknown.text)
