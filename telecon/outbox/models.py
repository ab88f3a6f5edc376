from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow


class OutboxStatus(enum.StrEnum):
    pending = "pending"
    """Not delivered yet: due at ``next_attempt_at`` (also while a relay holds it, see ``telecon.notifications``)."""
    sent = "sent"
    failed = "failed"
    """Refused for good (a 5xx) or still undelivered a day after it was written: a person has to act."""
    void = "void"
    """No longer to be sent: its reminder's consultation moved or was cancelled, or a newer message replaced it."""


class Topic(enum.StrEnum):
    """What a message tells its recipient."""

    invitation = "email.invitation"
    rescheduled = "email.rescheduled"
    cancelled = "email.cancelled"
    link_reissued = "email.link_reissued"
    reminder = "email.reminder"
    outcome_recorded = "email.outcome_recorded"
    waitlist_offer = "email.waitlist_offer"
    """To the coach of a waitlist entry: a slot is held for their participant (``telecon.waitlist``)."""
    webhook_delivery = "webhook.delivery"
    """One event to one webhook subscription: an HTTP POST (``telecon.notifications.webhooks``)."""


EMAIL_PREFIX = "email."
WEBHOOK_PREFIX = "webhook."
"""An event row's topic is ``webhook.<event>``; the relay fans it out into ``webhook.delivery`` rows."""
WEBHOOK_EVENTS = (
    "consultation.booked",
    "consultation.rescheduled",
    "consultation.cancelled",
    "consultation.completed",
    "outcome.recorded",
)


class OutboxMessage(IdMixin, Base):
    """One email to one attendee (or a webhook event, or its delivery to one subscription), to deliver at least
    once; ``dedupe_key`` keeps a change from writing it twice.

    The row holds identifiers only: the relay reads names, addresses and times when it sends, so a message
    shows the consultation as it is then, and never holds health data.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("consultation.id", ondelete="CASCADE"), index=True
    )
    attendee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("attendee.id", ondelete="CASCADE"))
    """The recipient: one row per attendee, so each has a delivery state of its own."""
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    """Or a staff member who is no attendee: the booking coach, told that an outcome was recorded."""
    topic: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int | None]
    """The consultation's calendar SEQUENCE when the change was written."""
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[OutboxStatus] = mapped_column(
        enum_column(OutboxStatus, "outbox_status"), default=OutboxStatus.pending
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When it is due: at once for a change, start − 24 h for a reminder, later after a failed try."""
    last_error: Mapped[str | None] = mapped_column(Text)
    """The mail server's answer to the last failed try (code and text), for the coach to read."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
