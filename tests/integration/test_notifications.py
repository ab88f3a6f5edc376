"""Mail a booking, a reschedule and a cancellation causes, as a real SMTP server receives it."""

from __future__ import annotations

import asyncio
import json
from email.message import EmailMessage
from typing import Any

import httpx
import icalendar

from telecon.bundled import bundled
from tests.conftest import World, assert_problem, berlin, berlin_time, booking_body, login, next_weekday
from tests.mailserver import MailServer, parts

PARTICIPANT_LANGUAGES = ["de", "en", "de-x-simple", "tr", "ar", "uk", "ru"]
PURPOSE = "Rückenschmerzen seit Mai, PLANTED-PURPOSE-7731"


def greeting_of(language: str) -> str:
    """The greeting's words before the name: a phrase only that language's message has."""
    strings = json.loads((bundled("templates") / "email" / language / "strings.json").read_text(encoding="utf-8"))
    return str(strings["greeting"]).split("{name}")[0].strip()


def decoded(message: EmailMessage) -> str:
    """Every header and every part's decoded content: where a planted string would show."""
    texts = [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        texts.append(content.decode("utf-8", "replace") if isinstance(content, bytes) else content)
    return "\n".join(texts)


def calendar_of(message: EmailMessage) -> icalendar.Calendar:
    part = parts(message)["text/calendar"]
    assert part.get_param("method") in ("REQUEST", "CANCEL")
    return icalendar.Calendar.from_ical(part.get_content())


def event_of(message: EmailMessage) -> Any:
    return next(iter(calendar_of(message).walk("VEVENT")))


async def participant(client: httpx.AsyncClient, coach: dict[str, str], language: str, *, email: bool = True) -> str:
    created = await client.post(
        "/api/v1/participants",
        json={
            "display_name": f"Teilnehmende {language}",
            "email": f"p-{language}@example.org",
            "preferred_language": language,
        },
        headers=coach,
    )
    assert created.status_code == 201, created.text
    participant_id = str(created.json()["id"])
    kinds = ["video_consultation", "email_contact"] if email else ["video_consultation"]
    for kind in kinds:
        consent = await client.post(
            f"/api/v1/participants/{participant_id}/consents", json={"kind": kind, "granted": True}, headers=coach
        )
        assert consent.status_code == 201, consent.text
    return participant_id


async def settled(client: httpx.AsyncClient, coach: dict[str, str], consultation_id: str) -> dict[str, Any]:
    """The consultation once no attendee's email is pending: the server accepts a moment before the row says so."""
    for _ in range(200):
        shown: dict[str, Any] = (await client.get(f"/api/v1/consultations/{consultation_id}", headers=coach)).json()
        if all(a["delivery"] is None or a["delivery"]["status"] != "pending" for a in shown["attendees"]):
            return shown
        await asyncio.sleep(0.05)
    raise AssertionError(f"still pending: {shown['attendees']}")


def to(message: EmailMessage) -> str:
    return str(message["To"].addresses[0].addr_spec)


async def test_invitations_in_seven_languages_then_moved_then_cancelled(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    client = smtp_client
    coach = await login(client, world.coach)
    slots = [(next_weekday(day), hour) for day in (0, 1, 2) for hour in (9, 10, 11)]
    booked: dict[str, dict[str, Any]] = {}
    for language, (day, hour) in zip(PARTICIPANT_LANGUAGES, slots, strict=False):
        participant_id = await participant(client, coach, language)
        body = booking_body(world, berlin(day, hour), purpose=PURPOSE)
        response = await client.post(
            "/api/v1/consultations", json={**body, "participant_id": participant_id}, headers=coach
        )
        assert response.status_code == 201, response.text
        booked[language] = response.json()

    # One invitation per participant and one per booking for the specialist.
    messages = mail_server.count(2 * len(PARTICIPANT_LANGUAGES))
    for message in messages:
        assert PURPOSE not in decoded(message)
        assert "Rückenschmerzen" not in decoded(message)
        assert "physician" not in decoded(message).lower()
    by_recipient: dict[str, list[EmailMessage]] = {}
    for message in messages:
        by_recipient.setdefault(to(message), []).append(message)
    assert len(by_recipient["doctor@test.invalid"]) == len(PARTICIPANT_LANGUAGES)
    assert {m["Content-Language"] for m in by_recipient["doctor@test.invalid"]} == {"de"}

    for language, consultation in booked.items():
        [message] = by_recipient[f"p-{language}@example.org"]
        assert message["Content-Language"] == language
        assert message["Reply-To"].addresses[0].addr_spec == world.coach
        html = parts(message)["text/html"].get_content()
        text = parts(message)["text/plain"].get_content()
        assert f'lang="{language}"' in html
        assert ('dir="rtl"' in html) == (language == "ar")
        assert greeting_of(language) in text
        assert greeting_of(language) in html
        if language == "ar":
            assert "\u200f" in text  # every line of the text part reads right to left
        participant_attendee = next(a for a in consultation["attendees"] if a["kind"] == "participant")
        assert participant_attendee["join_url"] in text
        notification = next(n for n in consultation["notifications"] if n["attendee_id"] == participant_attendee["id"])
        assert message["Message-ID"] == f"<{notification['id']}@telecon.test>"
        event = event_of(message)
        assert calendar_of(message)["METHOD"] == "REQUEST"
        assert str(event["UID"]) == f"{consultation['id']}@telecon.test"
        assert int(event["SEQUENCE"]) == 0
        assert event.decoded("DTSTART").isoformat() == consultation["start"].replace("Z", "+00:00")
        assert str(event["URL"]) == participant_attendee["join_url"]
        assert "Teilnehmende" not in str(event["SUMMARY"]) + str(event.get("DESCRIPTION", ""))

    # The German participant's consultation moves, then is cancelled: same UID, SEQUENCE 1 then 2.
    german = booked["de"]
    day = next_weekday(3)
    moved = await client.post(
        f"/api/v1/consultations/{german['id']}/reschedule", json={"start": berlin(day, 9)}, headers=coach
    )
    assert moved.status_code == 200, moved.text
    after_move = mail_server.count(len(messages) + 2)[len(messages) :]
    assert {to(m) for m in after_move} == {"p-de@example.org", "doctor@test.invalid"}
    for message in after_move:
        event = event_of(message)
        assert calendar_of(message)["METHOD"] == "REQUEST"
        assert str(event["UID"]) == f"{german['id']}@telecon.test"
        assert int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART") == berlin_time(day, 9)
        assert "Neuer Termin" in str(message["Subject"])

    cancelled = await client.post(f"/api/v1/consultations/{german['id']}/cancel", headers=coach)
    assert cancelled.status_code == 200, cancelled.text
    after_cancel = mail_server.count(len(messages) + 4)[len(messages) + 2 :]
    assert {to(m) for m in after_cancel} == {"p-de@example.org", "doctor@test.invalid"}
    for message in after_cancel:
        event = event_of(message)
        assert calendar_of(message)["METHOD"] == "CANCEL"
        assert str(event["STATUS"]) == "CANCELLED"
        assert int(event["SEQUENCE"]) == 2
        assert "URL" not in event  # the link is revoked; the entry must not offer it
        assert PURPOSE not in decoded(message)

    # The consultation shows each attendee's delivery: the cancellation, sent.
    shown = await settled(client, coach, german["id"])
    assert {a["kind"]: a["delivery"]["status"] for a in shown["attendees"]} == {
        "participant": "sent",
        "specialist": "sent",
    }
    assert {a["delivery"]["topic"] for a in shown["attendees"]} == {"email.cancelled"}


async def test_a_participant_without_email_consent_gets_no_mail(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    coach = await login(smtp_client, world.coach)
    participant_id = await participant(smtp_client, coach, "de", email=False)
    body = {**booking_body(world, berlin(next_weekday(0), 9)), "participant_id": participant_id}
    response = await smtp_client.post("/api/v1/consultations", json=body, headers=coach)
    assert response.status_code == 201, response.text
    [message] = mail_server.count(1)
    assert to(message) == "doctor@test.invalid"
    attendee = next(a for a in response.json()["attendees"] if a["kind"] == "participant")
    assert attendee["delivery"] is None


async def test_the_coach_resends_one_attendees_invitation(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    coach = await login(smtp_client, world.coach)
    participant_id = await participant(smtp_client, coach, "en")
    body = {**booking_body(world, berlin(next_weekday(1), 10)), "participant_id": participant_id}
    consultation = (await smtp_client.post("/api/v1/consultations", json=body, headers=coach)).json()
    first = {to(m): m for m in mail_server.count(2)}
    attendee = next(a for a in consultation["attendees"] if a["kind"] == "participant")

    resent = await smtp_client.post(
        f"/api/v1/consultations/{consultation['id']}/attendees/{attendee['id']}/resend", headers=coach
    )
    assert resent.status_code == 202, resent.text
    [again] = mail_server.count(3)[2:]
    assert to(again) == "p-en@example.org"
    assert again["Message-ID"] == f"<{resent.json()['id']}@telecon.test>"
    assert again["Message-ID"] != first["p-en@example.org"]["Message-ID"]
    assert str(event_of(again)["UID"]) == str(event_of(first["p-en@example.org"])["UID"])
    shown = await settled(smtp_client, coach, consultation["id"])
    delivery = next(a for a in shown["attendees"] if a["kind"] == "participant")["delivery"]
    assert (delivery["id"], delivery["status"]) == (resent.json()["id"], "sent")

    # Someone who may not be emailed cannot be resent to: the problem names the attendee.
    withdrawn = await smtp_client.post(
        f"/api/v1/participants/{participant_id}/consents",
        json={"kind": "email_contact", "granted": False},
        headers=coach,
    )
    assert withdrawn.status_code == 201
    refused = await smtp_client.post(
        f"/api/v1/consultations/{consultation['id']}/attendees/{attendee['id']}/resend", headers=coach
    )
    assert_problem(refused, 409, "attendee_id")


async def test_a_specialist_sees_only_their_own_deliveries(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    coach = await login(smtp_client, world.coach)
    participant_id = await participant(smtp_client, coach, "de")
    body = {**booking_body(world, berlin(next_weekday(2), 9)), "participant_id": participant_id}
    consultation = (await smtp_client.post("/api/v1/consultations", json=body, headers=coach)).json()
    assert len(consultation["notifications"]) == 4  # two invitations, the participant's two reminders
    specialist = await login(smtp_client, world.specialist)
    shown = (await smtp_client.get(f"/api/v1/consultations/{consultation['id']}", headers=specialist)).json()
    own = next(a for a in shown["attendees"] if a["kind"] == "specialist")
    assert {n["attendee_id"] for n in shown["notifications"]} == {own["id"]}
    assert next(a for a in shown["attendees"] if a["kind"] == "participant")["delivery"] is None
