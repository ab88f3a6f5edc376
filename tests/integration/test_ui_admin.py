"""The admin's pages over real HTTP: people and memberships, consultation types, webhooks, the audit log."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations import services as organizations
from telecon.ui.sessions import LANGUAGE_COOKIE
from tests.conftest import World, berlin, booking_body, login, next_weekday, seed_world
from tests.integration.test_ui import DE, EN, csrf_of, sign_in, text_of

A = DE["admin"]
PAGES = ("/admin/users", "/admin/consultation-types", "/admin/webhooks", "/admin/audit")
SPECIALIST_OPTION = 'option value="{}"'


async def booking_choice(client: httpx.AsyncClient, world: World) -> str:
    """The booking page's specialist choice for the world's participant (the coach's ``/book``)."""
    page = await client.get("/book", params={"participant_id": str(world.participant_id)})
    assert page.status_code == 200, page.text
    assert '<select id="specialist_id"' in page.text
    return page.text


def new_user(csrf: str, **changes: str) -> dict[str, str]:
    return {
        "csrf_token": csrf,
        "display_name": "Neue Kollegin",
        "email": "neu@test.invalid",
        "role": "coach",
        "profession": "",
        "languages": "de, tr",
        "timezone": "Europe/Berlin",
        "password": "a long enough password",
    } | changes


async def test_each_page_renders_for_an_admin_with_its_nav(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    home = await client.get("/coach")
    assert 'href="/admin/users"' in home.text
    for path in PAGES:
        page = await client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert 'href="/admin/users" aria-current="page"' in page.text, path  # the main nav's entry
        assert f'href="{path}" aria-current="page"' in page.text, path  # and the section's
    client.cookies.set(LANGUAGE_COOKIE, "en")
    english = await client.get("/admin/audit")
    assert EN["admin"]["audit"]["intro"].format(timezone="Europe/Berlin") in text_of(english)


async def test_coaches_and_specialists_get_the_friendly_403_and_no_link(
    client: httpx.AsyncClient, world: World
) -> None:
    for email in (world.coach, world.specialist):
        client.cookies.clear()
        await sign_in(client, email)
        for path in PAGES:
            refused = await client.get(path)
            assert refused.status_code == 403, (email, path)
            assert refused.headers["content-type"] == "text/html; charset=utf-8"
            assert DE["errors"]["forbidden"] in text_of(refused)
        home = await client.get("/coach" if email == world.coach else "/specialist")
        assert 'href="/admin/users"' not in home.text


async def test_the_users_page_lists_members_with_role_profession_and_state(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.admin)
    page = text_of(await client.get("/admin/users"))
    for email in (world.admin, world.coach, world.specialist):
        assert email in page
    assert DE["professions"]["physician"] in page
    assert DE["professions"]["psychologist"] in page
    assert A["users"]["you"] in page
    # Nobody is shared in a lone organization.
    assert A["users"]["shared"].split(":")[0] not in page


async def test_deactivating_takes_the_specialist_off_the_booking_choice_and_reactivating_restores_them(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.admin)
    option = SPECIALIST_OPTION.format(world.specialist_id)
    assert option in (await booking_choice(client, world))
    page = await client.get("/admin/users")
    off = await client.post(f"/admin/users/{world.specialist_id}/deactivate", data={"csrf_token": csrf_of(page)})
    assert off.status_code == 303, off.text
    shown = await client.get(off.headers["location"])
    assert A["users"]["done"]["deactivated"] in text_of(shown)
    assert A["users"]["states"]["deactivated"] in text_of(shown)
    assert f'action="/admin/users/{world.specialist_id}/reactivate"' in shown.text
    assert option not in (await booking_choice(client, world))
    coach = await login(client, world.coach)
    listed = await client.get("/api/v1/specialists", headers=coach)
    assert str(world.specialist_id) not in listed.text

    on = await client.post(f"/admin/users/{world.specialist_id}/reactivate", data={"csrf_token": csrf_of(shown)})
    assert on.status_code == 303, on.text
    assert A["users"]["done"]["reactivated"] in text_of(await client.get(on.headers["location"]))
    assert option in (await booking_choice(client, world))


async def test_an_admin_cannot_switch_themself_off_and_is_told_so(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    headers = await login(client, world.admin)
    me = (await client.get("/api/v1/me", headers=headers)).json()
    page = await client.get("/admin/users")
    assert f'action="/admin/users/{me["id"]}/deactivate"' not in page.text  # no button for oneself
    for act in ("deactivate", "end"):
        refused = await client.post(f"/admin/users/{me['id']}/{act}", data={"csrf_token": csrf_of(page)})
        assert refused.status_code == 409, act
        assert A["users"]["not_yourself"] in text_of(refused)
    assert (await client.get("/admin/users")).status_code == 200  # still an admin


async def test_ending_a_membership_removes_the_person_from_the_list(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    assert world.coach in page.text
    coach_id = (await client.get("/api/v1/me", headers=await login(client, world.coach))).json()["id"]
    ended = await client.post(f"/admin/users/{coach_id}/end", data={"csrf_token": csrf_of(page)})
    assert ended.status_code == 303, ended.text
    shown = await client.get(ended.headers["location"])
    assert A["users"]["done"]["ended"] in text_of(shown)
    assert world.coach not in shown.text
    gone = await client.post("/api/v1/auth/login", json={"email": world.coach, "password": "x" * 20})
    assert gone.status_code == 401


async def test_creating_a_user_through_the_form(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    created = await client.post("/admin/users", data=new_user(csrf_of(page)))
    assert created.status_code == 303, created.text
    shown = await client.get(created.headers["location"])
    assert A["users"]["done"]["added"] in text_of(shown)
    assert "neu@test.invalid" in shown.text
    api = await client.get("/api/v1/users", headers=await login(client, world.admin))
    assert api.status_code == 200
    listed = {u["email"]: u for u in api.json()}
    assert listed["neu@test.invalid"]["role"] == "coach"
    assert listed["neu@test.invalid"]["active"] is True
    assert (
        await client.post(
            "/api/v1/auth/login", json={"email": "neu@test.invalid", "password": "a long enough password"}
        )
    ).status_code == 200

    again = await client.post("/admin/users", data=new_user(csrf_of(shown)))
    assert again.status_code == 409
    assert A["users"]["email_taken"] in text_of(again)
    assert 'aria-describedby="email-error"' in again.text
    assert 'value="Neue Kollegin"' in again.text


async def test_an_address_with_an_account_elsewhere_gets_the_same_answer(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="b-")
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    invited = await client.post("/admin/users", data=new_user(csrf_of(page), email=other.coach))
    assert invited.status_code == 303, invited.text
    assert invited.headers["location"] == "/admin/users?done=added"
    shown = text_of(await client.get(invited.headers["location"]))
    assert other.coach not in shown  # an invitation, not a member: nothing of the account is shown


async def test_a_specialist_without_profession_is_refused_by_the_field_and_values_are_kept(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    refused = await client.post(
        "/admin/users", data=new_user(csrf_of(page), role="specialist", email="doc2@test.invalid", password="short")
    )
    assert refused.status_code == 422
    text = text_of(refused)
    assert A["users"]["profession_missing"] in text
    assert A["users"]["password_invalid"].format(minimum=12) in text
    assert 'aria-describedby="profession-error"' in refused.text
    assert 'value="doc2@test.invalid"' in refused.text
    assert 'option value="specialist" selected' in refused.text
    assert "doc2@test.invalid" not in (await client.get("/api/v1/users", headers=await login(client, world.admin))).text


async def test_a_specialist_shared_by_a_network_is_shown_as_such(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Nachbar", prefix="n-")
    async with sessionmaker() as session, session.begin():
        await organizations.add_membership(
            session, organization_id=other.organization_id, email=world.specialist, role=Role.specialist
        )
    await sign_in(client, world.admin)
    page = text_of(await client.get("/admin/users"))
    assert A["users"]["shared"].format(count=1) in page
    assert "Jobcenter Nachbar" not in page  # a count, not the other organization
    api = await client.get("/api/v1/users", headers=await login(client, world.admin))
    counts = {u["user_id"]: u["other_organizations"] for u in api.json()}
    assert counts[str(world.specialist_id)] == 1
    assert counts[str(world.psychologist_id)] == 0


async def test_consultation_types_are_listed_and_created(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/consultation-types")
    assert "Erstgespräch" in text_of(page)
    created = await client.post(
        "/admin/consultation-types",
        data={
            "csrf_token": csrf_of(page),
            "name": "Psychologische Beratung",
            "duration_minutes": "45",
            "buffer_minutes": "15",
            "professions": ["psychologist", "psychotherapist"],
        },
    )
    assert created.status_code == 303, created.text
    shown = await client.get(created.headers["location"])
    assert A["types"]["added"] in text_of(shown)
    api = await client.get("/api/v1/consultation-types", headers=await login(client, world.coach))
    made = next(t for t in api.json() if t["name"] == "Psychologische Beratung")
    assert (made["duration_minutes"], made["buffer_minutes"]) == (45, 15)
    assert made["professions"] == ["psychologist", "psychotherapist"]

    taken = await client.post(
        "/admin/consultation-types",
        data={"csrf_token": csrf_of(shown), "name": "Erstgespräch", "duration_minutes": "30", "buffer_minutes": "0"},
    )
    assert taken.status_code == 409
    assert A["types"]["name_taken"] in text_of(taken)
    too_long = await client.post(
        "/admin/consultation-types",
        data={"csrf_token": csrf_of(shown), "name": "Lang", "duration_minutes": "9999", "buffer_minutes": "0"},
    )
    assert too_long.status_code == 422
    assert 'aria-describedby="duration_minutes-error"' in too_long.text
    assert 'value="Lang"' in too_long.text


SECRET = re.compile(r'id="secret" class="link" readonly value="([^"]+)"')


@pytest.mark.dates  # the booking lies in the week after the test day
async def test_a_webhook_is_created_shows_its_secret_once_and_is_deleted(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/webhooks")
    assert A["webhooks"]["none"] in text_of(page)
    created = await client.post(
        "/admin/webhooks",
        data={"csrf_token": csrf_of(page), "url": "http://127.0.0.1:9/hook", "events": ["consultation.booked"]},
    )
    assert created.status_code == 200, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = SECRET.search(created.text)
    assert secret
    assert len(secret.group(1)) >= 40
    assert A["webhooks"]["secret_once"] in text_of(created)
    again = await client.get("/admin/webhooks")
    assert secret.group(1) not in again.text  # once only
    assert "http://127.0.0.1:9/hook" in again.text
    assert A["webhooks"]["no_deliveries"] in text_of(again)
    admin = await login(client, world.admin)
    hooks = (await client.get("/api/v1/webhooks", headers=admin)).json()
    assert [h["events"] for h in hooks] == [["consultation.booked"]]

    # A booking makes a delivery; the page shows it as the API's deliveries do.
    coach = await login(client, world.coach)
    start = berlin(next_weekday(1, weeks_ahead=1), 10)
    booked = await client.post("/api/v1/consultations", json=booking_body(world, start), headers=coach)
    assert booked.status_code == 201, booked.text
    for _ in range(100):  # the in-process relay fans the booking's event out to the subscription
        again = await client.get("/admin/webhooks")
        if A["webhooks"]["no_deliveries"] not in text_of(again):
            break
        await asyncio.sleep(0.1)
    assert '<td data-label="Ereignis">consultation.booked</td>' in again.text
    assert A["webhooks"]["deliveries"].format(count=1, shown=50) in text_of(again)

    deleted = await client.post(f"/admin/webhooks/{hooks[0]['id']}/delete", data={"csrf_token": csrf_of(again)})
    assert deleted.status_code == 303, deleted.text
    assert A["webhooks"]["deleted"] in text_of(await client.get(deleted.headers["location"]))
    assert (await client.get("/api/v1/webhooks", headers=admin)).json() == []


async def test_a_webhook_form_keeps_its_values_when_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/webhooks")
    refused = await client.post("/admin/webhooks", data={"csrf_token": csrf_of(page), "url": "ftp://example.org/x"})
    assert refused.status_code == 422
    assert 'value="ftp://example.org/x"' in refused.text
    assert A["webhooks"]["events_missing"] in text_of(refused)
    assert 'aria-describedby="events-error"' in refused.text
    # The service's own check of the URL, with an event chosen: shown by the field too.
    chosen = {"csrf_token": csrf_of(page), "url": "ftp://example.org/x", "events": ["outcome.recorded"]}
    refused = await client.post("/admin/webhooks", data=chosen)
    assert refused.status_code == 422
    assert A["webhooks"]["url_refused"] in text_of(refused)
    assert 'aria-describedby="url-error url-hint"' in refused.text
    assert 'value="outcome.recorded" checked' in refused.text
    assert (await client.get("/api/v1/webhooks", headers=await login(client, world.admin))).json() == []


async def test_the_audit_filter_narrows_the_list(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    await client.post(f"/admin/users/{world.psychologist_id}/deactivate", data={"csrf_token": csrf_of(page)})
    await client.post("/admin/users", data=new_user(csrf_of(page)))
    everything = await client.get("/admin/audit")
    assert everything.status_code == 200
    assert "membership.deactivated" in everything.text
    assert "user.added" in everything.text
    narrowed = await client.get("/admin/audit", params={"action": "membership.deactivated"})
    assert narrowed.status_code == 200
    assert narrowed.text.count('<tr class="event">') == 1
    assert "<code>user.added</code>" not in narrowed.text
    assert str(world.psychologist_id) in narrowed.text
    by_object = await client.get("/admin/audit", params={"object_id": str(world.psychologist_id)})
    assert "<code>membership.deactivated</code>" in by_object.text
    assert "<code>user.added</code>" not in by_object.text
    nothing = await client.get("/admin/audit", params={"action": "membership.deactivated", "to": "2000-01-01"})
    assert A["audit"]["none"] in text_of(nothing)
    since = await client.get("/admin/audit", params={"action": "membership.deactivated", "from": "2000-01-01"})
    assert since.text.count('<tr class="event">') == 1
    later = await client.get("/admin/audit", params={"action": "membership.deactivated", "from": "2199-01-01"})
    assert A["audit"]["none"] in text_of(later)
    api = await client.get(
        "/api/v1/audit-events", params={"since": "2199-01-01T00:00:00+01:00"}, headers=await login(client, world.admin)
    )
    assert api.status_code == 200
    assert api.json() == []
    bad = await client.get("/admin/audit", params={"object_id": "not-an-id", "from": "gestern", "to": "2999-01-01"})
    assert bad.status_code == 422
    assert 'aria-describedby="object_id-error"' in bad.text
    assert 'aria-describedby="from-error"' in bad.text
    assert 'aria-describedby="to-error"' in bad.text  # beyond what the API accepts
    assert 'value="not-an-id"' in bad.text


async def test_the_audit_log_pages_through_older_entries(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    for _ in range(26):  # two events each: 52 deactivations and reactivations, more than a page
        await client.post(f"/admin/users/{world.psychologist_id}/deactivate", data={"csrf_token": csrf_of(page)})
        await client.post(f"/admin/users/{world.psychologist_id}/reactivate", data={"csrf_token": csrf_of(page)})
    first = await client.get("/admin/audit", params={"object_id": str(world.psychologist_id)})
    assert first.text.count('<tr class="event">') == 50
    older = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert older
    second = await client.get(text_of_href(older.group(1)))
    assert second.status_code == 200
    assert second.text.count('<tr class="event">') == 2
    assert 'rel="next"' not in second.text


def text_of_href(href: str) -> str:
    return href.replace("&amp;", "&")


async def test_another_organizations_user_and_webhook_are_not_found(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Fremd", prefix="f-")
    other_admin = await login(client, other.admin)
    hook = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9/fremd", "events": ["outcome.recorded"]},
        headers=other_admin,
    )
    assert hook.status_code == 201
    await sign_in(client, world.admin)
    page = await client.get("/admin/users")
    csrf = csrf_of(page)
    for path in (
        f"/admin/users/{other.specialist_id}/deactivate",
        f"/admin/users/{other.specialist_id}/reactivate",
        f"/admin/users/{other.specialist_id}/end",
        f"/admin/webhooks/{hook.json()['id']}/delete",
        f"/admin/webhooks/{uuid.uuid4()}/delete",
    ):
        missing = await client.post(path, data={"csrf_token": csrf})
        assert missing.status_code == 404, path
        assert DE["errors"]["not_found"] in text_of(missing)
    assert len((await client.get("/api/v1/webhooks", headers=other_admin)).json()) == 1
    listed = await client.get("/api/v1/specialists", headers=await login(client, other.coach))
    assert str(other.specialist_id) in listed.text  # still active there


async def test_the_forms_without_their_csrf_token_are_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.admin)
    await client.get("/admin/users")
    for path, data in (
        ("/admin/users", new_user("")),
        (f"/admin/users/{world.specialist_id}/deactivate", {}),
        (f"/admin/users/{world.specialist_id}/reactivate", {}),
        (f"/admin/users/{world.specialist_id}/end", {}),
        ("/admin/consultation-types", {"name": "Ohne Token", "duration_minutes": "30"}),
        ("/admin/webhooks", {"url": "http://127.0.0.1:9/x", "events": "outcome.recorded"}),
        (f"/admin/webhooks/{uuid.uuid4()}/delete", {}),
    ):
        refused = await client.post(path, data={k: v for k, v in data.items() if k != "csrf_token"})
        assert refused.status_code == 403, path
        assert DE["errors"]["form_expired"] in text_of(refused)
    assert str(world.specialist_id) in (await booking_choice(client, world))  # still bookable
    api = await client.get("/api/v1/users", headers=await login(client, world.admin))
    assert "neu@test.invalid" not in api.text
