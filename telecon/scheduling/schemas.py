from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, time
from typing import Annotated, Any, Protocol, TypeVar

import msgspec

from telecon.organizations.models import Profession
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.scheduling.models import (
    LONGEST_CONSULTATION,
    Attendee,
    AttendeeKind,
    AvailabilityOverride,
    AvailabilityRule,
    Consultation,
    ConsultationStatus,
    ConsultationType,
    JitsiRole,
    OverrideKind,
)
from telecon.scheduling.services import ConsultationView, Slot
from telecon.schemas import END, AwareDatetime, Email, Language, Name, Out, Strict, Text, TimeZone

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^(([01]\d|2[0-3]):[0-5]\d|24:00)" + END, examples=["09:00"])]


def parse_clock(value: str) -> time:
    return time.max if value == "24:00" else time.fromisoformat(value)


def format_clock(value: time) -> str:
    return "24:00" if value == time.max else value.strftime("%H:%M")


class ConsultationTypeCreate(Strict):
    name: Name
    duration_minutes: Annotated[int, msgspec.Meta(ge=5, le=LONGEST_CONSULTATION.seconds // 60)]
    professions: list[Profession] = msgspec.field(default_factory=list)
    buffer_minutes: Annotated[int, msgspec.Meta(ge=0, le=240)] = 0


class ConsultationTypeOut(Out):
    id: uuid.UUID
    name: str
    duration_minutes: int
    professions: list[str]
    buffer_minutes: int

    @classmethod
    def of(cls, t: ConsultationType) -> ConsultationTypeOut:
        return cls(
            id=t.id,
            name=t.name,
            duration_minutes=t.duration_minutes,
            professions=t.professions,
            buffer_minutes=t.buffer_minutes,
        )


class WeeklyWindowIn(Strict):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6, description="0 = Monday")]
    start: ClockTime
    end: ClockTime


class AvailabilityIn(Strict):
    timezone: TimeZone
    weekly: Annotated[list[WeeklyWindowIn], msgspec.Meta(max_length=100)]


class WeeklyWindowOut(Out):
    weekday: int
    start: str
    end: str


class AvailabilityOut(Out):
    specialist_id: uuid.UUID
    timezone: str
    weekly: list[WeeklyWindowOut]

    @classmethod
    def of(cls, specialist_id: uuid.UUID, timezone: str, rules: list[AvailabilityRule]) -> AvailabilityOut:
        return cls(
            specialist_id=specialist_id,
            timezone=timezone,
            weekly=[
                WeeklyWindowOut(weekday=r.weekday, start=format_clock(r.start_time), end=format_clock(r.end_time))
                for r in rules
            ],
        )


class OverrideIn(Strict):
    start: AwareDatetime
    end: AwareDatetime
    kind: OverrideKind


class OverrideOut(Out):
    id: uuid.UUID
    start: datetime
    end: datetime
    kind: OverrideKind

    @classmethod
    def of(cls, o: AvailabilityOverride) -> OverrideOut:
        return cls(id=o.id, start=o.starts_at, end=o.ends_at, kind=o.kind)


class SlotOut(Out):
    specialist_id: uuid.UUID
    start: datetime
    end: datetime

    @classmethod
    def of(cls, slot: Slot) -> SlotOut:
        return cls(specialist_id=slot.specialist_id, start=slot.start, end=slot.end)


class SlotsOut(Out):
    slots: list[SlotOut]


class GuestIn(Strict):
    name: Name
    email: Email | None = None
    language: Language = "de"


class BookingIn(Strict):
    participant_id: uuid.UUID
    specialist_id: uuid.UUID
    consultation_type_id: uuid.UUID
    start: AwareDatetime
    purpose: Text | None = None
    invite_coach: bool = False
    guests: Annotated[list[GuestIn], msgspec.Meta(max_length=5)] = msgspec.field(default_factory=list)


class RescheduleIn(Strict):
    start: AwareDatetime


class CancelIn(Strict):
    reason: Text | None = None


class NotificationOut(Out):
    """One email to one attendee and how far it got."""

    id: uuid.UUID
    attendee_id: uuid.UUID | None
    topic: str
    status: OutboxStatus
    """``pending`` (queued or being retried), ``sent`` (the mail server accepted it), ``failed`` (refused:
    see ``error``) or ``void`` (no longer needed, e.g. a reminder of a moved consultation)."""
    attempts: int
    due_at: datetime
    """When it goes out (reminders) or is tried again (after a temporary failure)."""
    error: str | None
    """The mail server's answer to the last failed try."""
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, m: OutboxMessage) -> NotificationOut:
        return cls(
            id=m.id,
            attendee_id=m.attendee_id,
            topic=m.topic,
            status=m.status,
            attempts=m.attempts,
            due_at=m.next_attempt_at,
            error=m.last_error,
            created_at=m.created_at,
            sent_at=m.sent_at,
        )


class AttendeeOut(Out):
    id: uuid.UUID
    kind: AttendeeKind
    name: str
    jitsi_role: JitsiRole
    revoked: bool
    join_url: str | None
    """Only the links the viewer may hand on: never the specialist's to a coach."""
    join_count: int
    first_joined_at: datetime | None
    last_joined_at: datetime | None
    delivery: NotificationOut | None = None
    """The latest invitation, change or new link emailed to this attendee (reminders aside); ``null`` when
    none was written: no address, or a participant without the ``email_contact`` consent."""

    @classmethod
    def of(cls, a: Attendee, join_url: str | None = None, delivery: OutboxMessage | None = None) -> AttendeeOut:
        return cls(
            id=a.id,
            kind=a.kind,
            name=a.name,
            jitsi_role=a.jitsi_role,
            revoked=a.revoked_at is not None,
            join_url=join_url,
            join_count=a.join_count,
            first_joined_at=a.first_joined_at,
            last_joined_at=a.last_joined_at,
            delivery=NotificationOut.of(delivery) if delivery is not None else None,
        )


class Delivery(Protocol):
    """What ``latest_deliveries`` reads of a message: an ``OutboxMessage`` or a row of these columns."""

    @property
    def attendee_id(self) -> uuid.UUID | None: ...
    @property
    def topic(self) -> str: ...
    @property
    def status(self) -> OutboxStatus: ...
    @property
    def created_at(self) -> datetime: ...


D = TypeVar("D", bound=Delivery)


def latest_deliveries(messages: Iterable[D]) -> dict[uuid.UUID, D]:
    """Per attendee, the newest message that is not a reminder and was not voided."""
    latest: dict[uuid.UUID, D] = {}
    for m in sorted(messages, key=lambda m: m.created_at):
        if m.attendee_id is not None and m.topic != Topic.reminder and m.status is not OutboxStatus.void:
            latest[m.attendee_id] = m
    return latest


class ConsultationSummaryOut(Out):
    id: uuid.UUID
    status: ConsultationStatus
    start: datetime
    end: datetime
    participant_id: uuid.UUID
    specialist_id: uuid.UUID
    consultation_type_id: uuid.UUID
    booked_by_id: uuid.UUID | None
    sequence: int
    specialist_available: bool
    """``False``: the specialist was deactivated or left the organization; a scheduled consultation then
    needs a new specialist (cancel it and book again), and the specialist's link opens no video room."""

    @classmethod
    def of(cls, c: Consultation, specialist_available: bool) -> ConsultationSummaryOut:
        return cls(**_summary_fields(c, specialist_available))


def _summary_fields(c: Consultation, specialist_available: bool) -> dict[str, Any]:
    return {
        "specialist_available": specialist_available,
        "id": c.id,
        "status": c.status,
        "start": c.starts_at,
        "end": c.ends_at,
        "participant_id": c.participant_id,
        "specialist_id": c.specialist_id,
        "consultation_type_id": c.consultation_type_id,
        "booked_by_id": c.booked_by_id,
        "sequence": c.sequence,
    }


class ConsultationOut(ConsultationSummaryOut):
    """One consultation in full: the summary plus room, attendees (with the links the viewer may see)."""

    purpose: str | None
    room: str
    cancel_reason: str | None
    attendees: list[AttendeeOut]
    notifications: list[NotificationOut]
    created_at: datetime

    @classmethod
    def of_view(cls, view: ConsultationView, join_url: Callable[[Attendee], str | None]) -> ConsultationOut:
        c = view.consultation
        deliveries = latest_deliveries(view.notifications)
        return cls(
            **_summary_fields(c, view.specialist_available),
            purpose=c.purpose,
            room=c.room_name,
            cancel_reason=c.cancel_reason,
            attendees=[AttendeeOut.of(a, join_url(a), deliveries.get(a.id)) for a in view.attendees],
            notifications=[NotificationOut.of(m) for m in view.notifications],
            created_at=c.created_at,
        )
