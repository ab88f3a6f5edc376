"""Slots and consultations: search, book, reschedule, cancel — never two at once for one specialist."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, Select, Uuid, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.audit.models import AuditEvent
from telecon.calendars.models import BusyPeriod
from telecon.db import UTCDateTime, json_rows, parse_instant, utcnow
from telecon.errors import BadRequest, Conflict, InvalidInput, NotFound
from telecon.organizations import eligibility
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession, User
from telecon.outbox import messages as outbox
from telecon.outbox.models import EMAIL_PREFIX, OutboxMessage, OutboxStatus, Topic
from telecon.participants import services as participants
from telecon.participants.models import CaseFileEntry, CaseFileKind, ConsentKind
from telecon.scheduling import slots as slot_rules
from telecon.scheduling.availability import get_consultation_type
from telecon.scheduling.links import JoinLinks
from telecon.scheduling.models import (
    BOOKED,
    LONGEST_BUFFER,
    LONGEST_CONSULTATION,
    Attendee,
    AttendeeKind,
    AvailabilityOverride,
    AvailabilityRule,
    Consultation,
    ConsultationStatus,
    ConsultationType,
    OverrideKind,
    blocking,
)
from telecon.settings import Settings

BOOKERS = (Role.admin, Role.coach)
LIST_LIMIT = 500
"""The most consultations one list answers (``GET /api/v1/consultations``, the FHIR search)."""
EXCLUSION_VIOLATION = "23P01"
DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    links: JoinLinks
    min_notice: timedelta = timedelta(minutes=120)
    max_search_span: timedelta = timedelta(days=62)
    reminder_leads: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=1))
    """How long before the start participants and guests are reminded."""
    hold_for: timedelta = timedelta(hours=2)
    """How long a waitlist's hold keeps a slot for its coach to confirm (``telecon.waitlist``)."""

    @classmethod
    def of(cls, settings: Settings, links: JoinLinks) -> SchedulingPolicy:
        return cls(
            links=links,
            min_notice=timedelta(minutes=settings.min_notice_minutes),
            max_search_span=timedelta(days=settings.max_slot_search_days),
            reminder_leads=tuple(timedelta(minutes=m) for m in settings.reminder_minutes),
            hold_for=timedelta(minutes=settings.waitlist_hold_minutes),
        )


@dataclass(frozen=True, slots=True)
class Slot:
    specialist_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(slots=True)
class ConsultationView:
    consultation: Consultation
    attendees: list[Attendee] = field(default_factory=list)
    notifications: list[OutboxMessage] = field(default_factory=list)
    specialist_available: bool = True
    """``False`` once the specialist was switched off or left the organization: it needs a new specialist."""


SPECIALIST_AVAILABLE = eligibility.specialist_available(Consultation.specialist_id, Consultation.organization_id).label(
    "specialist_available"
)
"""A column for consultation queries: whether the consultation's specialist may still hold it."""


# --- slots -------------------------------------------------------------------------------------------


async def _specialist_calendars(
    session: AsyncSession, specialists: Sequence[User], start: datetime, end: datetime
) -> tuple[
    dict[uuid.UUID, list[slot_rules.WeeklyRule]],
    dict[uuid.UUID, dict[OverrideKind, list[slot_rules.Interval]]],
    dict[uuid.UUID, list[slot_rules.Interval]],
]:
    """Rules, overrides and busy time (consultations, own calendar) of several specialists in four queries,
    whatever their number."""
    ids = [s.id for s in specialists]
    rules: dict[uuid.UUID, list[slot_rules.WeeklyRule]] = defaultdict(list)
    for rule in await session.scalars(select(AvailabilityRule).where(AvailabilityRule.specialist_id.in_(ids))):
        rules[rule.specialist_id].append(slot_rules.WeeklyRule(rule.weekday, rule.start_time, rule.end_time))
    overrides: dict[uuid.UUID, dict[OverrideKind, list[slot_rules.Interval]]] = defaultdict(lambda: defaultdict(list))
    override_rows = await session.execute(
        select(
            AvailabilityOverride.specialist_id,
            AvailabilityOverride.kind,
            AvailabilityOverride.starts_at,
            AvailabilityOverride.ends_at,
        ).where(
            AvailabilityOverride.specialist_id.in_(ids),
            AvailabilityOverride.starts_at < end,
            AvailabilityOverride.ends_at > start,
        )
    )
    for specialist_id, kind, lo, hi in override_rows:
        overrides[specialist_id][kind].append((lo, hi))
    busy: dict[uuid.UUID, list[slot_rules.Interval]] = defaultdict(list)
    busy_rows = await session.execute(
        select(Consultation.specialist_id, Consultation.starts_at, Consultation.blocked_until).where(
            Consultation.specialist_id.in_(ids), blocking(start, end)
        )
    )
    for specialist_id, lo, hi in busy_rows:
        busy[specialist_id].append((lo, hi))
    # The specialist's own calendar (telecon.calendars) blocks time like a consultation does.
    own_rows = await session.execute(
        select(BusyPeriod.specialist_id, BusyPeriod.starts_at, BusyPeriod.ends_at).where(
            BusyPeriod.specialist_id.in_(ids), BusyPeriod.starts_at < end, BusyPeriod.ends_at > start
        )
    )
    for specialist_id, lo, hi in own_rows:
        busy[specialist_id].append((lo, hi))
    return rules, overrides, busy


def _check_range(start: datetime, end: datetime, policy: SchedulingPolicy) -> None:
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise InvalidInput("a time needs an offset, e.g. 2027-03-01T09:00:00+01:00", field=name)
    if end <= start:
        raise BadRequest("end must be after start", field="end")
    if end - start > policy.max_search_span:
        raise BadRequest(f"a search may span at most {policy.max_search_span.days} days", field="end")


@dataclass(frozen=True, slots=True)
class SlotSearch:
    """What a slot search read from the database; ``slots()`` computes the free slots from it alone.

    Reading and computing are apart so that a request can give its database connection back in between
    (``telecon.db.end_reads``): a profession's 40 specialists × 2 weeks are about 6,000 slots and tens of
    milliseconds of CPU, during which the connection would otherwise wait idle while other requests queue for it.
    """

    specialists: list[tuple[uuid.UUID, ZoneInfo]]
    """Each specialist's id and time zone, sorted by id."""
    rules: dict[uuid.UUID, list[slot_rules.WeeklyRule]]
    overrides: dict[uuid.UUID, dict[OverrideKind, list[slot_rules.Interval]]]
    busy: dict[uuid.UUID, list[slot_rules.Interval]]
    duration: timedelta
    buffer: timedelta
    earliest: datetime
    start: datetime
    end: datetime

    def slots(self) -> list[Slot]:
        """Free slots of every specialist, soonest first; at the same start, in the order of the specialists' ids."""
        found: list[Slot] = []
        for specialist_id, zone in self.specialists:
            overrides = self.overrides.get(specialist_id, {})
            starts = slot_rules.free_slots(
                rules=self.rules.get(specialist_id, []),
                zone=zone,
                absences=overrides.get(OverrideKind.absence, []),
                extras=overrides.get(OverrideKind.extra, []),
                busy=self.busy.get(specialist_id, []),
                duration=self.duration,
                buffer=self.buffer,
                earliest=self.earliest,
                start=self.start,
                end=self.end,
            )
            found.extend(Slot(specialist_id, s, s + self.duration) for s in starts)
        # A stable sort by start keeps the specialists' id order among equal starts.
        found.sort(key=attrgetter("start"))
        return found


async def read_slots(
    session: AsyncSession,
    organization_id: uuid.UUID,
    policy: SchedulingPolicy,
    *,
    consultation_type_id: uuid.UUID,
    start: datetime,
    end: datetime,
    specialist_id: uuid.UUID | None = None,
    profession: Profession | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> SlotSearch:
    """Read what a search for free slots of one specialist, or of every specialist of a profession the type allows,
    needs; ``SlotSearch.slots()`` computes them.

    ``language``: of a profession's specialists only those who speak it.
    """
    _check_range(start, end, policy)
    if (specialist_id is None) == (profession is None):
        raise BadRequest("give either specialist_id or profession", field="specialist_id")
    consultation_type = await get_consultation_type(session, organization_id, consultation_type_id)
    if specialist_id is not None:
        specialists = [await organizations.get_specialist(session, organization_id, specialist_id)]
    else:
        specialists = await organizations.list_specialists(
            session, organization_id, profession=profession, language=language
        )
    specialists = sorted(
        (s for s in specialists if type_allows(consultation_type.professions, s.profession)), key=attrgetter("id")
    )
    duration = timedelta(minutes=consultation_type.duration_minutes)
    buffer = timedelta(minutes=consultation_type.buffer_minutes)
    # A slot starting just before ``end`` needs the time up to ``end + duration + buffer`` free; stored
    # busy intervals already include their own buffer.
    rules, overrides, busy = (
        await _specialist_calendars(session, specialists, start, end + duration + buffer)
        if specialists
        else ({}, {}, {})
    )
    return SlotSearch(
        specialists=[(s.id, ZoneInfo(s.timezone)) for s in specialists],
        rules=rules,
        overrides=overrides,
        busy=busy,
        duration=duration,
        buffer=buffer,
        earliest=(now or utcnow()) + policy.min_notice,
        start=start,
        end=end,
    )


def type_allows(allowed: list[str], profession: Profession | None) -> bool:
    """An empty list allows every profession."""
    return not allowed or (profession is not None and profession.value in allowed)


def calendar_columns(
    specialist_id: Any,
) -> tuple[ScalarSelect[list[list[Any]]], ScalarSelect[list[list[Any]]], ScalarSelect[list[list[Any]]]]:
    """A specialist's weekly rules, and the overrides and own-calendar busy periods touching [:start, :end), as
    three JSON columns.

    Part of a bigger query, so that checking a start against the calendar costs no round trip of its own.
    """
    rules = (
        select(json_rows(AvailabilityRule.weekday, AvailabilityRule.start_time, AvailabilityRule.end_time))
        .where(AvailabilityRule.specialist_id == specialist_id)
        .scalar_subquery()
    )
    overrides = (
        select(json_rows(AvailabilityOverride.kind, AvailabilityOverride.starts_at, AvailabilityOverride.ends_at))
        .where(
            AvailabilityOverride.specialist_id == specialist_id,
            AvailabilityOverride.starts_at < bindparam("end", type_=UTCDateTime()),
            AvailabilityOverride.ends_at > bindparam("start", type_=UTCDateTime()),
        )
        .scalar_subquery()
    )
    busy = (
        select(json_rows(BusyPeriod.starts_at, BusyPeriod.ends_at))
        .where(
            BusyPeriod.specialist_id == specialist_id,
            BusyPeriod.starts_at < bindparam("end", type_=UTCDateTime()),
            BusyPeriod.ends_at > bindparam("start", type_=UTCDateTime()),
        )
        .scalar_subquery()
    )
    return rules, overrides, busy


@dataclass(frozen=True, slots=True)
class Calendar:
    rules: list[slot_rules.WeeklyRule]
    absences: list[slot_rules.Interval]
    extras: list[slot_rules.Interval]
    busy: list[slot_rules.Interval]
    """Busy in the specialist's own calendar (``telecon.calendars``)."""

    @classmethod
    def parse(cls, rules_rows: list[list[Any]], override_rows: list[list[Any]], busy_rows: list[list[Any]]) -> Calendar:
        rules = [
            slot_rules.WeeklyRule(weekday, time.fromisoformat(lo), time.fromisoformat(hi))
            for weekday, lo, hi in rules_rows
        ]
        overrides: dict[str, list[slot_rules.Interval]] = {OverrideKind.absence: [], OverrideKind.extra: []}
        for kind, lo, hi in override_rows:
            overrides[kind].append((parse_instant(lo), parse_instant(hi)))
        busy = [(parse_instant(lo), parse_instant(hi)) for lo, hi in busy_rows]
        return cls(rules, overrides[OverrideKind.absence], overrides[OverrideKind.extra], busy)


def calendar_window(starts_at: datetime) -> dict[str, datetime]:
    # Wide enough for the longest consultation type and its buffer (which must be clear of own-calendar busy
    # time); overrides and busy periods outside that do not change the answer.
    return {"start": starts_at, "end": starts_at + LONGEST_CONSULTATION + LONGEST_BUFFER}


_SPECIALIST_CALENDAR = select(*calendar_columns(bindparam("specialist_id", type_=Uuid())))


async def _specialist_calendar(session: AsyncSession, specialist_id: uuid.UUID, starts_at: datetime) -> Calendar:
    row = (
        await session.execute(_SPECIALIST_CALENDAR, {"specialist_id": specialist_id, **calendar_window(starts_at)})
    ).one()
    return Calendar.parse(*row)


def require_on_grid(
    policy: SchedulingPolicy,
    calendar: Calendar,
    zone: ZoneInfo,
    duration: timedelta,
    starts_at: datetime,
    now: datetime | None,
    *,
    buffer: timedelta = timedelta(0),
) -> None:
    """The start must be a slot of the specialist's availability and, with the type's buffer, clear of the busy
    time in their own calendar, by the same rule slot search applies; other bookings are checked separately."""
    earliest = (now or utcnow()) + policy.min_notice
    if starts_at < earliest:
        minutes = int(policy.min_notice.total_seconds() // 60)
        raise InvalidInput(f"the start must be at least {minutes} minutes from now", field="start")
    starts = slot_rules.free_slots(
        rules=calendar.rules,
        zone=zone,
        absences=calendar.absences,
        extras=calendar.extras,
        busy=[],
        duration=duration,
        buffer=timedelta(0),
        earliest=earliest,
        start=starts_at,
        end=starts_at + timedelta(seconds=1),
    )
    if starts_at not in starts:
        raise InvalidInput("the start is not an available slot of this specialist", field="start")
    if calendar.busy and starts_at not in slot_rules.free_slots(
        rules=calendar.rules,
        zone=zone,
        absences=calendar.absences,
        extras=calendar.extras,
        busy=calendar.busy,
        duration=duration,
        buffer=buffer,
        earliest=earliest,
        start=starts_at,
        end=starts_at + timedelta(seconds=1),
    ):
        raise Conflict("the specialist is busy at this time in their own calendar", field="start")


async def check_free(
    session: AsyncSession,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    blocked_until: datetime,
    *,
    ignore: uuid.UUID | None = None,
) -> None:
    query = select(func.count()).where(Consultation.specialist_id == specialist_id, blocking(starts_at, blocked_until))
    if ignore is not None:
        query = query.where(Consultation.id != ignore)
    if await session.scalar(query):
        raise Conflict("the specialist is already booked at this time", field="start")


def sqlstate(error: DBAPIError) -> str | None:
    """PostgreSQL's SQLSTATE of a database error (asyncpg's ``sqlstate``, psycopg's ``pgcode``), if any."""
    orig = error.orig
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return str(code) if code else None


def lost_race(error: DBAPIError) -> bool:
    """Whether a write lost a race for a specialist's time to a concurrent one: the exclusion constraint refused
    it, or PostgreSQL broke a deadlock between the two by failing this one (a booking into a slot whose hold a
    confirmation is deleting, while the confirmation books the same slot). Either way: 409, try another time."""
    return sqlstate(error) in (EXCLUSION_VIOLATION, DEADLOCK_DETECTED)


CASE_FILE_KIND = {
    "booked": CaseFileKind.consultation_booked,
    "rescheduled": CaseFileKind.consultation_rescheduled,
    "cancelled": CaseFileKind.consultation_cancelled,
}


def recipients(attendees: Sequence[Attendee], participant_consents: set[ConsentKind]) -> list[outbox.Recipient]:
    """Whom a change may email: every attendee with an address, the participant only with ``email_contact``."""
    consented = ConsentKind.email_contact in participant_consents
    return [outbox.Recipient(a.id, a.kind.value, may_email(a.kind, a.email, consented)) for a in attendees]


def may_email(kind: AttendeeKind, email: str | None, email_consented: bool | None) -> bool:
    """The one rule for emailing an attendee, at writing time and again at sending time.

    ``email_consented``: whether the participant's latest ``email_contact`` entry grants (only asked of them).
    """
    if not email:
        return False
    return kind is not AttendeeKind.participant or bool(email_consented)


def record_change(
    session: AsyncSession,
    actor: Actor,
    consultation: Consultation,
    verb: str,
    *,
    recipients: Sequence[outbox.Recipient],
    reminder_leads: Sequence[timedelta],
    now: datetime,
    add: bool = True,
    **details: Any,
) -> tuple[CaseFileEntry, AuditEvent, list[OutboxMessage]]:
    """What every change of a consultation writes, in the same transaction: case file, audit and its outbox rows
    (the emails and the webhook event, ``telecon.outbox.messages.for_change``)."""
    case_file_entry = participants.case_file_entry(
        consultation.organization_id,
        consultation.participant_id,
        CASE_FILE_KIND[verb],
        author_id=actor.user_id,
        consultation_id=consultation.id,
        data={
            "consultation_id": str(consultation.id),
            "starts_at": consultation.starts_at.isoformat(),
            "specialist_id": str(consultation.specialist_id),
            "status": consultation.status.value,
            **details,
        },
    )
    audit_event = audit.event(actor, f"consultation.{verb}", "consultation", consultation.id, **details)
    emails = outbox.for_change(
        verb,
        organization_id=consultation.organization_id,
        consultation_id=consultation.id,
        sequence=consultation.sequence,
        starts_at=consultation.starts_at,
        recipients=recipients,
        reminder_leads=reminder_leads,
        now=now,
    )
    if add:
        session.add_all([case_file_entry, audit_event, *emails])
    return case_file_entry, audit_event, emails


async def void_pending(session: AsyncSession, consultation_id: uuid.UUID, verb: str) -> None:
    """Pending messages the change makes pointless (``outbox.VOIDED_BY_CHANGE``) are not sent any more."""
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.consultation_id == consultation_id,
            OutboxMessage.status == OutboxStatus.pending,
            OutboxMessage.topic.in_([str(t) for t in outbox.VOIDED_BY_CHANGE[verb]]),
        )
        .values(status=OutboxStatus.void, last_error=f"consultation {verb}")
    )


async def _recipients_of(session: AsyncSession, consultation: Consultation) -> list[outbox.Recipient]:
    attendees = await session.scalars(select(Attendee).where(Attendee.consultation_id == consultation.id))
    consents = await participants.active_consents(session, consultation.participant_id)
    return recipients(list(attendees), consents)


def visible_join_url(links: JoinLinks, actor: Actor, attendee: Attendee) -> str | None:
    """Coaches see the links they may hand on (participant, guests, their own), never the specialist's."""
    if attendee.revoked_at is not None:
        return None
    if actor.role in (Role.admin, Role.coach):
        mine = attendee.kind is AttendeeKind.coach and attendee.user_id == actor.user_id
        if attendee.kind in (AttendeeKind.participant, AttendeeKind.guest) or mine:
            return links.url(attendee.token_nonce)
        return None
    if actor.role is Role.specialist and attendee.user_id == actor.user_id:
        return links.url(attendee.token_nonce)
    return None


# --- reading -----------------------------------------------------------------------------------------


def _visible(actor: Actor) -> Select[Consultation]:
    query = select(Consultation).where(Consultation.organization_id == actor.organization_id, BOOKED)
    if actor.role is Role.specialist:
        query = query.where(Consultation.specialist_id == actor.user_id)
    return query


async def _load(session: AsyncSession, actor: Actor, consultation_id: uuid.UUID, *, lock: bool = False) -> Consultation:
    query = _visible(actor).where(Consultation.id == consultation_id)
    if lock:
        query = query.with_for_update()
    consultation = await session.scalar(query)
    if consultation is None:
        raise NotFound("no such consultation", field="consultation_id")
    return consultation


async def get_consultation(session: AsyncSession, actor: Actor, consultation_id: uuid.UUID) -> ConsultationView:
    row = (
        await session.execute(
            _visible(actor).add_columns(SPECIALIST_AVAILABLE).where(Consultation.id == consultation_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such consultation", field="consultation_id")
    consultation, specialist_available = row
    found = await session.scalars(
        select(Attendee).where(Attendee.consultation_id == consultation.id).order_by(Attendee.kind, Attendee.name)
    )
    attendees = list(found)
    query = select(OutboxMessage).where(
        OutboxMessage.consultation_id == consultation.id, OutboxMessage.topic.startswith(EMAIL_PREFIX)
    )
    if actor.role is Role.specialist:
        # A delivery error can quote the participant's address: a specialist sees only their own mail's state.
        own = [a.id for a in attendees if a.kind is AttendeeKind.specialist and a.user_id == actor.user_id]
        query = query.where(OutboxMessage.attendee_id.in_(own))
    notifications = await session.scalars(query.order_by(OutboxMessage.created_at))
    return ConsultationView(consultation, attendees, list(notifications), bool(specialist_available))


async def list_consultations(
    session: AsyncSession,
    actor: Actor,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    specialist_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    status: ConsultationStatus | None = None,
    starts_from: datetime | None = None,
    limit: int = LIST_LIMIT,
) -> list[tuple[Consultation, bool]]:
    """The consultations the actor may see, each with whether its specialist is still available.

    ``start``/``end``: those overlapping the span; ``starts_from``: only those starting then or later (the FHIR
    export's dates are the start's).
    """
    query = _visible(actor).add_columns(SPECIALIST_AVAILABLE)
    if start is not None:
        query = query.where(Consultation.ends_at > start)
    if starts_from is not None:
        query = query.where(Consultation.starts_at >= starts_from)
    if end is not None:
        query = query.where(Consultation.starts_at < end)
    if specialist_id is not None:
        query = query.where(Consultation.specialist_id == specialist_id)
    if participant_id is not None:
        query = query.where(Consultation.participant_id == participant_id)
    if status is not None:
        query = query.where(Consultation.status == status)
    rows = await session.execute(query.order_by(Consultation.starts_at).limit(limit))
    return [(consultation, bool(available)) for consultation, available in rows]


# --- changing ----------------------------------------------------------------------------------------


async def reschedule_consultation(
    session: AsyncSession,
    actor: Actor,
    policy: SchedulingPolicy,
    consultation_id: uuid.UUID,
    *,
    starts_at: datetime,
    now: datetime | None = None,
) -> ConsultationView:
    """Move a consultation; attendees keep their links and learn of it through a raised SEQUENCE."""
    actor.require(*BOOKERS)
    starts_at = starts_at.astimezone(UTC)
    consultation = await _load(session, actor, consultation_id, lock=True)
    if consultation.status is not ConsultationStatus.scheduled:
        raise Conflict(f"a {consultation.status.value} consultation cannot be rescheduled", field="consultation_id")
    consultation_type = await session.get_one(ConsultationType, consultation.consultation_type_id)
    try:
        specialist = await organizations.get_specialist(session, actor.organization_id, consultation.specialist_id)
    except NotFound:
        raise Conflict(
            "the specialist no longer serves this organization; cancel and book another specialist",
            field="specialist_id",
        ) from None
    duration = timedelta(minutes=consultation_type.duration_minutes)
    calendar = await _specialist_calendar(session, specialist.id, starts_at)
    buffer = timedelta(minutes=consultation_type.buffer_minutes)
    require_on_grid(policy, calendar, ZoneInfo(specialist.timezone), duration, starts_at, now, buffer=buffer)
    ends_at = starts_at + duration
    blocked_until = ends_at + timedelta(minutes=consultation_type.buffer_minutes)
    await check_free(session, specialist.id, starts_at, blocked_until, ignore=consultation.id)
    previous = consultation.starts_at
    consultation.starts_at, consultation.ends_at, consultation.blocked_until = starts_at, ends_at, blocked_until
    consultation.sequence += 1
    await void_pending(session, consultation.id, "rescheduled")
    record_change(
        session,
        actor,
        consultation,
        "rescheduled",
        recipients=await _recipients_of(session, consultation),
        reminder_leads=policy.reminder_leads,
        now=now or utcnow(),
        previous_starts_at=previous.isoformat(),
    )
    try:
        await session.flush()
    except DBAPIError as error:
        if lost_race(error):
            raise Conflict("the specialist is already booked at this time", field="start") from None
        raise
    return await get_consultation(session, actor, consultation.id)


async def cancel_consultation(
    session: AsyncSession,
    actor: Actor,
    consultation_id: uuid.UUID,
    *,
    reason: str | None,
    now: datetime | None = None,
) -> ConsultationView:
    """Cancel, free the slot and revoke every join link of the consultation."""
    actor.require(*BOOKERS)
    consultation = await _load(session, actor, consultation_id, lock=True)
    if consultation.status is not ConsultationStatus.scheduled:
        raise Conflict(f"a {consultation.status.value} consultation cannot be cancelled", field="consultation_id")
    consultation.status = ConsultationStatus.cancelled
    consultation.cancel_reason = reason
    consultation.sequence += 1
    await session.execute(
        update(Attendee)
        .where(Attendee.consultation_id == consultation.id, Attendee.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
    await void_pending(session, consultation.id, "cancelled")
    record_change(
        session,
        actor,
        consultation,
        "cancelled",
        recipients=await _recipients_of(session, consultation),
        reminder_leads=(),
        now=now or utcnow(),
    )
    await session.flush()
    return await get_consultation(session, actor, consultation.id)


async def resend_invitation(
    session: AsyncSession, actor: Actor, consultation_id: uuid.UUID, attendee_id: uuid.UUID, *, now: datetime
) -> OutboxMessage:
    """Queue the invitation to one attendee again (say, after it bounced and the address was corrected).

    The new message shows the consultation as it is now, with the attendee's current link and calendar entry.
    """
    actor.require(*BOOKERS)
    consultation = await _load(session, actor, consultation_id, lock=True)
    attendee = await session.scalar(
        select(Attendee).where(Attendee.id == attendee_id, Attendee.consultation_id == consultation.id)
    )
    if attendee is None:
        raise NotFound("no such attendee", field="attendee_id")
    if consultation.status is not ConsultationStatus.scheduled:
        raise Conflict(f"the consultation is {consultation.status.value}", field="consultation_id")
    consents = await participants.active_consents(session, consultation.participant_id)
    if not may_email(attendee.kind, attendee.email, ConsentKind.email_contact in consents):
        raise Conflict(
            "this attendee cannot be emailed: no address, or no consent to email contact", field="attendee_id"
        )
    message = outbox.single(
        Topic.invitation,
        organization_id=consultation.organization_id,
        consultation_id=consultation.id,
        attendee_id=attendee.id,
        now=now,
    )
    session.add(message)
    audit.record(
        session, actor, "attendee.invitation_resent", "consultation", consultation.id, attendee_id=str(attendee.id)
    )
    await session.flush()
    return message
