"""A participant's corrected details reach their consultations still to come.

A booking copies the participant's name, address and language into the participant's attendee row, so that
each consultation keeps what it was booked with. When a coach corrects those details, the attendee rows of the
participant's *scheduled, future* consultations take them over: reminders and messages still waiting in the
outbox are composed at send time from the attendee row, so they go to the new address, in the new language, and
the join page speaks it. Where the invitation already went to the old address, a new invitation is queued to
the new one (if the participant may be emailed): a typo in an address must not cost a consultation.
Past and cancelled consultations keep what they had: they are records.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor
from telecon.audit import services as audit
from telecon.outbox import messages as outbox
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind, Participant
from telecon.participants.services import ParticipantChanges
from telecon.scheduling.booking import attendee_language
from telecon.scheduling.models import Attendee, AttendeeKind, Consultation, ConsultationStatus
from telecon.scheduling.services import may_email

INVITING = (Topic.invitation.value, Topic.rescheduled.value)
"""Messages that carry the link and the calendar entry: one of them still pending reaches the new address."""


def _contact(participant: Participant) -> tuple[str, str | None, str]:
    return (
        participant.display_name,
        participant.email,
        attendee_language(participant.preferred_language, participant.easy_language),
    )


async def update_participant(
    session: AsyncSession, actor: Actor, participant_id: uuid.UUID, changes: ParticipantChanges, *, now: datetime
) -> Participant:
    """Correct a participant's details (``participants.update_participant``); their consultations to come follow."""
    before = _contact(await participants.get_participant(session, actor, participant_id))
    participant = await participants.update_participant(session, actor, participant_id, changes)
    name, email, language = after = _contact(participant)
    if after == before:
        return participant
    upcoming = await session.scalars(
        select(Attendee)
        .join(Consultation, Consultation.id == Attendee.consultation_id)
        .where(
            Attendee.participant_id == participant.id,
            Attendee.kind == AttendeeKind.participant,
            Consultation.organization_id == actor.organization_id,
            Consultation.status == ConsultationStatus.scheduled,
            Consultation.starts_at > now,
        )
        .order_by(Consultation.starts_at)
    )
    attendees = list(upcoming)
    if not attendees:
        return participant
    consents = await participants.active_consents(session, participant.id)
    new_address = email != before[1]
    for attendee in attendees:
        attendee.name, attendee.email, attendee.language = name, email, language
        resend = (
            new_address
            and may_email(attendee.kind, email, ConsentKind.email_contact in consents)
            and not await _invitation_waiting(session, attendee.id)
        )
        if resend:
            session.add(
                outbox.single(
                    Topic.invitation,
                    organization_id=actor.organization_id,
                    consultation_id=attendee.consultation_id,
                    attendee_id=attendee.id,
                    now=now,
                )
            )
        audit.record(
            session,
            actor,
            "attendee.details_followed",
            "consultation",
            attendee.consultation_id,
            attendee_id=str(attendee.id),
            invitation_queued=resend,
        )
    await session.flush()
    return participant


async def _invitation_waiting(session: AsyncSession, attendee_id: uuid.UUID) -> bool:
    waiting = await session.scalar(
        select(
            exists().where(
                OutboxMessage.attendee_id == attendee_id,
                OutboxMessage.topic.in_(INVITING),
                OutboxMessage.status == OutboxStatus.pending,
            )
        )
    )
    return bool(waiting)
