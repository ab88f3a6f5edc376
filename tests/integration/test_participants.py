"""Participants, their consent history and their case file, over real HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import World, assert_problem, login


def participant(**extra: Any) -> dict[str, Any]:
    return {
        "display_name": "Ali Beispiel",
        "email": "ali@test.invalid",
        "preferred_language": "tr",
        "case_reference": "JC-2027-0042",
        **extra,
    }


async def test_create_participant(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    created = await client.post(
        "/api/v1/participants", json=participant(email="Ali@Test.Invalid", easy_language=True), headers=coach
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["display_name"] == "Ali Beispiel"
    assert body["email"] == "ali@test.invalid"
    assert body["preferred_language"] == "tr"
    assert body["case_reference"] == "JC-2027-0042"
    assert body["easy_language"] is True
    assert body["consents"] == []
    me = (await client.get("/api/v1/me", headers=coach)).json()
    assert body["coach_id"] == me["id"]  # a coach's new participant is the coach's own

    fetched = await client.get(f"/api/v1/participants/{body['id']}", headers=coach)
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == body
    listed = await client.get("/api/v1/participants", headers=coach)
    assert body["id"] in [p["id"] for p in listed.json()]


async def test_duplicate_case_reference_is_409(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    first = await client.post("/api/v1/participants", json=participant(), headers=coach)
    assert first.status_code == 201, first.text
    again = await client.post(
        "/api/v1/participants", json=participant(display_name="Someone Else", email=None), headers=coach
    )
    assert_problem(again, 409, "case_reference")
    listed = await client.get("/api/v1/participants", headers=coach)
    assert sorted(p["display_name"] for p in listed.json()) == ["Ali Beispiel", "Maria Muster"]
    # Without a case reference there is nothing to collide with.
    for name in ("Ohne Nummer 1", "Ohne Nummer 2"):
        response = await client.post(
            "/api/v1/participants", json=participant(display_name=name, case_reference=None), headers=coach
        )
        assert response.status_code == 201, response.text


async def test_invalid_participant_input_is_422_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    assert_problem(
        await client.post("/api/v1/participants", json=participant(email="not-an-email"), headers=coach), 422, "email"
    )
    assert_problem(
        await client.post("/api/v1/participants", json=participant(display_name=""), headers=coach), 422, "display_name"
    )
    assert_problem(
        await client.post("/api/v1/participants", json=participant(diagnosis="F32.1"), headers=coach), 422, "diagnosis"
    )
    assert_problem(
        await client.post("/api/v1/participants", json=participant(coach_id=str(uuid.uuid4())), headers=coach),
        422,
        "coach_id",
    )
    listed = await client.get("/api/v1/participants", headers=coach)
    assert [p["display_name"] for p in listed.json()] == ["Maria Muster"]


async def test_specialists_do_not_manage_participants(client: httpx.AsyncClient, world: World) -> None:
    doctor = await login(client, world.specialist)
    assert_problem(await client.post("/api/v1/participants", json=participant(), headers=doctor), 403)
    assert_problem(await client.get(f"/api/v1/participants/{world.participant_id}/case-file", headers=doctor), 403)


async def test_consent_history_is_append_only(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    pid = world.participant_id
    granted = await client.post(
        f"/api/v1/participants/{pid}/consents",
        json={"kind": "email_contact", "granted": True, "evidence": "signed form"},
        headers=coach,
    )
    assert granted.status_code == 201, granted.text
    after_grant = (await client.get(f"/api/v1/participants/{pid}", headers=coach)).json()
    assert sorted(after_grant["consents"]) == ["email_contact", "video_consultation"]

    withdrawn = await client.post(
        f"/api/v1/participants/{pid}/consents",
        json={"kind": "email_contact", "granted": False, "evidence": "phone call"},
        headers=coach,
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.json()["id"] != granted.json()["id"]

    history = await client.get(f"/api/v1/participants/{pid}/consents", headers=coach)
    assert history.status_code == 200, history.text
    email_entries = [c for c in history.json() if c["kind"] == "email_contact"]
    assert [(c["granted"], c["evidence"]) for c in email_entries] == [(True, "signed form"), (False, "phone call")]
    assert [c["id"] for c in email_entries] == [granted.json()["id"], withdrawn.json()["id"]]
    assert email_entries[0]["recorded_at"] <= email_entries[1]["recorded_at"]
    me = (await client.get("/api/v1/me", headers=coach)).json()
    assert {c["recorded_by_id"] for c in email_entries} == {me["id"]}

    current = (await client.get(f"/api/v1/participants/{pid}", headers=coach)).json()
    assert current["consents"] == ["video_consultation"]
    listed = (await client.get("/api/v1/participants", headers=coach)).json()
    assert [p["consents"] for p in listed if p["id"] == str(pid)] == [["video_consultation"]]

    # Granting again is a third entry, and the kind is active again.
    again = await client.post(
        f"/api/v1/participants/{pid}/consents", json={"kind": "email_contact", "granted": True}, headers=coach
    )
    assert again.status_code == 201, again.text
    history = (await client.get(f"/api/v1/participants/{pid}/consents", headers=coach)).json()
    assert [c["granted"] for c in history if c["kind"] == "email_contact"] == [True, False, True]
    assert "email_contact" in (await client.get(f"/api/v1/participants/{pid}", headers=coach)).json()["consents"]


async def test_consent_input_is_checked(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    path = f"/api/v1/participants/{world.participant_id}/consents"
    assert_problem(await client.post(path, json={"kind": "tell_everyone", "granted": True}, headers=coach), 422, "kind")
    assert_problem(
        await client.post(path, json={"kind": "email_contact", "granted": True, "until": "x"}, headers=coach),
        422,
        "until",
    )
    history = (await client.get(path, headers=coach)).json()
    assert [c["kind"] for c in history] == ["video_consultation"]


async def test_missing_required_fields_are_named(client: httpx.AsyncClient, world: World) -> None:
    """Every 422 names its field, a missing one as much as an unknown or malformed one."""
    coach = await login(client, world.coach)
    pid = world.participant_id
    consent = await client.post(f"/api/v1/participants/{pid}/consents", json={"kind": "email_contact"}, headers=coach)
    assert_problem(consent, 422, "granted")
    note = await client.post(f"/api/v1/participants/{pid}/notes", json={}, headers=coach)
    assert_problem(note, 422, "text")
    nameless = await client.post("/api/v1/participants", json={"email": "a@test.invalid"}, headers=coach)
    assert_problem(nameless, 422, "display_name")


async def test_case_file_shows_consents_and_notes(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    pid = world.participant_id
    for granted in (True, False):
        response = await client.post(
            f"/api/v1/participants/{pid}/consents",
            json={"kind": "share_outcome_with_coach", "granted": granted},
            headers=coach,
        )
        assert response.status_code == 201, response.text
    note = await client.post(
        f"/api/v1/participants/{pid}/notes", json={"text": "Erstkontakt telefonisch"}, headers=coach
    )
    assert note.status_code == 201, note.text
    assert note.json()["kind"] == "note"
    assert note.json()["text"] == "Erstkontakt telefonisch"

    timeline = await client.get(f"/api/v1/participants/{pid}/case-file", headers=coach)
    assert timeline.status_code == 200, timeline.text
    body = timeline.json()
    assert body["participant_id"] == str(pid)
    entries = body["entries"]
    assert [e["kind"] for e in entries] == ["consent_recorded", "consent_recorded", "note"]
    assert [e["data"] for e in entries[:2]] == [
        {"consent": "share_outcome_with_coach", "granted": True},
        {"consent": "share_outcome_with_coach", "granted": False},
    ]
    assert entries[2]["id"] == note.json()["id"]
    assert entries[2]["text"] == "Erstkontakt telefonisch"
    me = (await client.get("/api/v1/me", headers=coach)).json()
    assert {e["author_id"] for e in entries} == {me["id"]}

    assert_problem(
        await client.post(f"/api/v1/participants/{pid}/notes", json={"text": "x" * 4001}, headers=coach), 422, "text"
    )
    assert len((await client.get(f"/api/v1/participants/{pid}/case-file", headers=coach)).json()["entries"]) == 3


async def test_unknown_participant_is_404(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    missing = uuid.uuid4()
    for method, path, body in [
        ("GET", f"/api/v1/participants/{missing}", None),
        ("GET", f"/api/v1/participants/{missing}/consents", None),
        ("POST", f"/api/v1/participants/{missing}/consents", {"kind": "email_contact", "granted": True}),
        ("GET", f"/api/v1/participants/{missing}/case-file", None),
        ("POST", f"/api/v1/participants/{missing}/notes", {"text": "hello"}),
    ]:
        assert_problem(await client.request(method, path, json=body, headers=coach), 404, "participant_id")
    # A malformed id is no route at all.
    assert_problem(await client.get("/api/v1/participants/not-a-uuid", headers=coach), 404)
