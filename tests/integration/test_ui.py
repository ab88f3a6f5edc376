"""The staff web pages over real HTTP: sign-in, cookies, CSRF, redirects, role pages and the coach's week."""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from telecon.settings import Settings
from telecon.templating import texts
from telecon.ui.sessions import SESSION_COOKIE
from tests.conftest import TEST_PASSWORD, LiveServer, World, berlin, booking_body, login, next_weekday

CSRF = re.compile(r'name="csrf_token" value="([0-9a-f]+)"')
DE = texts("de")["staff"]
EN = texts("en")["staff"]


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> httpx.Response:
    token = csrf_of(await client.get("/login"))
    return await client.post("/login", data={"csrf_token": token, "email": email, "password": password})


def text_of(response: httpx.Response) -> str:
    return html.unescape(response.text)


async def test_start_sends_anonymous_to_sign_in_and_a_coach_home(client: httpx.AsyncClient, world: World) -> None:
    start = await client.get("/")
    assert (start.status_code, start.headers["location"]) == (303, "/login")
    page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<label for="email">' in page.text
    assert '<label for="password">' in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    signed_in = await sign_in(client, world.coach)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/coach")
    assert (await client.get("/")).headers["location"] == "/coach"
    assert (await client.get("/login")).headers["location"] == "/coach"
    home = await client.get("/coach")
    assert home.status_code == 200
    assert DE["signed_in_as"].format(name="coach") in text_of(home)
    assert "Jobcenter Test" in home.text

    out = await client.post("/logout", data={"csrf_token": csrf_of(home)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert (await client.get("/coach")).headers["location"] == "/login"


async def test_the_session_cookie_is_httponly_lax_and_not_secure_in_development(
    client: httpx.AsyncClient, world: World
) -> None:
    signed_in = await sign_in(client, world.coach)
    cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= flags
    assert "samesite=lax" in cookie.lower()
    assert "max-age=28800" in cookie.lower()  # TELECON_SESSION_MINUTES' default: 480
    assert "secure" not in flags


@pytest.fixture
async def production(settings: Settings, world: World) -> AsyncIterator[httpx.AsyncClient]:
    strong = {key: secrets.token_urlsafe(32) for key in ("secret_key", "encryption_key", "jitsi_app_secret")}
    production = Settings(
        env="production",
        database_url=settings.database_url,
        mail_dir=settings.mail_dir,
        public_url="https://telecon.test",
        session_minutes=30,
        **strong,  # type: ignore[arg-type]
    )
    with LiveServer(production) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            yield http


async def test_the_session_cookie_is_secure_in_production(production: httpx.AsyncClient, world: World) -> None:
    page = await production.get("/login")
    csrf_cookie = page.headers["set-cookie"]
    assert "secure" in csrf_cookie.lower()
    assert "httponly" in csrf_cookie.lower()
    # httpx keeps Secure cookies for https only: hand the CSRF cookie back as the browser would.
    browser = csrf_cookie.split(";")[0]
    signed_in = await production.post(
        "/login",
        data={"csrf_token": csrf_of(page), "email": world.coach, "password": TEST_PASSWORD},
        headers={"cookie": browser},
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith(f"{SESSION_COOKIE}="))
    assert "; secure" in cookie.lower()
    assert "httponly" in cookie.lower()
    assert "max-age=1800" in cookie.lower()


async def test_a_wrong_password_keeps_the_email_and_says_so_by_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    failed = await sign_in(client, world.coach, "not the password")
    assert failed.status_code == 401
    page = text_of(failed)
    assert DE["login"]["wrong"] in page
    assert f'value="{world.coach}"' in page
    assert 'aria-describedby="password-error"' in failed.text
    assert SESSION_COOKIE not in failed.headers.get("set-cookie", "")

    empty = await client.post("/login", data={"csrf_token": csrf_of(failed), "email": "nobody", "password": ""})
    assert empty.status_code == 422
    assert DE["login"]["email_invalid"] in text_of(empty)
    assert DE["login"]["password_missing"] in text_of(empty)


async def test_sign_in_is_throttled_by_the_same_rules_as_the_api(client: httpx.AsyncClient, world: World) -> None:
    """Three free failures (``TELECON_LOGIN_FREE_FAILURES``), then a wait: counted together with the API's."""
    for _ in range(2):
        assert (await sign_in(client, world.coach, "wrong")).status_code == 401
    api = await client.post("/api/v1/auth/login", json={"email": world.coach, "password": "wrong"})
    assert api.status_code == 401
    refused = await sign_in(client, world.coach)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert DE["login"]["throttled"].split("{")[0] in text_of(refused)
    assert f'value="{world.coach}"' in refused.text


async def test_a_form_without_its_csrf_token_gets_a_friendly_403(client: httpx.AsyncClient, world: World) -> None:
    body = {"email": world.coach, "password": TEST_PASSWORD}
    for path, data in (("/login", body), ("/logout", {}), ("/language", {"lang": "en"})):
        refused = await client.post(path, data=data)
        assert refused.status_code == 403, path
        assert refused.headers["content-type"] == "text/html; charset=utf-8"
        assert DE["errors"]["form_expired"] in text_of(refused)
    # A token of another browser (another cookie) is no token either.
    async with httpx.AsyncClient(base_url=str(client.base_url)) as other:
        foreign = csrf_of(await other.get("/login"))
    await client.get("/login")
    refused = await client.post("/login", data=body | {"csrf_token": foreign})
    assert refused.status_code == 403
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")


async def test_each_role_gets_its_home_and_a_friendly_403_elsewhere(client: httpx.AsyncClient, world: World) -> None:
    assert (await sign_in(client, world.specialist)).headers["location"] == "/specialist"
    assert (await client.get("/specialist")).status_code == 200
    refused = await client.get("/coach")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert DE["errors"]["forbidden"] in text_of(refused)
    assert "problem" not in refused.text
    assert "Traceback" not in refused.text

    client.cookies.clear()
    assert (await sign_in(client, world.admin)).headers["location"] == "/coach"
    assert (await client.get("/coach")).status_code == 200
    assert (await client.get("/specialist")).status_code == 403


async def test_a_bearer_token_is_no_session_and_a_session_no_bearer_token(
    client: httpx.AsyncClient, world: World
) -> None:
    bearer = (await login(client, world.coach))["Authorization"].split(" ", 1)[1]
    as_cookie = await client.get("/coach", headers={"cookie": f"{SESSION_COOKIE}={bearer}"})
    assert (as_cookie.status_code, as_cookie.headers["location"]) == (303, "/login")
    await sign_in(client, world.coach)
    session = client.cookies[SESSION_COOKIE]
    as_bearer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {session}"})
    assert as_bearer.status_code == 401


async def test_the_coach_week_shows_a_booked_consultation(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    tuesday = next_weekday(1, weeks_ahead=1)
    guest = {"name": "Dolmetscherin", "email": "interpreter@test.invalid", "language": "tr"}
    body = booking_body(world, berlin(tuesday, 10), guests=[guest])
    booked = await client.post("/api/v1/consultations", json=body, headers=coach)
    assert booked.status_code == 201, booked.text

    await sign_in(client, world.coach)
    week = await client.get("/coach", params={"week": tuesday.isoformat()})
    assert week.status_code == 200
    page = text_of(week)
    assert "Maria Muster" in page
    assert "<time>10:00</time>" in week.text  # Europe/Berlin, the organization's zone
    assert DE["status"]["scheduled"] in page
    assert DE["coach"]["not_opened"] in page
    # The participant gave no consent to email contact: no invitation; the guest's is on its way or sent.
    assert f'{DE["kinds"]["participant"]}: <span class="delivery delivery-none">' in week.text
    assert re.search(r'Gast: <span class="delivery delivery-(pending|sent)"', week.text)

    other_week = await client.get("/coach", params={"week": next_weekday(1, weeks_ahead=3).isoformat()})
    assert "Maria Muster" not in text_of(other_week)
    nonsense = await client.get("/coach", params={"week": "not-a-date"})
    assert nonsense.status_code == 200


async def test_the_specialist_sees_the_agenda(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    day = next_weekday(2, weeks_ahead=1)
    booked = await client.post("/api/v1/consultations", json=booking_body(world, berlin(day, 9)), headers=coach)
    assert booked.status_code == 201, booked.text
    await sign_in(client, world.specialist)
    agenda = await client.get("/specialist")
    assert "Maria Muster" in text_of(agenda)
    assert DE["specialist"]["no_missing"] in text_of(agenda)


async def test_the_language_switch_is_remembered(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    home = await client.get("/coach?all=1")
    switched = await client.post("/language", data={"csrf_token": csrf_of(home), "lang": "en", "next": "/coach?all=1"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/coach?all=1")
    assert "max-age=31536000" in switched.headers["set-cookie"].lower()
    english = await client.get("/coach")
    assert '<html lang="en">' in english.text
    assert EN["coach"]["title"] in english.text
    # Another site's address is never a target.
    away = await client.post("/language", data={"csrf_token": csrf_of(english), "lang": "de", "next": "//evil.test"})
    assert away.headers["location"] == "/"


def test_the_vendored_scripts_are_pinned_and_licensed() -> None:
    vendor = Path(__file__).parents[2] / "telecon" / "static" / "vendor"
    assert (vendor / "htmx" / "htmx.min.js").stat().st_size > 10_000
    assert (vendor / "htmx" / "LICENSE").exists()
    assert "htmx.org" in (vendor / "README.md").read_text()
