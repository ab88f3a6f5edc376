"""The outcome form on the join page: only the specialist's page, only from the start until the link may write."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from telecon.outcomes.models import Attendance, RecommendationCode, WorkCapacity
from telecon.scheduling.models import AttendeeKind, JitsiRole
from telecon.settings import Settings
from telecon.templating import texts
from telecon.video.routes import _outcome_form
from telecon.video.services import JoinInfo
from tests.conftest import LiveServer, MovableClock, World, berlin, berlin_time, booking_body, login, next_weekday

pytestmark = pytest.mark.dates  # the form depends on where the app's clock stands against the consultation

FORM = 'id="outcome-form"'


@dataclass
class Booked:
    client: httpx.AsyncClient
    clock: MovableClock
    starts_at: datetime
    ends_at: datetime
    paths: dict[str, str]
    """The join page's path for each kind of attendee."""


@pytest.fixture
async def booked(settings: Settings, world: World) -> AsyncIterator[Booked]:
    clock = MovableClock()
    with LiveServer(settings, app_clock=clock) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            day = next_weekday(1)
            body = booking_body(world, berlin(day, 9), guests=[{"name": "Gast Beispiel", "language": "de"}])
            created = await client.post("/api/v1/consultations", json=body, headers=coach)
            assert created.status_code == 201, created.text
            consultation = created.json()
            specialist = await login(client, world.specialist)
            own = await client.get(f"/api/v1/consultations/{consultation['id']}", headers=specialist)
            assert own.status_code == 200, own.text
            urls = {a["kind"]: a["join_url"] for a in consultation["attendees"] if a.get("join_url")}
            urls["specialist"] = next(a["join_url"] for a in own.json()["attendees"] if a["kind"] == "specialist")
            paths = {kind: "/join/" + url.rsplit("/", 1)[1] for kind, url in urls.items()}
            assert {"participant", "guest", "specialist"} <= set(paths), paths
            starts_at = berlin_time(day, 9)
            ends_at = datetime.fromisoformat(consultation["end"])
            yield Booked(client, clock, starts_at, ends_at, paths)


async def page(booked: Booked, kind: str) -> str:
    answer = await booked.client.get(booked.paths[kind])
    assert answer.status_code == 200, answer.text
    return answer.text


async def test_only_the_specialist_gets_the_form_and_only_from_the_start(booked: Booked) -> None:
    t = texts("de")["outcome_form"]
    moments = {
        "a day before": booked.starts_at - timedelta(days=1),
        "the window is open, not started": booked.starts_at - timedelta(minutes=5),
        "started": booked.starts_at + timedelta(minutes=1),
        "just after the end": booked.ends_at + timedelta(minutes=40),
        "13 days after the end": booked.ends_at + timedelta(days=13),
        "15 days after the end": booked.ends_at + timedelta(days=15),
    }
    offered = {"started", "just after the end", "13 days after the end"}
    for moment, instant in moments.items():
        booked.clock.move_to(instant)
        for kind in booked.paths:
            html = await page(booked, kind)
            expected = kind == "specialist" and moment in offered
            assert (FORM in html) is expected, (moment, kind)
            assert (t["title"] in html) is expected, (moment, kind)
            assert ("/outcome" in html) is expected, (moment, kind)  # the script gets the API's path only then
            if moment == "13 days after the end":  # "the link no longer works" only where it no longer records
                assert (texts("de")["ended"] in html) is (kind != "specialist"), kind


async def test_the_form_has_a_label_for_every_choice_and_says_when_it_amends(booked: Booked) -> None:
    t = texts("de")["outcome_form"]
    token = booked.paths["specialist"].rsplit("/", 1)[1]
    booked.clock.move_to(booked.ends_at + timedelta(minutes=40))
    html = await page(booked, "specialist")
    for value in Attendance:
        assert f'id="attendance-{value}"' in html
        assert t["attendance_options"][value] in html
    for code in RecommendationCode:
        assert f'id="rec-{code}"' in html
        assert f'for="rec-{code}-text"' in html
        assert t["recommendation_options"][code] in html
    for capacity in WorkCapacity:
        assert f'value="{capacity}"' in html
    for label in ("follow_up_weeks", "summary_for_coach", "summary_note", "clinical_notes"):
        assert t[label] in html
    assert 'min="0" max="104"' in html
    assert f'id="outcome-submit">{t["submit"]}</button>' in html
    assert 'id="outcome-amend" class="muted" hidden' in html

    answer = await booked.client.put(f"/api/v1/join/{token}/outcome", json={"attendance": "attended"})
    assert answer.status_code == 200, answer.text
    html = await page(booked, "specialist")
    assert t["amend"].format(version=1) in html
    assert 'id="outcome-amend" class="muted" hidden' not in html
    assert f'id="outcome-submit">{t["submit_amend"]}</button>' in html
    # Not filled in from the earlier version: its notes are not put into a page that a link opens.
    form = html[html.index(FORM) : html.index("</form>")]
    assert "checked" not in form


@pytest.mark.parametrize(("language", "form_language"), [("en", "en"), ("de", "de"), ("tr", "de"), ("en-GB", "en")])
def test_the_form_is_in_german_or_english(language: str, form_language: str) -> None:
    start = datetime(2030, 3, 4, 9, tzinfo=UTC)
    info = JoinInfo(
        status="ended",
        opens_at=start - timedelta(minutes=15),
        closes_at=start + timedelta(minutes=90),
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        kind=AttendeeKind.specialist,
        role=JitsiRole.moderator,
        display_name="Dr. Beispiel",
        language=language,
        domain="meet.example.test",
        room="room",
        jwt=None,
        coach_name=None,
        coach_email=None,
        timezone="Europe/Berlin",
    )
    form = _outcome_form(info, "tok/en", start + timedelta(hours=2))
    assert form is not None
    assert form["lang"] == form_language
    assert form["t"] == texts(form_language)["outcome_form"]
    assert form["url"] == "/api/v1/join/tok%2Fen/outcome"
    assert form["work_capacity"][0] == WorkCapacity.not_assessed
    # 14 days after the end, in the organization's zone: 18 March 2030.
    assert "18" in form["until"].date
    assert _outcome_form(info, "token", start - timedelta(seconds=1)) is None
    assert _outcome_form(info, "token", start + timedelta(hours=1, days=14, seconds=1)) is None
