"""Slots and consultations: search, book, reschedule, cancel — never two at once for one specialist."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ScalarSelect, Select, String, Uuid, and_, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from telecon.audit import services as audit
from telecon.auth.actor import Actor, Caller
from telecon.db import Base, UTCDateTime, insert_rows, json_rows, parse_instant, utcnow
from telecon.errors import BadRequest, Conflict, InvalidInput, NotFound
from telecon.notifications import outbox
from telecon.notifications.models import OutboxMessage
from telecon.organizations import services as organizations
from telecon.organizations.models import Membership, Profession, Role, User
from telecon.participants import services as participants
from telecon.participants.models import CaseFileKind, Consent, ConsentKind, Participant
from telecon.scheduling import slots as slot_rules
from telecon.scheduling.availability import get_consultation_type
from telecon.scheduling.models import (
    LONGEST_CONSULTATION,
    Attendee,
    AttendeeKind,
    AvailabilityOverride,
    AvailabilityRule,
    Consultation,
    ConsultationStatus,
    ConsultationType,
    IdempotencyKey,
    JitsiRole,
    OverrideKind,
)
from telecon.video import jitsi
from telecon.video.links import JoinLinks

BOOKERS = (Role.admin, Role.coach)
EXCLUSION_VIOLATION = "23P01"


@dataclass(frozen=True, slots=True)
class SchedulingPolicy:
    links: JoinLinks
    min_notice: timedelta = timedelta(minutes=120)
    max_search_span: timedelta = timedelta(days=62)


@dataclass(frozen=True, slots=True)
class Slot:
    specialist_id: uuid.UUID
    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True)
class Guest:
    name: str
    email: str | None
    language: str


@dataclass(slots=True)
class ConsultationView:
    consultation: Consultation
    attendees: list[Attendee] = field(default_factory=list)
    notifications: list[OutboxMessage] = field(default_factory=list)


# --- slots -------------------------------------------------------------------------------------------


async def _specialist_calendars(
    session: AsyncSession, specialists: Sequence[User], start: datetime, end: datetime
) -> tuple[
    dict[uuid.UUID, list[slot_rules.WeeklyRule]],
    dict[uuid.UUID, dict[OverrideKind, list[slot_rules.Interval]]],
    dict[uuid.UUID, list[slot_rules.Interval]],
]:
    """Rules, overrides and busy time of several specialists in three queries, whatever their number."""
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
            Consultation.specialist_id.in_(ids),
            Consultation.status != ConsultationStatus.cancelled,
            Consultation.starts_at < end,
            Consultation.blocked_until > start,
        )
    )
    for specialist_id, lo, hi in busy_rows:
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


async def find_slots(
    session: AsyncSession,
    actor: Actor,
    policy: SchedulingPolicy,
    *,
    consultation_type_id: uuid.UUID,
    start: datetime,
    end: datetime,
    specialist_id: uuid.UUID | None = None,
    profession: Profession | None = None,
    now: datetime | None = None,
) -> list[Slot]:
    _check_range(start, end, policy)
    if (specialist_id is None) == (profession is None):
        raise BadRequest("give either specialist_id or profession", field="specialist_id")
    consultation_type = await get_consultation_type(session, actor.organization_id, consultation_type_id)
    if specialist_id is not None:
        specialists = [await organizations.get_specialist(session, actor.organization_id, specialist_id)]
    else:
        specialists = await organizations.list_specialists(session, actor.organization_id, profession=profession)
    specialists = [s for s in specialists if _type_allows(consultation_type.professions, s.profession)]
    if not specialists:
        return []
    duration = timedelta(minutes=consultation_type.duration_minutes)
    buffer = timedelta(minutes=consultation_type.buffer_minutes)
    earliest = (now or utcnow()) + policy.min_notice
    # A slot starting just before ``end`` needs the time up to ``end + duration + buffer`` free; stored
    # busy intervals already include their own buffer.
    rules, overrides, busy = await _specialist_calendars(session, specialists, start, end + duration + buffer)
    found: list[Slot] = []
    for specialist in specialists:
        starts = slot_rules.free_slots(
            rules=rules.get(specialist.id, []),
            zone=ZoneInfo(specialist.timezone),
            absences=overrides[specialist.id][OverrideKind.absence],
            extras=overrides[specialist.id][OverrideKind.extra],
            busy=busy.get(specialist.id, []),
            duration=duration,
            buffer=buffer,
            earliest=earliest,
            start=start,
            end=end,
        )
        found.extend(Slot(specialist.id, s, s + duration) for s in starts)
    found.sort(key=lambda slot: (slot.start, str(slot.specialist_id)))
    return found


def _type_allows(allowed: list[str], profession: Profession | None) -> bool:
    """An empty list allows every profession."""
    return not allowed or (profession is not None and profession.value in allowed)


def _calendar_columns(specialist_id: Any) -> tuple[ScalarSelect[list[list[Any]]], ScalarSelect[list[list[Any]]]]:
    """A specialist's weekly rules and the overrides touching [:start, :end), as two JSON columns.

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
    return rules, overrides


@dataclass(frozen=True, slots=True)
class _Calendar:
    rules: list[slot_rules.WeeklyRule]
    absences: list[slot_rules.Interval]
    extras: list[slot_rules.Interval]

    @classmethod
    def parse(cls, rules_rows: list[list[Any]], override_rows: list[list[Any]]) -> _Calendar:
        rules = [
            slot_rules.WeeklyRule(weekday, time.fromisoformat(lo), time.fromisoformat(hi))
            for weekday, lo, hi in rules_rows
        ]
        overrides: dict[str, list[slot_rules.Interval]] = {OverrideKind.absence: [], OverrideKind.extra: []}
        for kind, lo, hi in override_rows:
            overrides[kind].append((parse_instant(lo), parse_instant(hi)))
        return cls(rules, overrides[OverrideKind.absence], overrides[OverrideKind.extra])


def _calendar_window(starts_at: datetime) -> dict[str, datetime]:
    # Wide enough for the longest consultation type; overrides outside the slot do not change the answer.
    return {"start": starts_at, "end": starts_at + LONGEST_CONSULTATION}


_SPECIALIST_CALENDAR = select(*_calendar_columns(bindparam("specialist_id", type_=Uuid())))


async def _specialist_calendar(session: AsyncSession, specialist_id: uuid.UUID, starts_at: datetime) -> _Calendar:
    row = (
        await session.execute(_SPECIALIST_CALENDAR, {"specialist_id": specialist_id, **_calendar_window(starts_at)})
    ).one()
    return _Calendar.parse(*row)


def _require_on_grid(
    policy: SchedulingPolicy,
    calendar: _Calendar,
    zone: ZoneInfo,
    duration: timedelta,
    starts_at: datetime,
    now: datetime | None,
) -> None:
    """The start must be a slot of the specialist's availability; other bookings are checked separately."""
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


async def _check_free(
    session: AsyncSession,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    blocked_until: datetime,
    *,
    ignore: uuid.UUID | None = None,
) -> None:
    query = select(func.count()).where(
        Consultation.specialist_id == specialist_id,
        Consultation.status != ConsultationStatus.cancelled,
        Consultation.starts_at < blocked_until,
        Consultation.blocked_until > starts_at,
    )
    if ignore is not None:
        query = query.where(Consultation.id != ignore)
    if await session.scalar(query):
        raise Conflict("the specialist is already booked at this time", field="start")


def _is_exclusion_violation(error: IntegrityError) -> bool:
    orig = error.orig
    return EXCLUSION_VIOLATION in (getattr(orig, "sqlstate", None), getattr(orig, "pgcode", None))


# --- booking -----------------------------------------------------------------------------------------


def request_fingerprint(**fields: Any) -> str:
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored_hash: str | None, fingerprint: str) -> bool:
    """Whether a stored Idempotency-Key answers this request (``True``) or it is new (``False``)."""
    if stored_hash is None:
        return False
    if stored_hash != fingerprint:
        raise InvalidInput("this Idempotency-Key was used with a different request", field="Idempotency-Key")
    return True


async def _stored_key(session: AsyncSession, actor: Actor, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.organization_id == actor.organization_id, IdempotencyKey.key == key)
    )


@dataclass(frozen=True, slots=True)
class _BookingContext:
    """What a booking checks and copies, read as plain columns: no ORM objects on the hot path."""

    caller_role: Role | None
    participant_id: uuid.UUID
    participant_name: str
    participant_email: str | None
    participant_language: str
    easy_language: bool
    duration_minutes: int
    buffer_minutes: int
    professions: list[str]
    specialist_name: str
    specialist_email: str
    specialist_languages: list[str]
    timezone: str
    profession: Profession | None
    consented: bool | None
    rules: list[list[Any]]
    overrides: list[list[Any]]
    stored_hash: str | None
    stored_consultation_id: uuid.UUID | None


def _booking_context_query() -> Select[*tuple[Any, ...]]:
    """Built once: the booking path runs it on every request, and building costs more than running.

    One round trip for everything a booking checks: the caller's own membership, participant, type and
    specialist (tenant-scoped), the current video consent, the specialist's calendar around the start and an
    earlier use of the key.
    """
    caller = aliased(Membership)
    caller_role = (
        select(caller.role)
        .where(caller.user_id == bindparam("caller_id"), caller.organization_id == bindparam("organization_id"))
        .scalar_subquery()
    )
    video_consent = (
        select(Consent.granted)
        .where(Consent.participant_id == Participant.id, Consent.kind == ConsentKind.video_consultation)
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
        .limit(1)
        .correlate(Participant)
        .scalar_subquery()
    )
    stored = select(IdempotencyKey).where(
        IdempotencyKey.organization_id == Participant.organization_id,
        IdempotencyKey.key == bindparam("idempotency_key", type_=String()),
    )
    rules, overrides = _calendar_columns(User.id)
    columns = {
        "caller_role": caller_role,
        "participant_id": Participant.id,
        "participant_name": Participant.display_name,
        "participant_email": Participant.email,
        "participant_language": Participant.preferred_language,
        "easy_language": Participant.easy_language,
        "duration_minutes": ConsultationType.duration_minutes,
        "buffer_minutes": ConsultationType.buffer_minutes,
        "professions": ConsultationType.professions,
        "specialist_name": User.display_name,
        "specialist_email": User.email,
        "specialist_languages": User.languages,
        "timezone": User.timezone,
        "profession": User.profession,
        "consented": video_consent,
        "rules": rules.correlate(User),
        "overrides": overrides.correlate(User),
        "stored_hash": stored.with_only_columns(IdempotencyKey.request_hash).correlate(Participant).scalar_subquery(),
        "stored_consultation_id": stored.with_only_columns(IdempotencyKey.consultation_id)
        .correlate(Participant)
        .scalar_subquery(),
    }
    return (
        select(*(column.label(name) for name, column in columns.items()))
        .select_from(Participant)
        .join(
            ConsultationType,
            and_(
                ConsultationType.id == bindparam("consultation_type_id"),
                ConsultationType.organization_id == Participant.organization_id,
            ),
        )
        .join(
            Membership,
            and_(
                Membership.user_id == bindparam("specialist_id"),
                Membership.organization_id == Participant.organization_id,
                Membership.role == Role.specialist,
            ),
        )
        .join(User, User.id == Membership.user_id)
        .where(
            Participant.id == bindparam("participant_id"), Participant.organization_id == bindparam("organization_id")
        )
    )


_BOOKING_CONTEXT = _booking_context_query()


async def _booking_context(
    session: AsyncSession,
    caller: Caller | Actor,
    *,
    participant_id: uuid.UUID,
    consultation_type_id: uuid.UUID,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    idempotency_key: str | None,
) -> tuple[Actor, _BookingContext]:
    parameters = {
        "caller_id": caller.user_id,
        "participant_id": participant_id,
        "organization_id": caller.organization_id,
        "consultation_type_id": consultation_type_id,
        "specialist_id": specialist_id,
        "idempotency_key": idempotency_key,
        **_calendar_window(starts_at),
    }
    # On the session's connection, not through the session: no ORM entities, and less CPU (measured).
    connection = await session.connection()
    row = (await connection.execute(_BOOKING_CONTEXT, parameters)).first()
    if row is None:
        # Something is not there (for this organization). Who asks comes first (401, 403), then the single
        # lookups say what is missing, as a 404.
        actor = _verified(caller, await organizations.role_in(session, caller.user_id, caller.organization_id))
        await participants.get_participant(session, actor, participant_id)
        await get_consultation_type(session, actor.organization_id, consultation_type_id)
        await organizations.get_specialist(session, actor.organization_id, specialist_id)
        raise NotFound("no such participant, consultation type or specialist")
    context = _BookingContext(**row._mapping)
    return _verified(caller, context.caller_role), context


def _verified(caller: Caller | Actor, role: Role | None) -> Actor:
    """The caller as a booker of the organization: 401 without a membership, 403 for another role."""
    actor = Caller(caller.user_id, caller.organization_id, caller.remote_address).verified(role)
    actor.require(*BOOKERS)
    return actor


@dataclass(frozen=True, slots=True)
class Booking:
    view: ConsultationView
    created: bool
    """``False``: an idempotent replay of an earlier booking."""
    actor: Actor
    """The caller, as their membership stood when booking."""


def _attendee(links: JoinLinks, consultation: Consultation, kind: AttendeeKind, name: str, **values: Any) -> Attendee:
    nonce, token_hash = links.issue()
    # Every column set, so that all attendees of a booking share one statement shape (see insert_rows).
    fields: dict[str, Any] = {"user_id": None, "participant_id": None, "email": None, "language": "de", **values}
    return Attendee(
        id=uuid.uuid4(),
        consultation_id=consultation.id,
        kind=kind,
        name=name,
        jitsi_role=JitsiRole.moderator if kind is AttendeeKind.specialist else JitsiRole.participant,
        token_nonce=nonce,
        token_hash=token_hash,
        revoked_at=None,
        first_joined_at=None,
        last_joined_at=None,
        join_count=0,
        **fields,
    )


async def book_consultation(
    session: AsyncSession,
    caller: Caller | Actor,
    policy: SchedulingPolicy,
    *,
    participant_id: uuid.UUID,
    specialist_id: uuid.UUID,
    consultation_type_id: uuid.UUID,
    starts_at: datetime,
    purpose: str | None,
    invite_coach: bool = False,
    guests: Sequence[Guest] = (),
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Booking:
    """Book a consultation for a coach or admin of the caller's organization.

    The caller's membership is checked in the booking's own context query rather than before it: one round
    trip less on the busiest write. An ``Actor`` is checked again the same way.
    """
    if starts_at.tzinfo is None:
        raise InvalidInput("a time needs an offset", field="start")
    starts_at = starts_at.astimezone(UTC)
    fingerprint = request_fingerprint(
        participant_id=participant_id,
        specialist_id=specialist_id,
        consultation_type_id=consultation_type_id,
        start=starts_at.isoformat(),
        purpose=purpose,
        invite_coach=invite_coach,
        guests=[(g.name, g.email, g.language) for g in guests],
    )
    actor, context = await _booking_context(
        session,
        caller,
        participant_id=participant_id,
        consultation_type_id=consultation_type_id,
        specialist_id=specialist_id,
        starts_at=starts_at,
        idempotency_key=idempotency_key,
    )
    if _replay(context.stored_hash, fingerprint) and context.stored_consultation_id is not None:
        return Booking(await get_consultation(session, actor, context.stored_consultation_id), False, actor)
    if not context.consented:
        raise Conflict("the participant has not consented to video consultations", field="participant_id")
    if not _type_allows(context.professions, context.profession):
        raise InvalidInput("this consultation type does not allow the specialist's profession", field="specialist_id")
    duration = timedelta(minutes=context.duration_minutes)
    calendar = _Calendar.parse(context.rules, context.overrides)
    _require_on_grid(policy, calendar, ZoneInfo(context.timezone), duration, starts_at, now)
    ends_at = starts_at + duration
    blocked_until = ends_at + timedelta(minutes=context.buffer_minutes)
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so check-then-insert is safe.
        # PostgreSQL: the exclusion constraint refuses the INSERT instead, race or no race.
        await _check_free(session, specialist_id, starts_at, blocked_until)

    consultation = Consultation(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        participant_id=participant_id,
        specialist_id=specialist_id,
        booked_by_id=actor.user_id,
        consultation_type_id=consultation_type_id,
        starts_at=starts_at,
        ends_at=ends_at,
        blocked_until=blocked_until,
        status=ConsultationStatus.scheduled,
        purpose=purpose,
        room_name=jitsi.new_room_name(),
        sequence=0,
        created_at=(created := now or utcnow()),
        updated_at=created,
    )
    attendees = [
        _attendee(
            policy.links,
            consultation,
            AttendeeKind.participant,
            context.participant_name,
            participant_id=participant_id,
            email=context.participant_email,
            language="de-x-simple" if context.easy_language else context.participant_language,
        ),
        _attendee(
            policy.links,
            consultation,
            AttendeeKind.specialist,
            context.specialist_name,
            user_id=specialist_id,
            email=context.specialist_email,
            language=(context.specialist_languages or ["de"])[0],
        ),
    ]
    if invite_coach:
        coach = await session.get_one(User, actor.user_id)
        attendees.append(
            _attendee(
                policy.links, consultation, AttendeeKind.coach, coach.display_name, user_id=coach.id, email=coach.email
            )
        )
    attendees += [
        _attendee(policy.links, consultation, AttendeeKind.guest, g.name, email=g.email, language=g.language)
        for g in guests
    ]
    dependents: list[Base] = [
        *attendees,
        *_record_change(session, actor, consultation, "booked", add=False),
    ]
    if idempotency_key is not None:
        dependents.append(
            IdempotencyKey(
                id=uuid.uuid4(),
                created_at=created,  # housekeeping ends its replay window on the same clock
                organization_id=actor.organization_id,
                key=idempotency_key,
                request_hash=fingerprint,
                consultation_id=consultation.id,
            )
        )
    try:
        # The consultation first: its rows' foreign keys point at it (SQLite checks them at once).
        await insert_rows(session, [consultation, *dependents])
    except IntegrityError as error:
        if idempotency_key is not None:
            # Lost a race to the same key: the winner's booking answers, in a fresh transaction.
            await session.rollback()
            stored = await _stored_key(session, actor, idempotency_key)
            if stored is not None and _replay(stored.request_hash, fingerprint):
                return Booking(await get_consultation(session, actor, stored.consultation_id), False, actor)
        if _is_exclusion_violation(error):
            raise Conflict("the specialist is already booked at this time", field="start") from None
        raise
    notifications = [row for row in dependents if isinstance(row, OutboxMessage)]
    return Booking(ConsultationView(consultation, attendees, notifications), True, actor)


CASE_FILE_KIND = {
    "booked": CaseFileKind.consultation_booked,
    "rescheduled": CaseFileKind.consultation_rescheduled,
    "cancelled": CaseFileKind.consultation_cancelled,
}


def _record_change(
    session: AsyncSession,
    actor: Actor,
    consultation: Consultation,
    verb: str,
    *,
    add: bool = True,
    **details: Any,
) -> list[Base]:
    """What every change of a consultation writes: case file, outbox and audit, in the same transaction."""
    rows: list[Base] = [
        participants.case_file_entry(
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
        ),
        outbox.message(
            organization_id=consultation.organization_id,
            consultation_id=consultation.id,
            topic=f"consultation.{verb}",
            dedupe_key=f"consultation.{verb}:{consultation.id}:{consultation.sequence}",
            payload={"consultation_id": str(consultation.id), "sequence": consultation.sequence},
        ),
        audit.event(actor, f"consultation.{verb}", "consultation", consultation.id, **details),
    ]
    if add:
        session.add_all(rows)
    return rows


# --- reading -----------------------------------------------------------------------------------------


def _visible(actor: Actor) -> Select[Consultation]:
    query = select(Consultation).where(Consultation.organization_id == actor.organization_id)
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
    consultation = await _load(session, actor, consultation_id)
    attendees = await session.scalars(
        select(Attendee).where(Attendee.consultation_id == consultation.id).order_by(Attendee.kind, Attendee.name)
    )
    notifications = await session.scalars(
        select(OutboxMessage).where(OutboxMessage.consultation_id == consultation.id).order_by(OutboxMessage.created_at)
    )
    return ConsultationView(consultation, list(attendees), list(notifications))


async def list_consultations(
    session: AsyncSession,
    actor: Actor,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    specialist_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
    status: ConsultationStatus | None = None,
    limit: int = 500,
) -> list[Consultation]:
    query = _visible(actor)
    if start is not None:
        query = query.where(Consultation.ends_at > start)
    if end is not None:
        query = query.where(Consultation.starts_at < end)
    if specialist_id is not None:
        query = query.where(Consultation.specialist_id == specialist_id)
    if participant_id is not None:
        query = query.where(Consultation.participant_id == participant_id)
    if status is not None:
        query = query.where(Consultation.status == status)
    return list(await session.scalars(query.order_by(Consultation.starts_at).limit(limit)))


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
    specialist = await session.get_one(User, consultation.specialist_id)
    duration = timedelta(minutes=consultation_type.duration_minutes)
    calendar = await _specialist_calendar(session, specialist.id, starts_at)
    _require_on_grid(policy, calendar, ZoneInfo(specialist.timezone), duration, starts_at, now)
    ends_at = starts_at + duration
    blocked_until = ends_at + timedelta(minutes=consultation_type.buffer_minutes)
    await _check_free(session, specialist.id, starts_at, blocked_until, ignore=consultation.id)
    previous = consultation.starts_at
    consultation.starts_at, consultation.ends_at, consultation.blocked_until = starts_at, ends_at, blocked_until
    consultation.sequence += 1
    _record_change(session, actor, consultation, "rescheduled", previous_starts_at=previous.isoformat())
    try:
        await session.flush()
    except IntegrityError as error:
        if _is_exclusion_violation(error):
            raise Conflict("the specialist is already booked at this time", field="start") from None
        raise
    return await get_consultation(session, actor, consultation.id)


async def cancel_consultation(
    session: AsyncSession, actor: Actor, consultation_id: uuid.UUID, *, reason: str | None
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
        .values(revoked_at=utcnow())
    )
    _record_change(session, actor, consultation, "cancelled")
    await session.flush()
    return await get_consultation(session, actor, consultation.id)
