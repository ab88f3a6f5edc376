"""The join page in a real Chromium: the Jitsi IFrame API call, the lobby, the CSP, early and cancelled pages.

A stand-in ``external_api.js`` on a loopback port records what the page hands to ``JitsiMeetExternalAPI``,
so no Jitsi server (and no network) is needed.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
from playwright.async_api import Browser, Page
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Role
from telecon.dates import babel_locale, local_when
from telecon.organizations.models import Organization, User
from telecon.scheduling.booking import book_consultation
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.models import AttendeeKind, AvailabilityOverride, OverrideKind
from telecon.scheduling.services import SchedulingPolicy
from telecon.settings import Settings
from telecon.templating import texts
from tests.conftest import LiveServer, MovableClock, World, berlin, berlin_time, free_port, login, next_weekday, now

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
# Not marked ``dates`` as a whole: Chromium is slow to start. The pages that show dates are marked one by one.

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A fake camera and microphone, so that the device check can be exercised without hardware.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
JITSI_DOMAIN = "meet.example.test"
PHONE = {"width": 390, "height": 844}
NO_SIDEWAYS_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"

STUB_EXTERNAL_API = """\
window.JitsiMeetExternalAPI = function (domain, options) {
  window.__jitsiCalls = (window.__jitsiCalls || []).concat([{domain: domain, options: {
    roomName: options.roomName, jwt: options.jwt, lang: options.lang,
    configOverwrite: options.configOverwrite, interfaceConfigOverwrite: options.interfaceConfigOverwrite}}]);
  this.addListener = function (name, fn) { (window.__jitsiListeners = window.__jitsiListeners || {})[name] = fn; };
  this.executeCommand = function (name, arg) {
    (window.__jitsiCommands = window.__jitsiCommands || []).push([name, arg]);
  };
  this.dispose = function () {};
};
"""

# Runs before any page script and is not subject to the page's CSP: records every violation the page causes.
RECORD_CSP_VIOLATIONS = """\
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__cspViolations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


# --- a stand-in Jitsi server ---------------------------------------------------------------------------


class JitsiStub:
    """Serves ``/external_api.js`` on a loopback port and remembers what was requested."""

    def __init__(self) -> None:
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.requests: list[str] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stub.requests.append(self.path)
                if self.path.split("?")[0] != "/external_api.js":
                    self.send_error(404)
                    return
                body = STUB_EXTERNAL_API.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/javascript; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JitsiStub:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def jitsi_stub() -> Iterator[JitsiStub]:
    with JitsiStub() as stub:
        yield stub


@pytest.fixture
def app_settings(settings: Settings, jitsi_stub: JitsiStub) -> Settings:
    return settings.model_copy(
        update={"jitsi_external_api_url": f"{jitsi_stub.origin}/external_api.js", "jitsi_domain": JITSI_DOMAIN}
    )


@pytest.fixture
def server(app_settings: Settings, world: World) -> Iterator[LiveServer]:
    # ``world`` first: the server reads the organization the fixture seeded into the same database.
    with LiveServer(app_settings) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


# --- helpers -------------------------------------------------------------------------------------------


@dataclass
class Visit:
    page: Page
    headers: dict[str, str]
    console: list[tuple[str, str]]
    page_errors: list[str]

    def console_errors(self) -> list[str]:
        """Console errors, except the browser's own request for a favicon the app does not serve."""
        return [text for kind, text in self.console if kind == "error" and "/favicon.ico" not in text]

    async def csp_violations(self) -> list[str]:
        violations: list[str] = await self.page.evaluate("window.__cspViolations")
        return violations + [text for _, text in self.console if "Content Security Policy" in text]


async def visit(browser: Browser, url: str, **context: Any) -> Visit:
    """Open ``url`` in a fresh context, collecting console messages, page errors and CSP violations."""
    browser_context = await browser.new_context(**context)
    await browser_context.add_init_script(RECORD_CSP_VIOLATIONS)
    page = await browser_context.new_page()
    console: list[tuple[str, str]] = []
    page_errors: list[str] = []
    page.on("console", lambda message: console.append((message.type, f"{message.text} {message.location}")))
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    response = await page.goto(url, wait_until="load")
    assert response is not None
    assert response.status == 200, await response.text()
    return Visit(page, await response.all_headers(), console, page_errors)


def local_url(server: LiveServer, join_url: str) -> str:
    """The join link as the coach hands it on (public URL), opened on the test server instead."""
    return server.url + urlsplit(join_url).path


def check_csp(headers: dict[str, str], stub: JitsiStub) -> None:
    policy = headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (part.strip() for part in policy.split(";")) if d}
    assert stub.origin in directives["script-src"], policy
    assert stub.origin in directives["frame-src"], policy
    assert directives["default-src"] == ["'none'"], policy
    for sources in directives.values():
        for source in sources:
            assert source not in ("*", "'unsafe-inline'", "'unsafe-eval'", "http:", "https:", "data:*"), policy
            assert not source.startswith("*"), policy
    assert "frame-ancestors 'none'" in policy


async def coach_actor(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> Actor:
    async with sessionmaker() as session:
        coach_id = (await session.execute(select(User.id).where(User.email == world.coach))).scalar_one()
    return Actor(user_id=coach_id, organization_id=world.organization_id, role=Role.coach)


@dataclass
class OpenConsultation:
    room: str
    starts_at: datetime
    join_urls: dict[AttendeeKind, str]


async def book_open_consultation(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, world: World
) -> OpenConsultation:
    """A consultation starting in five minutes, so its join window is open now (no minimum notice)."""
    links = JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)
    actor = await coach_actor(sessionmaker, world)
    start = (now() + timedelta(minutes=5)).replace(second=0, microsecond=0)
    async with sessionmaker() as session, session.begin():
        session.add(
            AvailabilityOverride(
                specialist_id=world.specialist_id,
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                kind=OverrideKind.extra,
            )
        )
    async with sessionmaker() as session, session.begin():
        booking = await book_consultation(
            session,
            actor,
            SchedulingPolicy(links=links, min_notice=timedelta(0)),
            participant_id=world.participant_id,
            specialist_id=world.specialist_id,
            consultation_type_id=world.type_id,
            starts_at=start,
            purpose=None,
            now=now(),
        )
        assert booking.created
        view = booking.view
        return OpenConsultation(
            room=view.consultation.room_name,
            starts_at=start,
            join_urls={a.kind: links.url(a.token_nonce) for a in view.attendees},
        )


async def book_via_http(
    http: httpx.AsyncClient, world: World, participant_id: uuid.UUID | str, start: str
) -> dict[str, Any]:
    coach = await login(http, world.coach)
    body = {
        "participant_id": str(participant_id),
        "specialist_id": str(world.specialist_id),
        "consultation_type_id": str(world.type_id),
        "start": start,
        "purpose": None,
    }
    created = await http.post("/api/v1/consultations", json=body, headers=coach)
    assert created.status_code == 201, created.text
    consultation: dict[str, Any] = created.json()
    return consultation


def participant_link(consultation: dict[str, Any]) -> str:
    (url,) = [a["join_url"] for a in consultation["attendees"] if a["kind"] == "participant"]
    assert url, consultation
    return str(url)


async def organization_zone(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> str:
    async with sessionmaker() as session:
        organization = await session.get_one(Organization, world.organization_id)
        return organization.timezone


async def consenting_participant(
    http: httpx.AsyncClient, coach: dict[str, str], name: str, email: str, language: str
) -> str:
    created = await http.post(
        "/api/v1/participants",
        json={"display_name": name, "email": email, "preferred_language": language},
        headers=coach,
    )
    assert created.status_code == 201, created.text
    participant_id = str(created.json()["id"])
    consent = await http.post(
        f"/api/v1/participants/{participant_id}/consents",
        json={"kind": "video_consultation", "granted": True},
        headers=coach,
    )
    assert consent.status_code == 201, consent.text
    return participant_id


async def check_right_to_left(page: Page) -> None:
    """Laid out from the right: the heading and the buttons start at the card's right edge, not its left."""
    assert await page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    edges = await page.evaluate(
        """() => {
          const card = document.querySelector("section.card").getBoundingClientRect();
          const button = document.getElementById("check-start").getBoundingClientRect();
          const heading = document.querySelector("h1");
          const range = document.createRange();
          range.selectNodeContents(heading);
          const text = range.getBoundingClientRect();
          const main = heading.parentElement.getBoundingClientRect();
          return {cardRight: card.right, cardLeft: card.left, buttonRight: button.right, buttonLeft: button.left,
                  textRight: text.right, textLeft: text.left, mainRight: main.right, mainLeft: main.left};
        }"""
    )
    assert edges["cardRight"] - edges["buttonRight"] < 40 < edges["buttonLeft"] - edges["cardLeft"], edges
    assert edges["mainRight"] - edges["textRight"] < 40 < edges["textLeft"] - edges["mainLeft"], edges


def screenshot_path(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.png"


async def screenshot(page: Page, path: Path) -> None:
    await page.screenshot(path=str(path), full_page=True)
    check_png(path)


def check_png(path: Path) -> None:
    assert path.exists()
    assert path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the open window -----------------------------------------------------------------------------------


@pytest.mark.dates
async def test_open_window_starts_jitsi_and_the_specialist_switches_the_lobby_on(
    server: LiveServer,
    browser: Browser,
    jitsi_stub: JitsiStub,
    app_settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
) -> None:
    booked = await book_open_consultation(sessionmaker, app_settings, world)

    # The participant: joins the right room as a plain member; nobody touches the lobby.
    participant = await visit(browser, local_url(server, booked.join_urls[AttendeeKind.participant]))
    await participant.page.wait_for_function("() => (window.__jitsiCalls || []).length > 0")
    calls: list[dict[str, Any]] = await participant.page.evaluate("window.__jitsiCalls")
    assert len(calls) == 1
    (call,) = calls
    assert call["domain"] == JITSI_DOMAIN
    options = call["options"]
    assert options["roomName"] == booked.room
    assert options["lang"] == "de"
    claims = jwt.decode(options["jwt"], options={"verify_signature": False})
    assert claims["room"] == booked.room
    assert claims["context"]["user"]["moderator"] is False
    assert claims["nbf"] <= now().timestamp() < claims["exp"]
    config = options["configOverwrite"]
    assert config["prejoinConfig"]["enabled"] is True
    assert config["disableDeepLinking"] is True
    assert "recording" not in config["toolbarButtons"]
    assert "livestreaming" not in config["toolbarButtons"]
    # Even if Jitsi made the participant moderator (stock Jitsi's auto-owner), their page leaves the lobby alone.
    listeners = await participant.page.evaluate("Object.keys(window.__jitsiListeners || {})")
    if "participantRoleChanged" in listeners:
        await participant.page.evaluate("window.__jitsiListeners.participantRoleChanged({role: 'moderator'})")
    assert await participant.page.evaluate("window.__jitsiCommands") is None
    assert await participant.page.is_hidden("#loading")
    assert await participant.page.is_hidden("#load-failed")
    assert await participant.page.evaluate("document.body.dataset.status") == "open"

    check_csp(participant.headers, jitsi_stub)
    assert await participant.csp_violations() == []
    assert participant.page_errors == []
    assert participant.console_errors() == []
    assert jitsi_stub.requests.count("/external_api.js") == 1

    # The specialist: a moderator token, and the lobby goes on once Jitsi made them moderator.
    specialist = await visit(browser, local_url(server, booked.join_urls[AttendeeKind.specialist]))
    await specialist.page.wait_for_function("() => (window.__jitsiCalls || []).length > 0")
    (call,) = await specialist.page.evaluate("window.__jitsiCalls")
    assert call["domain"] == JITSI_DOMAIN
    assert call["options"]["roomName"] == booked.room
    claims = jwt.decode(call["options"]["jwt"], options={"verify_signature": False})
    assert claims["room"] == booked.room
    assert claims["context"]["user"]["moderator"] is True
    assert await specialist.page.evaluate("window.__jitsiCommands") is None  # not before Jitsi says so
    await specialist.page.evaluate("window.__jitsiListeners.participantRoleChanged({role: 'moderator'})")
    commands = await specialist.page.evaluate("window.__jitsiCommands")
    assert ["toggleLobby", True] in commands
    # A second role event (say, after a reconnect) does not toggle the lobby off again.
    await specialist.page.evaluate("window.__jitsiListeners.participantRoleChanged({role: 'moderator'})")
    assert await specialist.page.evaluate("window.__jitsiCommands") == [["toggleLobby", True]]

    check_csp(specialist.headers, jitsi_stub)
    assert await specialist.csp_violations() == []
    assert specialist.page_errors == []
    assert specialist.console_errors() == []


# --- before the window opens ---------------------------------------------------------------------------


@pytest.mark.dates
async def test_early_page_shows_the_time_a_countdown_and_the_device_check(
    server: LiveServer,
    http: httpx.AsyncClient,
    browser: Browser,
    jitsi_stub: JitsiStub,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    tmp_path: Path,
) -> None:
    zone = await organization_zone(sessionmaker, world)
    coach = await login(http, world.coach)
    english = await http.post(
        "/api/v1/participants",
        json={"display_name": "John Example", "email": "john@test.invalid", "preferred_language": "en"},
        headers=coach,
    )
    assert english.status_code == 201, english.text
    arabic = await consenting_participant(http, coach, "Amal Haddad", "amal@test.invalid", "ar")
    russian = await consenting_participant(http, coach, "Olga Petrova", "olga@test.invalid", "ru")
    consent = await http.post(
        f"/api/v1/participants/{english.json()['id']}/consents",
        json={"kind": "video_consultation", "granted": True},
        headers=coach,
    )
    assert consent.status_code == 201, consent.text

    monday = next_weekday(0)
    cases = [
        ("de", world.participant_id, berlin(monday, 9), "Maria Muster"),
        ("en", english.json()["id"], berlin(monday, 10), "John Example"),
        ("ar", arabic, berlin(monday, 11), "Amal Haddad"),
        ("ru", russian, berlin(monday, 11, 30), "Olga Petrova"),
    ]
    for language, participant_id, start, name in cases:
        consultation = await book_via_http(http, world, participant_id, start)
        t = texts(language)
        when = local_when(datetime.fromisoformat(start), zone, language)

        early = await visit(
            browser,
            local_url(server, participant_link(consultation)),
            viewport=PHONE,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            permissions=["camera", "microphone"],
        )
        page = early.page
        assert await page.evaluate("document.documentElement.lang") == language
        assert await page.evaluate("getComputedStyle(document.documentElement).direction") == t["direction"]
        assert await page.evaluate("document.body.dataset.status") == "early"
        assert (await page.inner_text("h1")).strip() == t["title"]
        body = await page.inner_text("body")
        assert t["hello"].format(name=name) in body
        assert t["starts_at"].format(date=when.date, time=when.time, zone=when.zone) in body
        assert when.date in await page.inner_text(".when")
        assert when.zone in await page.inner_text(".when")
        await page.wait_for_function("() => document.getElementById('countdown').textContent.trim() !== ''")
        countdown = await page.inner_text("#countdown")
        prefix, suffix = t["countdown"].split("{duration}")
        assert countdown.startswith(prefix.strip()), countdown
        assert countdown.endswith(suffix.strip()), countdown
        # A week ahead: days first, in the form the language uses for that number (Russian 7: "дней").
        days = int(re.findall(r"\d+", countdown)[0])
        assert 6 <= days <= 14, countdown
        assert t["units"]["day"][babel_locale(language).plural_form(days)].format(n=days) in countdown, countdown
        check = page.locator("#check-start")
        assert await check.is_visible()
        assert (await check.inner_text()).strip() == t["check_start"]
        assert await page.is_visible("text=" + t["check_title"])
        if language == "en":
            assert "Your video consultation" in body
        if language == "ar":
            await check_right_to_left(page)

        # Nothing of Jitsi before the window opens.
        assert await page.evaluate("window.__jitsiCalls") is None
        assert await page.evaluate("typeof window.JitsiMeetExternalAPI") == "undefined"
        assert await page.locator("iframe").count() == 0

        await screenshot(page, screenshot_path(tmp_path, f"early-{language}"))
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)

        # The device check works with the (fake) camera and microphone.
        await check.click()
        await page.wait_for_function("() => document.getElementById('check-result').textContent.trim() !== ''")
        assert (await page.inner_text("#check-result")).strip() == t["check_ok"]
        assert await page.is_visible("#preview")
        assert await page.is_visible("#check-stop")
        assert await page.is_visible("#meter")
        await screenshot(page, screenshot_path(tmp_path, f"early-{language}-checking"))
        assert await page.evaluate(NO_SIDEWAYS_SCROLL)
        await page.click("#check-stop")
        assert await page.is_hidden("#preview")
        assert await page.is_visible("#check-start")

        check_csp(early.headers, jitsi_stub)
        assert await early.csp_violations() == []
        assert early.page_errors == []
        assert early.console_errors() == []
        await page.context.close()

    assert jitsi_stub.requests == []  # the early page never loads the Jitsi script


# --- a cancelled consultation --------------------------------------------------------------------------


@pytest.mark.dates
async def test_cancelled_page_shows_the_cancellation_and_the_coachs_contact(
    server: LiveServer,
    http: httpx.AsyncClient,
    browser: Browser,
    jitsi_stub: JitsiStub,
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    tmp_path: Path,
) -> None:
    zone = await organization_zone(sessionmaker, world)
    start = berlin(next_weekday(1), 11)
    consultation = await book_via_http(http, world, world.participant_id, start)
    link = participant_link(consultation)
    coach = await login(http, world.coach)
    cancelled = await http.post(
        f"/api/v1/consultations/{consultation['id']}/cancel", json={"reason": "participant ill"}, headers=coach
    )
    assert cancelled.status_code == 200, cancelled.text

    t = texts("de")
    when = local_when(datetime.fromisoformat(start), zone, "de")
    async with sessionmaker() as session:
        coach_user = (await session.execute(select(User).where(User.email == world.coach))).scalar_one()
        coach_name, coach_email = coach_user.display_name, coach_user.email

    shown = await visit(
        browser, local_url(server, link), viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = shown.page
    assert await page.evaluate("document.body.dataset.status") == "cancelled"
    assert (await page.inner_text("h1")).strip() == t["cancelled_title"]
    body = await page.inner_text("body")
    assert t["cancelled"] in body
    assert t["when"].format(date=when.date, time=when.time, zone=when.zone) in body
    assert t["contact"].format(name=coach_name) in body
    mail = page.locator(f'a[href="mailto:{coach_email}"]')
    assert await mail.count() == 1
    assert (await mail.inner_text()).strip() == coach_email
    assert await page.locator("#check-start").count() == 0
    assert await page.locator("#countdown").count() == 0
    assert await page.evaluate("window.__jitsiCalls") is None
    assert "participant ill" not in body  # the reason is for staff

    await screenshot(page, screenshot_path(tmp_path, "cancelled-de"))
    assert await page.evaluate(NO_SIDEWAYS_SCROLL)
    check_csp(shown.headers, jitsi_stub)
    assert await shown.csp_violations() == []
    assert shown.page_errors == []
    assert shown.console_errors() == []
    assert jitsi_stub.requests == []


# --- the specialist's outcome form ---------------------------------------------------------------------


async def submit_outcome(page: Page, expected: str) -> None:
    await page.click("#outcome-submit")
    await page.wait_for_function(
        "text => document.getElementById('outcome-status').textContent.trim() === text", arg=expected
    )


@pytest.mark.dates
async def test_the_specialist_records_the_outcome_on_the_join_page(
    app_settings: Settings, world: World, browser: Browser, jitsi_stub: JitsiStub, tmp_path: Path
) -> None:
    clock = MovableClock()
    f = texts("de")["outcome_form"]
    with LiveServer(app_settings, app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            day = next_weekday(1)
            consultation = await book_via_http(http, world, world.participant_id, berlin(day, 9))
            specialist = await login(http, world.specialist)
            own = await http.get(f"/api/v1/consultations/{consultation['id']}", headers=specialist)
            specialist_link = next(a["join_url"] for a in own.json()["attendees"] if a["kind"] == "specialist")
            starts_at = berlin_time(day, 9)
            ends_at = datetime.fromisoformat(consultation["end"])

            # Before the start: no form, not even for the specialist.
            clock.move_to(starts_at - timedelta(days=1))
            early = await visit(browser, local_url(server, specialist_link))
            assert await early.page.evaluate("document.body.dataset.status") == "early"
            assert await early.page.locator("#outcome-form").count() == 0
            await early.page.context.close()

            # During the call the form waits below the meeting; hanging up brings it forward.
            clock.move_to(starts_at + timedelta(minutes=10))
            during = await visit(browser, local_url(server, specialist_link))
            await during.page.wait_for_function("() => (window.__jitsiCalls || []).length > 0")
            await during.page.evaluate("window.__jitsiListeners.readyToClose()")
            assert await during.page.is_hidden("#meeting")
            assert await during.page.is_visible("#outcome-form")
            assert await during.page.evaluate("document.activeElement.id") == "outcome-title"
            await during.page.context.close()

            clock.move_to(ends_at + timedelta(minutes=40))
            # The participant's page after the end: no form.
            participant = await visit(browser, local_url(server, participant_link(consultation)))
            assert await participant.page.evaluate("document.body.dataset.status") == "ended"
            assert await participant.page.locator("#outcome-form").count() == 0
            assert f["title"] not in await participant.page.content()
            await participant.page.context.close()

            shown = await visit(
                browser,
                local_url(server, specialist_link),
                viewport=PHONE,
                device_scale_factor=2,
                is_mobile=True,
                has_touch=True,
            )
            page = shown.page
            assert await page.evaluate("document.body.dataset.status") == "ended"
            assert await page.is_visible("#outcome-form")
            assert await page.is_hidden("#outcome-amend")
            assert await page.is_hidden("#rec-physiotherapy-text")  # an explanation shows once ticked
            await screenshot(page, screenshot_path(tmp_path, "outcome-form-de"))
            assert await page.evaluate(NO_SIDEWAYS_SCROLL)

            # Filled in with the keyboard (and one click on a label).
            await page.click(f"label[for=attendance-attended] >> text={f['attendance_options']['attended']}")
            await page.focus("#rec-physiotherapy")
            await page.keyboard.press("Space")
            assert await page.is_checked("#rec-physiotherapy")
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "rec-physiotherapy-text"
            await page.keyboard.type("PLANTED-REC-5521")
            await page.focus("#work-capacity")
            await page.select_option("#work-capacity", "three_to_six_hours")
            await page.focus("#follow-up-weeks")
            await page.keyboard.type("6")
            await page.focus("#summary-for-coach")
            await page.keyboard.type("PLANTED-SUMMARY-7781")
            await page.keyboard.press("Tab")
            assert await page.evaluate("document.activeElement.id") == "clinical-notes"
            await page.keyboard.type("PLANTED-NOTES-3309")
            await submit_outcome(page, f["saved"].format(version=1))
            assert await page.is_visible("#outcome-amend")
            assert (await page.inner_text("#outcome-amend")).strip() == f["amend"].format(version=1)
            assert (await page.inner_text("#outcome-submit")).strip() == f["submit_amend"]
            assert page.url == local_url(server, specialist_link)  # nothing of the form in the URL

            versions = await http.get(
                f"/api/v1/consultations/{consultation['id']}/outcome/versions", headers=specialist
            )
            assert versions.status_code == 200, versions.text
            (first,) = versions.json()
            assert first["attendance"] == "attended"
            assert first["recommendations"] == [{"code": "physiotherapy", "text": "PLANTED-REC-5521"}]
            assert first["work_capacity"] == "three_to_six_hours"
            assert first["follow_up_weeks"] == 6
            assert first["summary_for_coach"] == "PLANTED-SUMMARY-7781"
            assert first["clinical_notes"] == "PLANTED-NOTES-3309"

            # Amending: a second submit is version 2.
            await page.fill("#follow-up-weeks", "8")
            await submit_outcome(page, f["saved"].format(version=2))
            versions = await http.get(
                f"/api/v1/consultations/{consultation['id']}/outcome/versions", headers=specialist
            )
            assert [v["follow_up_weeks"] for v in versions.json()] == [6, 8]

            check_csp(shown.headers, jitsi_stub)
            assert await shown.csp_violations() == []
            assert shown.page_errors == []
            assert shown.console_errors() == []

            # The API's field errors appear next to their fields (the answer is staged: the form's own checks
            # keep these values from being sent).
            problem = {
                "type": "https://telecon.invalid/problems/validation",
                "title": "Invalid request",
                "status": 422,
                "errors": [
                    {"field": "follow_up_weeks", "source": "body", "message": "Expected `int` <= 104"},
                    {
                        "field": "recommendations[0].text",
                        "source": "body",
                        "message": "Expected `str` of length <= 4000",
                    },
                ],
            }
            await page.route(
                "**/outcome",
                lambda route: route.fulfill(
                    status=422, content_type="application/problem+json", body=json.dumps(problem)
                ),
            )
            await page.click("#outcome-submit")
            await page.wait_for_selector("#error-follow_up_weeks:not([hidden])")
            assert (await page.inner_text("#error-follow_up_weeks")).strip() == "Expected `int` <= 104"
            assert await page.get_attribute("#follow-up-weeks", "aria-invalid") == "true"
            assert (await page.inner_text("#error-rec-physiotherapy")).strip() == "Expected `str` of length <= 4000"
            assert await page.get_attribute("#rec-physiotherapy-text", "aria-invalid") == "true"
            assert (await page.inner_text("#outcome-problem")).strip() == f["invalid"]
            assert (await page.inner_text("#outcome-status")).strip() == ""
            assert await page.evaluate("document.activeElement.id") == "follow-up-weeks"
            await screenshot(page, screenshot_path(tmp_path, "outcome-form-errors"))
            assert await page.evaluate(NO_SIDEWAYS_SCROLL)
            await page.context.close()
