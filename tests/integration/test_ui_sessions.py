"""Staff sessions kept by the server, and choosing the organization to act in.

A session cookie names a ``web_session`` row: signing out deletes it (a copied cookie is then worthless),
"sign out everywhere" deletes all of the user's, the operator's deactivation of an account too, and the app's
clock ends them. Someone who serves several organizations chooses one after signing in and can switch in the
header; only organizations where the account is an active member now are offered or accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations import memberships
from telecon.organizations import services as organizations
from telecon.organizations.models import Organization, WebSession
from telecon.settings import Settings
from telecon.ui.sessions import SESSION_COOKIE
from telecon.worker import run_housekeeping
from tests.conftest import LiveServer, MovableClock, World, login, now, seed_world
from tests.integration.test_ui import DE, csrf_of, sign_in, text_of


def as_other_browser(cookie: str) -> dict[str, str]:
    """The headers of a browser that carries a copy of ``cookie`` and nothing else."""
    return {"cookie": f"{SESSION_COOKIE}={cookie}"}


async def copied_cookie_opens(client: httpx.AsyncClient, path: str, cookie: str) -> bool:
    async with httpx.AsyncClient(base_url=str(client.base_url)) as thief:
        answer = await thief.get(path, headers=as_other_browser(cookie))
    return answer.status_code == 200


async def session_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


# --- sign-out ends the session on the server ---------------------------------------------------------


async def test_a_copied_cookie_no_longer_works_after_sign_out(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in(client, world.coach)
    cookie = client.cookies[SESSION_COOKIE]
    assert await copied_cookie_opens(client, "/coach", cookie)  # a copy is as good as the original meanwhile
    assert await session_rows(sessionmaker) == 1

    home = await client.get("/coach")
    out = await client.post("/logout", data={"csrf_token": csrf_of(home)})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert not await copied_cookie_opens(client, "/coach", cookie)
    gone = await client.get("/coach", headers=as_other_browser(cookie))
    assert (gone.status_code, gone.headers["location"]) == (303, "/login")
    assert await session_rows(sessionmaker) == 0


async def test_the_database_keeps_a_hash_of_the_session_not_the_cookie(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in(client, world.coach)
    cookie = client.cookies[SESSION_COOKIE]
    async with sessionmaker() as session:
        row = await session.scalar(select(WebSession))
    assert row is not None
    assert row.organization_id == world.organization_id
    assert row.expires_at - row.created_at == timedelta(minutes=480)
    assert len(row.token_hash) == 64
    assert row.token_hash not in cookie


async def test_sign_out_everywhere_ends_the_other_browsers_of_the_user_only(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    base = str(client.base_url)
    async with httpx.AsyncClient(base_url=base) as laptop, httpx.AsyncClient(base_url=base) as colleague:
        await sign_in(laptop, world.coach)
        await sign_in(colleague, world.admin)
        await sign_in(client, world.coach)
        assert (await laptop.get("/coach")).status_code == 200

        home = await client.get("/coach")
        assert DE["logout_everywhere"] in text_of(home)
        out = await client.post("/logout", data={"csrf_token": csrf_of(home), "everywhere": "1"})
        assert (out.status_code, out.headers["location"]) == (303, "/login")
        assert (await laptop.get("/coach")).headers["location"] == "/login"
        assert (await client.get("/coach")).headers["location"] == "/login"
        assert (await colleague.get("/coach")).status_code == 200  # someone else's session stays
    assert await session_rows(sessionmaker) == 1


async def test_plain_sign_out_leaves_the_other_browsers_signed_in(client: httpx.AsyncClient, world: World) -> None:
    async with httpx.AsyncClient(base_url=str(client.base_url)) as laptop:
        await sign_in(laptop, world.coach)
        await sign_in(client, world.coach)
        await client.post("/logout", data={"csrf_token": csrf_of(await client.get("/coach"))})
        assert (await client.get("/coach")).headers["location"] == "/login"
        assert (await laptop.get("/coach")).status_code == 200


@pytest.fixture
def moved() -> MovableClock:
    return MovableClock()


@pytest.fixture
async def on_moved_clock(settings: Settings, moved: MovableClock) -> AsyncIterator[httpx.AsyncClient]:
    with LiveServer(settings.model_copy(update={"session_minutes": 30}), app_clock=moved) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            yield http


async def test_a_session_ends_by_the_apps_clock_and_housekeeping_removes_it(
    on_moved_clock: httpx.AsyncClient,
    moved: MovableClock,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    client = on_moved_clock
    signed_in_at = now()
    await sign_in(client, world.coach)
    cookie = client.cookies[SESSION_COOKIE]
    moved.move_to(signed_in_at + timedelta(minutes=29))
    assert (await client.get("/coach")).status_code == 200
    moved.move_to(signed_in_at + timedelta(minutes=31))
    late = await client.get("/coach", headers=as_other_browser(cookie))
    assert (late.status_code, late.headers["location"]) == (303, "/login")

    assert (await run_housekeeping(sessionmaker, settings, now=signed_in_at + timedelta(minutes=29)))[
        "web_sessions"
    ] == 0
    assert (await run_housekeeping(sessionmaker, settings, now=signed_in_at + timedelta(minutes=31)))[
        "web_sessions"
    ] == 1
    assert await session_rows(sessionmaker) == 0


async def test_the_operators_deactivation_ends_the_sessions_for_good(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in(client, world.coach)
    cookie = client.cookies[SESSION_COOKIE]
    async with sessionmaker() as session, session.begin():
        await memberships.set_account_active(session, world.coach, active=False)
    assert not await copied_cookie_opens(client, "/coach", cookie)
    async with sessionmaker() as session, session.begin():
        await memberships.set_account_active(session, world.coach, active=True)
    # Switched on again, the account signs in afresh; the old browser (or a copy of its cookie) stays out.
    assert not await copied_cookie_opens(client, "/coach", cookie)
    assert await session_rows(sessionmaker) == 0


async def test_a_deactivated_membership_signs_out_at_once(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.specialist)
    assert (await client.get("/specialist")).status_code == 200
    admin = await login(client, world.admin)
    deactivated = await client.post(f"/api/v1/users/{world.specialist_id}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text
    assert (await client.get("/specialist")).headers["location"] == "/login"


# --- several organizations ---------------------------------------------------------------------------


@pytest.fixture
async def network(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, World]:
    """Two job centres; the first one's physician serves the second one too. A third knows nobody here."""
    first = await seed_world(sessionmaker, name="Jobcenter Nord", prefix="n-")
    second = await seed_world(sessionmaker, name="Jobcenter Süd", prefix="s-")
    third = await seed_world(sessionmaker, name="Jobcenter West", prefix="w-")
    async with sessionmaker() as session, session.begin():
        await organizations.add_membership(
            session, organization_id=second.organization_id, email=first.specialist, role=Role.specialist
        )
    return {"first": first, "second": second, "third": third}


async def test_one_membership_goes_straight_home_without_a_switcher(
    client: httpx.AsyncClient, network: dict[str, World]
) -> None:
    signed_in = await sign_in(client, network["first"].coach)
    assert signed_in.headers["location"] == "/coach"
    home = await client.get("/coach")
    assert 'action="/organization"' not in home.text
    chooser = await client.get("/organization")  # still answers, with the one organization
    assert chooser.status_code == 200
    assert "Jobcenter Nord" in text_of(chooser)
    assert "Jobcenter Süd" not in text_of(chooser)


async def test_a_specialist_of_two_organizations_chooses_and_switches(
    client: httpx.AsyncClient, network: dict[str, World], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, second = network["first"], network["second"]
    signed_in = await sign_in(client, first.specialist)
    assert (signed_in.status_code, signed_in.headers["location"]) == (303, "/organization")
    chooser = await client.get("/organization")
    assert chooser.status_code == 200
    page = text_of(chooser)
    assert DE["organization"]["title"] in page
    assert "Jobcenter Nord" in page
    assert "Jobcenter Süd" in page
    assert "Jobcenter West" not in page
    assert f'value="{second.organization_id}"' in chooser.text
    assert 'action="/organization"' in chooser.text
    assert '<label for="organization-switch">' in chooser.text  # the header's switcher, labelled

    before = client.cookies[SESSION_COOKIE]
    switched = await client.post(
        "/organization", data={"csrf_token": csrf_of(chooser), "organization_id": str(second.organization_id)}
    )
    assert (switched.status_code, switched.headers["location"]) == (303, "/specialist")
    assert client.cookies[SESSION_COOKIE] != before
    agenda = await client.get("/specialist")
    assert agenda.status_code == 200
    assert '<span class="org">Jobcenter Süd</span>' in agenda.text
    assert f'<option value="{second.organization_id}" selected>' in agenda.text
    assert not await copied_cookie_opens(client, "/specialist", before)  # the old session ended
    assert await session_rows(sessionmaker) == 1

    back = await client.post(
        "/organization", data={"csrf_token": csrf_of(agenda), "organization_id": str(first.organization_id)}
    )
    assert back.headers["location"] == "/specialist"
    assert '<span class="org">Jobcenter Nord</span>' in (await client.get("/specialist")).text


async def test_a_foreign_or_unknown_organization_is_refused_alike(
    client: httpx.AsyncClient, network: dict[str, World]
) -> None:
    first, third = network["first"], network["third"]
    await sign_in(client, first.specialist)
    page = await client.get("/organization")
    cookie = client.cookies[SESSION_COOKIE]
    answers = []
    for wanted in (str(third.organization_id), str(uuid.uuid4()), "not-an-id"):
        refused = await client.post("/organization", data={"csrf_token": csrf_of(page), "organization_id": wanted})
        answers.append((refused.status_code, text_of(refused).replace(wanted, "")))
        assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")
    assert answers[0][0] == 404
    assert answers[0] == answers[1] == answers[2]
    assert DE["errors"]["not_found"] in answers[0][1]
    assert client.cookies[SESSION_COOKIE] == cookie
    assert '<span class="org">Jobcenter Nord</span>' in (await client.get("/specialist")).text


async def test_a_switched_off_membership_is_neither_offered_nor_accepted(
    client: httpx.AsyncClient, network: dict[str, World]
) -> None:
    first, second = network["first"], network["second"]
    admin = await login(client, second.admin)
    deactivated = await client.post(f"/api/v1/users/{first.specialist_id}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text

    signed_in = await sign_in(client, first.specialist)
    assert signed_in.headers["location"] == "/specialist"  # one organization left: no choice to make
    agenda = await client.get("/specialist")
    assert "Jobcenter Süd" not in text_of(agenda)
    refused = await client.post(
        "/organization", data={"csrf_token": csrf_of(agenda), "organization_id": str(second.organization_id)}
    )
    assert refused.status_code == 404


async def test_switching_needs_the_forms_token_and_a_session(
    client: httpx.AsyncClient, network: dict[str, World]
) -> None:
    first, second = network["first"], network["second"]
    await sign_in(client, first.specialist)
    without = await client.post("/organization", data={"organization_id": str(second.organization_id)})
    assert without.status_code == 403
    assert DE["errors"]["form_expired"] in text_of(without)
    async with httpx.AsyncClient(base_url=str(client.base_url)) as stranger:
        token = csrf_of(await stranger.get("/login"))
        anonymous = await stranger.post(
            "/organization", data={"csrf_token": token, "organization_id": str(second.organization_id)}
        )
        assert (anonymous.status_code, anonymous.headers["location"]) == (303, "/login")


async def test_the_switch_is_audited_in_the_chosen_organization(
    client: httpx.AsyncClient, network: dict[str, World], sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from telecon.audit.models import AuditEvent

    first, second = network["first"], network["second"]
    await sign_in(client, first.specialist)
    page = await client.get("/organization")
    await client.post(
        "/organization", data={"csrf_token": csrf_of(page), "organization_id": str(second.organization_id)}
    )
    async with sessionmaker() as session:
        events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.organization_chosen")))
        names = {o.id: o.name for o in await session.scalars(select(Organization))}
    assert [names[e.organization_id] for e in events if e.organization_id] == ["Jobcenter Süd"]
