"""Which emails (and webhook events) a change of a consultation causes, as outbox rows for the change's own transaction.

One rule per change, for every place that changes a consultation (the booking fast path included):

- booked: an invitation to every attendee with an address; reminders to the participant and the guests
  at each reminder lead (24 h and 1 h before by default) that is still ahead.
- rescheduled: a "moved" message to every attendee with an address; the reminders move with the start
  (the old ones are voided by the caller, see ``VOIDED_BY_CHANGE``).
- cancelled: a cancellation to every attendee with an address; pending reminders and invitations are void.
- link reissued: the new link to that attendee.
- and every booking, reschedule and cancel: ONE webhook event row (``webhook.consultation.<verb>``, no
  attendee), written whether or not the organization subscribes to it: finding out is no cheap read on the
  booking's fast path, so the relay fans it out to the subscriptions when it delivers it (none: nothing to do).
  An outcome writes ``webhook.consultation.completed`` and ``webhook.outcome.recorded`` the same way
  (``telecon.outcomes.services.record_outcome``).

Rows carry identifiers only; the relay renders each message when it sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from telecon.outbox.models import WEBHOOK_EVENTS, WEBHOOK_PREFIX, OutboxMessage, OutboxStatus, Topic

REMINDED_KINDS = frozenset({"participant", "guest"})
"""Who gets reminders: the people least used to appointments by video; staff keep their own calendars."""

VOIDED_BY_CHANGE = {
    "rescheduled": (Topic.reminder,),
    "cancelled": (Topic.reminder, Topic.invitation, Topic.rescheduled, Topic.link_reissued),
}
"""Pending messages a change makes pointless, by the change's verb."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """An attendee as far as the outbox needs it."""

    attendee_id: uuid.UUID
    kind: str
    has_address: bool


def message(
    *,
    organization_id: uuid.UUID,
    topic: str,
    dedupe_key: str,
    now: datetime,
    consultation_id: uuid.UUID | None = None,
    attendee_id: uuid.UUID | None = None,
    user_id: uuid.UUID | None = None,
    sequence: int | None = None,
    due_at: datetime | None = None,
    payload: dict[str, object] | None = None,
) -> OutboxMessage:
    """A message for the outbox; the caller adds it in the transaction of the change that caused it."""
    return OutboxMessage(
        id=uuid.uuid4(),
        organization_id=organization_id,
        consultation_id=consultation_id,
        attendee_id=attendee_id,
        user_id=user_id,
        topic=topic,
        sequence=sequence,
        dedupe_key=dedupe_key,
        payload=payload or {},
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=due_at or now,
        last_error=None,
        created_at=now,
        sent_at=None,
    )


CHANGE_TOPIC = {"booked": Topic.invitation, "rescheduled": Topic.rescheduled, "cancelled": Topic.cancelled}


def for_change(
    verb: str,
    *,
    organization_id: uuid.UUID,
    consultation_id: uuid.UUID,
    sequence: int,
    starts_at: datetime,
    recipients: Iterable[Recipient],
    reminder_leads: Sequence[timedelta],
    now: datetime,
) -> list[OutboxMessage]:
    """The emails and the webhook event of one change (``booked``, ``rescheduled`` or ``cancelled``), as in the
    module docstring."""
    topic = CHANGE_TOPIC[verb]
    rows = [
        webhook_event(
            f"consultation.{verb}",
            organization_id=organization_id,
            consultation_id=consultation_id,
            key=str(sequence),
            now=now,
        )
    ]
    for recipient in recipients:
        if not recipient.has_address:
            continue
        rows.append(
            message(
                organization_id=organization_id,
                consultation_id=consultation_id,
                attendee_id=recipient.attendee_id,
                topic=topic,
                sequence=sequence,
                dedupe_key=f"{topic}:{recipient.attendee_id}:{sequence}",
                now=now,
            )
        )
        if verb == "cancelled" or recipient.kind not in REMINDED_KINDS:
            continue
        for lead in reminder_leads:
            due = starts_at - lead
            if due <= now:
                continue  # its time has passed already: a reminder after the fact helps nobody
            minutes = int(lead.total_seconds() // 60)
            rows.append(
                message(
                    organization_id=organization_id,
                    consultation_id=consultation_id,
                    attendee_id=recipient.attendee_id,
                    topic=Topic.reminder,
                    sequence=sequence,
                    dedupe_key=f"{Topic.reminder}:{minutes}:{recipient.attendee_id}:{sequence}",
                    due_at=due,
                    payload={"lead_minutes": minutes},
                    now=now,
                )
            )
    return rows


def webhook_event(
    event: str, *, organization_id: uuid.UUID, consultation_id: uuid.UUID, key: str, now: datetime
) -> OutboxMessage:
    """The one row of a webhook event (``key`` makes it unique per change: the SEQUENCE, an outcome's version)."""
    if event not in WEBHOOK_EVENTS:
        raise ValueError(f"no such webhook event: {event}")
    topic = f"{WEBHOOK_PREFIX}{event}"
    return message(
        organization_id=organization_id,
        consultation_id=consultation_id,
        topic=topic,
        dedupe_key=f"{topic}:{consultation_id}:{key}",
        now=now,
    )


def emails(rows: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """The emails among a change's rows: what a consultation shows as its notifications."""
    return [row for row in rows if not row.topic.startswith(WEBHOOK_PREFIX)]


def single(
    topic: Topic, *, organization_id: uuid.UUID, consultation_id: uuid.UUID, attendee_id: uuid.UUID, now: datetime
) -> OutboxMessage:
    """One message to one attendee outside a change of the consultation: a new link, a resent invitation."""
    return message(
        organization_id=organization_id,
        consultation_id=consultation_id,
        attendee_id=attendee_id,
        topic=topic,
        dedupe_key=f"{topic}:{attendee_id}:{uuid.uuid4()}",
        now=now,
    )
