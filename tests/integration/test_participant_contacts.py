"""A participant's corrected address reaches their consultations still to come, as a real SMTP server sees it."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import World, berlin, booking_body, login, next_weekday
from tests.integration.test_notifications import decoded, greeting_of, participant, to
from tests.mailserver import MailServer


async def test_a_corrected_address_gets_the_invitation_of_the_consultation_to_come(
    smtp_client: httpx.AsyncClient, world: World, mail_server: MailServer
) -> None:
    coach = await login(smtp_client, world.coach)
    participant_id = await participant(smtp_client, coach, "en")
    booked = []
    for hour in (9, 11):
        body = {**booking_body(world, berlin(next_weekday(1), hour)), "participant_id": participant_id}
        created = await smtp_client.post("/api/v1/consultations", json=body, headers=coach)
        assert created.status_code == 201, created.text
        booked.append(created.json())
        mail_server.count(2 * len(booked))  # its invitations have gone out
    coming, cancelled = booked
    gone = await smtp_client.post(f"/api/v1/consultations/{cancelled['id']}/cancel", headers=coach)
    assert gone.status_code == 200, gone.text
    before = mail_server.count(6)  # two invitations and two cancellations, each to participant and specialist
    assert sum(to(m) == "p-en@example.org" for m in before) == 3

    # The coach corrects the address and the language: the consultation to come is sent again, there, in German.
    patched = await smtp_client.patch(
        f"/api/v1/participants/{participant_id}",
        json={"email": "p-neu@example.org", "preferred_language": "de"},
        headers=coach,
    )
    assert patched.status_code == 200, patched.text
    [again] = mail_server.count(7)[6:]
    assert to(again) == "p-neu@example.org"
    assert greeting_of("de") in decoded(again)

    # The cancelled consultation keeps what it had; a change of name alone sends nothing.
    renamed = await smtp_client.patch(
        f"/api/v1/participants/{participant_id}", json={"display_name": "Teilnehmende neu"}, headers=coach
    )
    assert renamed.status_code == 200, renamed.text
    await asyncio.sleep(1)
    assert len(mail_server.messages) == 7
    old = (await smtp_client.get(f"/api/v1/consultations/{cancelled['id']}", headers=coach)).json()
    assert next(a for a in old["attendees"] if a["kind"] == "participant")["name"] == "Teilnehmende en"
    shown = (await smtp_client.get(f"/api/v1/consultations/{coming['id']}", headers=coach)).json()
    assert next(a for a in shown["attendees"] if a["kind"] == "participant")["name"] == "Teilnehmende neu"
