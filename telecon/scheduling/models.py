from __future__ import annotations

import enum
import uuid
from datetime import datetime, time, timedelta

from sqlalchemy import ColumnElement, ForeignKey, Index, SmallInteger, String, Text, Time, UniqueConstraint, and_
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow

LONGEST_CONSULTATION = timedelta(minutes=480)
"""The longest duration a consultation type may have."""
LONGEST_BUFFER = timedelta(minutes=240)
"""The longest buffer after a consultation a type may have (``ConsultationTypeCreate.buffer_minutes``)."""


class ConsultationStatus(enum.StrEnum):
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"
    held = "held"
    """A waitlist's hold on a slot (``telecon.waitlist``): it blocks the specialist's time like a booking but is no
    consultation yet: no attendees, no links, no emails, and no list or export shows it (``BOOKED``)."""


class OverrideKind(enum.StrEnum):
    absence = "absence"
    extra = "extra"


class AttendeeKind(enum.StrEnum):
    participant = "participant"
    specialist = "specialist"
    coach = "coach"
    guest = "guest"


class JitsiRole(enum.StrEnum):
    moderator = "moderator"
    participant = "participant"


class ConsultationType(IdMixin, Base):
    __tablename__ = "consultation_type"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    duration_minutes: Mapped[int]
    buffer_minutes: Mapped[int] = mapped_column(default=0)
    professions: Mapped[list[str]] = mapped_column(default=list)
    """Allowed professions; empty allows every specialist."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AvailabilityRule(IdMixin, Base):
    """A weekly window in the specialist's own time zone (``User.timezone``); weekday 0 is Monday."""

    __tablename__ = "availability_rule"

    specialist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(SmallInteger)
    start_time: Mapped[time] = mapped_column(Time)
    end_time: Mapped[time] = mapped_column(Time)


class AvailabilityOverride(IdMixin, Base):
    __tablename__ = "availability_override"
    __table_args__ = (Index("ix_availability_override_specialist", "specialist_id", "starts_at"),)

    specialist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    kind: Mapped[OverrideKind] = mapped_column(enum_column(OverrideKind, "override_kind"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consultation(IdMixin, Base):
    """A booked video consultation.

    ``blocked_until`` is the end plus the type's buffer: the specialist's time the consultation takes.
    On PostgreSQL the migration adds ``ex_consultation_specialist_overlap``, an exclusion constraint on
    ``(specialist_id, tstzrange(starts_at, blocked_until))`` for every consultation that is not
    cancelled, so two overlapping bookings cannot both commit, whatever the application does.
    """

    __tablename__ = "consultation"
    __table_args__ = (
        Index("ix_consultation_specialist_time", "specialist_id", "starts_at"),
        Index("ix_consultation_organization_time", "organization_id", "starts_at"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"), index=True)
    specialist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id"))
    booked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    consultation_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation_type.id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    blocked_until: Mapped[datetime]
    status: Mapped[ConsultationStatus] = mapped_column(
        enum_column(ConsultationStatus, "consultation_status"), default=ConsultationStatus.scheduled
    )
    purpose: Mapped[str | None] = mapped_column(Text)
    """For the specialist only; never in an email, a log line, a room name or a token."""
    room_name: Mapped[str] = mapped_column(String(64), unique=True)
    sequence: Mapped[int] = mapped_column(default=0)
    """iCalendar SEQUENCE: raised on every change the attendees must learn about."""
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


LONGEST_BLOCK = LONGEST_CONSULTATION + LONGEST_BUFFER
"""The most time one consultation (or hold) blocks: its duration and its buffer, each capped by the schemas."""


def blocking(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Consultations and holds whose blocked time ``[starts_at, blocked_until)`` overlaps ``[start, end)``.

    The one busy-time condition of slot search, booking and rescheduling. Besides the overlap it bounds
    ``starts_at`` from below (nothing blocks longer than ``LONGEST_BLOCK``), so the query is a range on
    ``ix_consultation_specialist_time`` rather than every past consultation of the specialists: at a million
    consultations a profession's search went from a sequential scan (183 ms) to an index range (2.4 ms), bench/.
    """
    return and_(
        Consultation.status != ConsultationStatus.cancelled,
        Consultation.starts_at < end,
        Consultation.blocked_until > start,
        Consultation.starts_at > start - LONGEST_BLOCK,
    )


BOOKED = Consultation.status != ConsultationStatus.held
"""The one condition for reading consultations: every row but a waitlist's hold. Busy-time checks leave it out on
purpose, so a hold blocks the slot like a booking (and the exclusion constraint counts it too)."""


class Attendee(IdMixin, Base):
    __tablename__ = "attendee"

    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AttendeeKind] = mapped_column(enum_column(AttendeeKind, "attendee_kind"))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    participant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(16), default="de")
    jitsi_role: Mapped[JitsiRole] = mapped_column(enum_column(JitsiRole, "jitsi_role"))
    token_nonce: Mapped[str] = mapped_column(String(64))
    """Random input of the join-link token (see ``telecon.scheduling.links``); useless without the server key."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the join-link token; the token itself is never stored."""
    revoked_at: Mapped[datetime | None]
    """Set when the consultation is cancelled: the link then shows "cancelled" and mints no token."""
    first_joined_at: Mapped[datetime | None]
    last_joined_at: Mapped[datetime | None]
    join_count: Mapped[int] = mapped_column(default=0)


class IdempotencyKey(IdMixin, Base):
    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
