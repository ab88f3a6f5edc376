"""The specialist's availability page over real HTTP: weekly hours and absences through the API's services."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import World, berlin, berlin_time, login, next_weekday, utc_text
from tests.integration.test_ui import DE, csrf_of, sign_in, text_of

A = DE["availability"]
pytestmark = pytest.mark.dates  # the absence and the slots lie in the weeks after the test day


def empty_week(csrf: str, **ranges: str) -> dict[str, str]:
    """The form as sent: every range field of the week, empty unless given."""
    body = {"csrf_token": csrf}
    for day in range(7):
        for index in range(2):
            for edge in ("start", "end"):
                body[f"w{day}_{index}_{edge}"] = ""
    return body | ranges


async def slots_on(client: httpx.AsyncClient, world: World, day: Any, headers: dict[str, str]) -> list[Any]:
    found = await client.get(
        "/api/v1/slots",
        params={
            "consultation_type_id": str(world.type_id),
            "specialist_id": str(world.specialist_id),
            "start": berlin(day, 0),
            "end": berlin(day, 23, 59),
        },
        headers=headers,
    )
    assert found.status_code == 200, found.text
    slots: list[Any] = found.json()["slots"]
    return slots


async def test_saved_hours_are_what_the_api_returns(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    assert page.status_code == 200
    assert '<label for="w0_0_start">' in page.text
    assert 'type="time"' in page.text
    assert "Europe/Berlin" in page.text
    assert 'href="/availability" aria-current="page"' in page.text
    saved = await client.post(
        "/availability",
        data=empty_week(csrf_of(page), w0_0_start="09:00", w0_0_end="12:00", w2_0_start="14:00", w2_0_end="17:00"),
    )
    assert saved.status_code == 303, saved.text
    shown = await client.get(saved.headers["location"])
    assert A["saved"] in text_of(shown)
    assert 'value="14:00"' in shown.text
    assert 'value="17:00"' in shown.text
    headers = await login(client, world.coach)
    api = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=headers)
    assert api.status_code == 200
    assert api.json()["timezone"] == "Europe/Berlin"
    assert api.json()["weekly"] == [
        {"weekday": 0, "start": "09:00", "end": "12:00"},
        {"weekday": 2, "start": "14:00", "end": "17:00"},
    ]


async def test_an_end_before_its_start_is_said_by_the_field_and_the_values_are_kept(
    client: httpx.AsyncClient, world: World
) -> None:
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    refused = await client.post(
        "/availability",
        data=empty_week(csrf_of(page), w0_0_start="09:00", w0_0_end="12:00", w1_1_start="15:00", w1_1_end="13:00"),
    )
    assert refused.status_code == 422
    assert A["end_before_start"] in text_of(refused)
    assert 'id="w1_1_end-error"' in refused.text
    assert 'aria-describedby="w1_1_end-error"' in refused.text
    assert 'value="15:00"' in refused.text
    assert 'value="13:00"' in refused.text
    headers = await login(client, world.coach)
    api = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=headers)
    assert len(api.json()["weekly"]) == 5  # the seeded week, unchanged


async def test_an_absence_takes_the_day_out_of_the_slots(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    day = next_weekday(1, weeks_ahead=2)
    assert await slots_on(client, world, day, coach)
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    assert A["no_absences"] in text_of(page)
    added = await client.post(
        "/availability/absences",
        data={
            "csrf_token": csrf_of(page),
            "absence_start": f"{day.isoformat()}T00:00",
            "absence_end": f"{day.isoformat()}T23:59",
        },
    )
    assert added.status_code == 303, added.text
    shown = await client.get(added.headers["location"])
    assert A["absence_saved"] in text_of(shown)
    assert A["no_absences"] not in text_of(shown)
    assert await slots_on(client, world, day, coach) == []
    assert await slots_on(client, world, next_weekday(2, weeks_ahead=2), coach)


async def test_removing_an_absence_brings_the_slots_back(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    day = next_weekday(3, weeks_ahead=2)
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    added = await client.post(
        "/availability/absences",
        data={"csrf_token": csrf_of(page), "absence_start": f"{day}T00:00", "absence_end": f"{day}T23:59"},
    )
    assert added.status_code == 303, added.text
    assert await slots_on(client, world, day, coach) == []
    shown = await client.get(added.headers["location"])
    [override_id] = re.findall(r'action="/availability/overrides/([0-9a-f-]{36})/delete"', shown.text)

    # Another specialist cannot remove it: not found, and it stays.
    other = httpx.AsyncClient(base_url=str(client.base_url), timeout=60)
    async with other:
        await sign_in(other, "psych@test.invalid")
        theirs = await other.get("/availability")
        refused = await other.post(
            f"/availability/overrides/{override_id}/delete", data={"csrf_token": csrf_of(theirs)}
        )
        assert refused.status_code == 404, refused.text
    assert await slots_on(client, world, day, coach) == []

    removed = await client.post(f"/availability/overrides/{override_id}/delete", data={"csrf_token": csrf_of(shown)})
    assert removed.status_code == 303, removed.text
    after = await client.get(removed.headers["location"])
    assert A["removed"] in text_of(after)
    assert A["no_absences"] in text_of(after)
    assert await slots_on(client, world, day, coach)


async def test_an_absence_ending_before_it_starts_is_refused_by_the_field(
    client: httpx.AsyncClient, world: World
) -> None:
    day = next_weekday(3, weeks_ahead=2).isoformat()
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    refused = await client.post(
        "/availability/absences",
        data={"csrf_token": csrf_of(page), "absence_start": f"{day}T12:00", "absence_end": f"{day}T08:00"},
    )
    assert refused.status_code == 422
    assert A["end_before_start"] in text_of(refused)
    assert 'aria-describedby="absence_end-error"' in refused.text
    assert f'value="{day}T12:00"' in refused.text


async def test_extra_hours_open_slots_on_a_free_day(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    saturday = next_weekday(5, weeks_ahead=2)
    assert await slots_on(client, world, saturday, coach) == []
    await sign_in(client, world.specialist)
    page = await client.get("/availability")
    assert A["no_extra"] in text_of(page)
    refused = await client.post(
        "/availability/extra",
        data={"csrf_token": csrf_of(page), "extra_start": f"{saturday}T12:00", "extra_end": f"{saturday}T10:00"},
    )
    assert refused.status_code == 422
    assert 'aria-describedby="extra_end-error"' in refused.text
    assert f'value="{saturday}T12:00"' in refused.text
    added = await client.post(
        "/availability/extra",
        data={"csrf_token": csrf_of(page), "extra_start": f"{saturday}T10:00", "extra_end": f"{saturday}T12:00"},
    )
    assert added.status_code == 303, added.text
    shown = await client.get(added.headers["location"])
    assert A["extra_saved"] in text_of(shown)
    assert A["no_extra"] not in text_of(shown)
    assert A["no_absences"] in text_of(shown)  # an extra time is no absence
    assert [s["start"] for s in await slots_on(client, world, saturday, coach)][:1] == [
        utc_text(berlin_time(saturday, 10))
    ]


async def test_a_coach_gets_the_friendly_403_and_no_link(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.coach)
    refused = await client.get("/availability")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert DE["errors"]["forbidden"] in text_of(refused)
    assert 'href="/availability"' not in (await client.get("/coach")).text


async def test_the_forms_without_their_csrf_token_are_refused(client: httpx.AsyncClient, world: World) -> None:
    await sign_in(client, world.specialist)
    await client.get("/availability")
    day = next_weekday(1, weeks_ahead=2).isoformat()
    for path, data in (
        ("/availability", {"w0_0_start": "09:00", "w0_0_end": "10:00"}),
        ("/availability/absences", {"absence_start": f"{day}T08:00", "absence_end": f"{day}T18:00"}),
    ):
        refused = await client.post(path, data=data)
        assert refused.status_code == 403, path
        assert DE["errors"]["form_expired"] in text_of(refused)
    headers = await login(client, world.coach)
    api = await client.get(f"/api/v1/specialists/{world.specialist_id}/availability", headers=headers)
    assert len(api.json()["weekly"]) == 5
