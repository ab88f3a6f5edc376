"""The FHIR R4 export through real HTTP: every answer validated with the ``fhir.resources`` models.

``fhir.resources`` 7 and later have no R4 (4.0.1) package, only R4B (4.3.0), whose Appointment, Bundle,
OperationOutcome, Reference and Identifier have the same elements as R4's; the older R4 models need pydantic 1.
So the R4B models check the structure, and the codes are checked here against R4's value sets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.settings import Settings
from tests.conftest import (
    LiveServer,
    MovableClock,
    World,
    berlin,
    berlin_time,
    booking_body,
    login,
    next_weekday,
    seed_world,
    utc_text,
)

pytestmark = pytest.mark.dates  # the consultations lie a week or two after the test day

PURPOSE = "PLANTED-PURPOSE-5127: Verdacht auf Depression"
CANCEL_REASON = "PLANTED-CANCEL-8830: Klinikaufenthalt"
NOTES = "PLANTED-NOTES-6604: lumbale Diskopathie"
SUMMARY = "PLANTED-SUMMARY-2209: Rückenschule"
PLANTED = (PURPOSE, CANCEL_REASON, NOTES, SUMMARY)
CASE_REFERENCE = "JC-2027/0042"
R4_APPOINTMENT_STATUS = {
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
}
R4_PARTICIPANT_STATUS = {"accepted", "declined", "tentative", "needs-action"}
R4_ISSUE_SEVERITY = {"fatal", "error", "warning", "information"}


@dataclass
class Scene:
    client: httpx.AsyncClient
    world: World
    other_participant_id: str
    ids: dict[str, str]
    """booked, cancelled, completed, no_show (the physician's, this week), later (the next week),
    psychologist (the other participant's, with the psychologist)."""
    coach: dict[str, str] = field(default_factory=dict)
    admin: dict[str, str] = field(default_factory=dict)
    specialist: dict[str, str] = field(default_factory=dict)
    answers: list[httpx.Response] = field(default_factory=list)

    async def get(self, path: str, headers: dict[str, str], **params: Any) -> httpx.Response:
        answer = await self.client.get(path, headers=headers, params=params)
        self.answers.append(answer)
        assert answer.headers["content-type"] == "application/fhir+json; fhirVersion=4.0", answer.text
        return answer


async def _ok(response: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def scene(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[Scene]:
    world = await seed_world(sessionmaker)
    movable = MovableClock()
    with LiveServer(settings, app_clock=movable) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            coach = await login(client, world.coach)
            participant = f"/api/v1/participants/{world.participant_id}"
            await _ok(await client.patch(participant, json={"case_reference": CASE_REFERENCE}, headers=coach), 200)
            other = await _ok(
                await client.post("/api/v1/participants", json={"display_name": "Ohne Aktenzeichen"}, headers=coach)
            )
            await _ok(
                await client.post(
                    f"/api/v1/participants/{other['id']}/consents",
                    json={"kind": "video_consultation", "granted": True},
                    headers=coach,
                )
            )
            ids: dict[str, str] = {}
            monday = next_weekday(0)
            names = ("booked", "cancelled", "completed", "no_show")
            week = {name: monday + timedelta(days=offset) for offset, name in enumerate(names)}
            for name, day in week.items():
                body = booking_body(world, berlin(day, 9), purpose=PURPOSE)
                ids[name] = (await _ok(await client.post("/api/v1/consultations", json=body, headers=coach)))["id"]
            later = booking_body(world, berlin(monday + timedelta(days=7), 10), purpose=PURPOSE)
            ids["later"] = (await _ok(await client.post("/api/v1/consultations", json=later, headers=coach)))["id"]
            theirs = booking_body(
                world,
                berlin(monday + timedelta(days=4), 9),
                purpose=PURPOSE,
                participant_id=other["id"],
                specialist_id=str(world.psychologist_id),
            )
            ids["psychologist"] = (await _ok(await client.post("/api/v1/consultations", json=theirs, headers=coach)))[
                "id"
            ]
            cancel = f"/api/v1/consultations/{ids['cancelled']}/cancel"
            await _ok(await client.post(cancel, json={"reason": CANCEL_REASON}, headers=coach), 200)
            # After the no-show's end: the physician records both outcomes (tokens are minted on the moved clock).
            movable.move_to(berlin_time(week["no_show"], 9) + timedelta(minutes=40))
            specialist = await login(client, world.specialist)
            attended = {"attendance": "attended", "summary_for_coach": SUMMARY, "clinical_notes": NOTES}
            for name, outcome in (("completed", attended), ("no_show", {"attendance": "participant_no_show"})):
                path = f"/api/v1/consultations/{ids[name]}/outcome"
                await _ok(await client.put(path, json=outcome, headers=specialist), 200)
            scene = Scene(client, world, other["id"], ids)
            scene.coach = await login(client, world.coach)
            scene.admin = await login(client, world.admin)
            scene.specialist = specialist
            yield scene
            # Whatever a test asked, nothing planted in the booking, the cancellation or the outcome came back.
            for answer in scene.answers:
                for planted in PLANTED:
                    assert planted not in answer.text, (answer.request.url, planted)
                assert "/join/" not in answer.text, answer.request.url  # join links are credentials


def appointment_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    check_appointment(body)
    return body


def check_appointment(body: dict[str, Any]) -> None:
    Appointment.model_validate(body)
    assert body["status"] in R4_APPOINTMENT_STATUS
    assert {p["status"] for p in body["participant"]} <= R4_PARTICIPANT_STATUS
    for absent in ("reasonCode", "reasonReference", "description", "comment", "patientInstruction", "text"):
        assert absent not in body, absent


def bundle_of(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    Bundle.model_validate(body)
    assert body["type"] == "searchset"
    for entry in body["entry"]:
        if entry["search"]["mode"] == "match":
            check_appointment(entry["resource"])
            assert entry["fullUrl"] == f"http://telecon.test/fhir/Appointment/{entry['resource']['id']}"
        else:
            OperationOutcome.model_validate(entry["resource"])
    return body


def matches(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle["entry"] if e["search"]["mode"] == "match"]


def outcome_of(answer: httpx.Response, status: int, expression: str | None = None) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/fhir+json; fhirVersion=4.0"
    body: dict[str, Any] = answer.json()
    OperationOutcome.model_validate(body)
    [issue] = body["issue"]
    assert issue["severity"] in R4_ISSUE_SEVERITY
    assert issue["diagnostics"]
    if expression is not None:
        assert issue["expression"] == [expression], body
    return body


def actor(body: dict[str, Any], kind: str) -> dict[str, Any]:
    [found] = [p["actor"] for p in body["participant"] if p["actor"]["type"] == kind]
    return found


async def test_every_status_exports_as_an_r4_appointment_without_health_data(scene: Scene) -> None:
    expected = {"booked": "booked", "cancelled": "cancelled", "completed": "fulfilled", "no_show": "noshow"}
    for name, status in expected.items():
        body = appointment_of(await scene.get(f"/fhir/Appointment/{scene.ids[name]}", scene.coach))
        api = (await scene.client.get(f"/api/v1/consultations/{scene.ids[name]}", headers=scene.coach)).json()
        assert body["resourceType"] == "Appointment"
        assert body["id"] == scene.ids[name]
        assert body["status"] == status, name
        assert (body["start"], body["end"]) == (api["start"], api["end"])
        assert body["minutesDuration"] == 30
        assert body["appointmentType"] == {"text": "Erstgespräch"}
        assert [p["status"] for p in body["participant"]] == ["accepted", "accepted"]
        assert actor(body, "Patient") == {
            "type": "Patient",
            "identifier": {
                "system": f"urn:telecon:organization:{scene.world.organization_id}:case-reference",
                "value": CASE_REFERENCE,
            },
            "display": "Maria Muster",
        }
        assert actor(body, "Practitioner") == {
            "type": "Practitioner",
            "identifier": {"system": "urn:telecon:user", "value": str(scene.world.specialist_id)},
            "display": "doctor",
        }
        # The API itself does show the planted purpose: the export leaves it out on purpose.
        assert api["purpose"] == PURPOSE
    # A participant without a case reference: telecon's own id.
    body = appointment_of(await scene.get(f"/fhir/Appointment/{scene.ids['psychologist']}", scene.admin))
    assert actor(body, "Patient")["identifier"] == {
        "system": "urn:telecon:participant",
        "value": scene.other_participant_id,
    }
    assert actor(body, "Practitioner")["identifier"]["value"] == str(scene.world.psychologist_id)


async def test_search_by_case_reference_and_dates(scene: Scene) -> None:
    monday = next_weekday(0)
    tuesday, friday, saturday = (monday + timedelta(days=n) for n in (1, 4, 5))
    week = {"date": [f"ge{monday.isoformat()}", f"lt{saturday.isoformat()}"]}
    found = bundle_of(await scene.get("/fhir/Appointment", scene.coach, patient=CASE_REFERENCE, **week))
    this_week = [scene.ids[n] for n in ("booked", "cancelled", "completed", "no_show")]
    assert matches(found) == this_week  # soonest first; not the next week's, not the other participant's
    assert found["total"] == 4
    assert found["link"][0]["relation"] == "self"
    system = f"urn:telecon:organization:{scene.world.organization_id}:case-reference"
    by_token = bundle_of(await scene.get("/fhir/Appointment", scene.admin, patient=f"{system}|{CASE_REFERENCE}"))
    assert matches(by_token) == [*this_week, scene.ids["later"]]
    assert matches(bundle_of(await scene.get("/fhir/Appointment", scene.coach, date=tuesday.isoformat()))) == [
        scene.ids["cancelled"]
    ]
    # An instant: the Friday consultation starts at 09:00 Berlin; gt that second leaves it out, ge keeps it.
    friday_nine = utc_text(berlin_time(friday, 9))
    assert scene.ids["psychologist"] in matches(
        bundle_of(await scene.get("/fhir/Appointment", scene.coach, date=[f"ge{friday_nine}", f"lt{saturday}"]))
    )
    assert (
        matches(
            bundle_of(await scene.get("/fhir/Appointment", scene.coach, date=[f"gt{friday_nine}", f"lt{saturday}"]))
        )
        == []
    )
    other = f"urn:telecon:participant|{scene.other_participant_id}"
    assert matches(bundle_of(await scene.get("/fhir/Appointment", scene.coach, patient=other))) == [
        scene.ids["psychologist"]
    ]
    # No such case reference, or another system: an empty searchset, not an error.
    for patient in ("JC-unknown", f"urn:other:system|{CASE_REFERENCE}"):
        nothing = bundle_of(await scene.get("/fhir/Appointment", scene.coach, patient=patient))
        assert (nothing["total"], nothing["entry"]) == (0, [])


async def test_a_capped_search_says_so(scene: Scene) -> None:
    capped = bundle_of(await scene.get("/fhir/Appointment", scene.coach, _count="2"))
    assert matches(capped) == [scene.ids["booked"], scene.ids["cancelled"]]
    assert "total" not in capped
    [warning] = [e["resource"] for e in capped["entry"] if e["search"]["mode"] == "outcome"]
    assert warning["issue"][0]["severity"] == "warning"
    everything = bundle_of(await scene.get("/fhir/Appointment", scene.coach))
    assert everything["total"] == 6


async def test_a_specialist_sees_only_their_own_and_no_case_reference(scene: Scene) -> None:
    own = bundle_of(await scene.get("/fhir/Appointment", scene.specialist))
    assert set(matches(own)) == {scene.ids[n] for n in ("booked", "cancelled", "completed", "no_show", "later")}
    for entry in own["entry"]:
        patient = actor(entry["resource"], "Patient")
        assert patient["identifier"] == {"system": "urn:telecon:participant", "value": str(scene.world.participant_id)}
        assert CASE_REFERENCE not in str(entry)
    outcome_of(await scene.get(f"/fhir/Appointment/{scene.ids['psychologist']}", scene.specialist), 404)
    # The participants' rules: a specialist does not look participants up by case reference.
    outcome_of(await scene.get("/fhir/Appointment", scene.specialist, patient=CASE_REFERENCE), 403)
    by_id = f"urn:telecon:participant|{scene.other_participant_id}"
    assert matches(bundle_of(await scene.get("/fhir/Appointment", scene.specialist, patient=by_id))) == []


async def test_another_organization_finds_nothing(scene: Scene, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    other = await seed_world(sessionmaker, name="Jobcenter Anderswo", prefix="b-")
    for email in (other.admin, other.coach, other.specialist):
        headers = await login(scene.client, email)
        outcome_of(await scene.get(f"/fhir/Appointment/{scene.ids['booked']}", headers), 404)
        assert matches(bundle_of(await scene.get("/fhir/Appointment", headers))) == []
    b_coach = await login(scene.client, other.coach)
    system = f"urn:telecon:organization:{scene.world.organization_id}:case-reference"
    found = bundle_of(await scene.get("/fhir/Appointment", b_coach, patient=f"{system}|{CASE_REFERENCE}"))
    assert found["total"] == 0


@pytest.mark.parametrize(
    ("params", "expression"),
    [
        ({"date": "2027-13-45"}, "date"),
        ({"date": "tomorrow"}, "date"),
        ({"date": "ne2027-03-01"}, "date"),
        ({"date": "2027-03-01T09:00"}, "date"),  # a time needs an offset
        ({"_count": "0"}, "_count"),
        ({"_count": "many"}, "_count"),
        ({"patient": "urn:telecon:participant|not-a-uuid"}, "patient"),
        ({"patient": "x" * 65}, "patient"),
        ({"subject": "Patient/1"}, "subject"),  # unknown: refused, not ignored
    ],
)
async def test_bad_parameters_are_400_operation_outcomes(scene: Scene, params: dict[str, str], expression: str) -> None:
    outcome_of(await scene.get("/fhir/Appointment", scene.coach, **params), 400, expression)


async def test_other_errors_are_operation_outcomes_too(scene: Scene) -> None:
    outcome_of(await scene.get(f"/fhir/Appointment/{scene.ids['booked']}", {}), 401)
    outcome_of(await scene.get("/fhir/Appointment", {"Authorization": "Bearer not-a-token"}), 401)
    outcome_of(await scene.get("/fhir/Appointment/not-a-uuid", scene.coach), 404)
    outcome_of(await scene.get("/fhir/Appointment/00000000-0000-4000-8000-000000000000", scene.coach), 404)
