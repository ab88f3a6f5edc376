"""Slots and consultations: search, book, reschedule, cancel — never two at once for one specialist."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.audit import services as audit
from telecon.auth.actor import Actor
from telecon.db import Base, utcnow
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
    specialists = [s for s in specialists if _type_allows(consultation_type, s)]
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


def _type_allows(consultation_type: ConsultationType, specialist: User) -> bool:
    allowed = consultation_type.professions
    return not allowed or (specialist.profession is not None and specialist.profession.value in allowed)


# Built once: the booking path runs these on every request (see _booking_context_query).
_RULES_OF = select(AvailabilityRule.weekday, AvailabilityRule.start_time, AvailabilityRule.end_time).where(
    AvailabilityRule.specialist_id == bindparam("specialist_id")
)
_OVERRIDES_OF = select(AvailabilityOverride.kind, AvailabilityOverride.starts_at, AvailabilityOverride.ends_at).where(
    AvailabilityOverride.specialist_id == bindparam("specialist_id"),
    AvailabilityOverride.starts_at < bindparam("end"),
    AvailabilityOverride.ends_at > bindparam("start"),
)


async def _check_on_grid(
    session: AsyncSession,
    policy: SchedulingPolicy,
    specialist: User,
    consultation_type: ConsultationType,
    starts_at: datetime,
    now: datetime | None,
) -> None:
    """The start must be a slot of the specialist's availability; other bookings are checked separately."""
    earliest = (now or utcnow()) + policy.min_notice
    if starts_at < earliest:
        minutes = int(policy.min_notice.total_seconds() // 60)
        raise InvalidInput(f"the start must be at least {minutes} minutes from now", field="start")
    duration = timedelta(minutes=consultation_type.duration_minutes)
    rules = [slot_rules.WeeklyRule(*row) for row in await session.execute(_RULES_OF, {"specialist_id": specialist.id})]
    overrides: dict[OverrideKind, list[slot_rules.Interval]] = {OverrideKind.absence: [], OverrideKind.extra: []}
    window = {"specialist_id": specialist.id, "start": starts_at, "end": starts_at + duration}
    for kind, lo, hi in await session.execute(_OVERRIDES_OF, window):
        overrides[kind].append((lo, hi))
    starts = slot_rules.free_slots(
        rules=rules,
        zone=ZoneInfo(specialist.timezone),
        absences=overrides[OverrideKind.absence],
        extras=overrides[OverrideKind.extra],
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


async def _replay(session: AsyncSession, actor: Actor, key: str, fingerprint: str) -> ConsultationView | None:
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.organization_id == actor.organization_id, IdempotencyKey.key == key)
    )
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise InvalidInput("this Idempotency-Key was used with a different request", field="Idempotency-Key")
    return await get_consultation(session, actor, stored.consultation_id)


def _booking_context_query() -> Select[Participant, ConsultationType, User, bool]:
    """Built once: the booking path runs it on every request, and building costs more than running."""
    video_consent = (
        select(Consent.granted)
        .where(Consent.participant_id == Participant.id, Consent.kind == ConsentKind.video_consultation)
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
        .limit(1)
        .correlate(Participant)
        .scalar_subquery()
    )
    return (
        select(Participant, ConsultationType, User, video_consent)
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
    actor: Actor,
    participant_id: uuid.UUID,
    consultation_type_id: uuid.UUID,
    specialist_id: uuid.UUID,
) -> tuple[Participant, ConsultationType, User, bool]:
    """Participant, type, specialist and the current video consent in one round trip, all tenant-scoped."""
    parameters = {
        "participant_id": participant_id,
        "organization_id": actor.organization_id,
        "consultation_type_id": consultation_type_id,
        "specialist_id": specialist_id,
    }
    row = (await session.execute(_BOOKING_CONTEXT, parameters)).first()
    if row is None:
        # Something is not there (for this organization): the single lookups say which, as a 404.
        await participants.get_participant(session, actor, participant_id)
        await get_consultation_type(session, actor.organization_id, consultation_type_id)
        await organizations.get_specialist(session, actor.organization_id, specialist_id)
        raise NotFound("no such participant, consultation type or specialist")
    participant, consultation_type, specialist, consented = row
    return participant, consultation_type, specialist, bool(consented)


def _table(model: type[Base]) -> Table:
    # Core INSERTs into the table, not the mapped class: the ORM's bulk path costs more than the statement.
    return Base.metadata.tables[model.__tablename__]


def _column_values(row: Base) -> dict[str, Any]:
    """The attributes set on a new ORM object, for a Core INSERT that skips the unit of work."""
    return {key: value for key, value in vars(row).items() if not key.startswith("_")}


def _attendee(links: JoinLinks, consultation: Consultation, kind: AttendeeKind, name: str, **values: Any) -> Attendee:
    nonce, token_hash = links.issue()
    # Every column set, so that all attendees of a booking go into one multi-row INSERT.
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
    actor: Actor,
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
) -> tuple[ConsultationView, bool]:
    """Book a consultation; returns it and whether it was created (``False``: an idempotent replay)."""
    actor.require(*BOOKERS)
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
    if idempotency_key is not None and (view := await _replay(session, actor, idempotency_key, fingerprint)):
        return view, False

    participant, consultation_type, specialist, consented = await _booking_context(
        session, actor, participant_id, consultation_type_id, specialist_id
    )
    if not consented:
        raise Conflict("the participant has not consented to video consultations", field="participant_id")
    if not _type_allows(consultation_type, specialist):
        raise InvalidInput("this consultation type does not allow the specialist's profession", field="specialist_id")
    await _check_on_grid(session, policy, specialist, consultation_type, starts_at, now)
    ends_at = starts_at + timedelta(minutes=consultation_type.duration_minutes)
    blocked_until = ends_at + timedelta(minutes=consultation_type.buffer_minutes)
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so check-then-insert is safe.
        # PostgreSQL: the exclusion constraint refuses the INSERT instead, race or no race.
        await _check_free(session, specialist.id, starts_at, blocked_until)

    consultation = Consultation(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        participant_id=participant.id,
        specialist_id=specialist.id,
        booked_by_id=actor.user_id,
        consultation_type_id=consultation_type.id,
        starts_at=starts_at,
        ends_at=ends_at,
        blocked_until=blocked_until,
        status=ConsultationStatus.scheduled,
        purpose=purpose,
        room_name=jitsi.new_room_name(),
        sequence=0,
        created_at=(created := utcnow()),
        updated_at=created,
    )
    attendees = [
        _attendee(
            policy.links,
            consultation,
            AttendeeKind.participant,
            participant.display_name,
            participant_id=participant.id,
            email=participant.email,
            language="de-x-simple" if participant.easy_language else participant.preferred_language,
        ),
        _attendee(
            policy.links,
            consultation,
            AttendeeKind.specialist,
            specialist.display_name,
            user_id=specialist.id,
            email=specialist.email,
            language=(specialist.languages or ["de"])[0],
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
        *_record_change(session, actor, participant, consultation, "booked", add=False),
    ]
    if idempotency_key is not None:
        dependents.append(
            IdempotencyKey(
                id=uuid.uuid4(),
                created_at=utcnow(),
                organization_id=actor.organization_id,
                key=idempotency_key,
                request_hash=fingerprint,
                consultation_id=consultation.id,
            )
        )
    try:
        if idempotency_key is None:
            await _insert(session, consultation, dependents)
        else:
            # A savepoint, so that after losing a race to the same key the winner's row can be read.
            async with session.begin_nested():
                await _insert(session, consultation, dependents)
    except IntegrityError as error:
        if idempotency_key is not None and (view := await _replay(session, actor, idempotency_key, fingerprint)):
            return view, False
        if _is_exclusion_violation(error):
            raise Conflict("the specialist is already booked at this time", field="start") from None
        raise
    notifications = [row for row in dependents if isinstance(row, OutboxMessage)]
    return ConsultationView(consultation, attendees, notifications), True


async def _insert(session: AsyncSession, consultation: Consultation, dependents: list[Base]) -> None:
    """Core INSERTs, one per table (attendees in one multi-row statement), without the unit of work."""
    # The consultation first: its rows' foreign keys point at it, and on PostgreSQL this is the statement
    # the exclusion constraint refuses when another booking won the slot.
    await session.execute(insert(_table(Consultation)), [_column_values(consultation)])
    groups: dict[tuple[type[Base], tuple[str, ...]], list[dict[str, Any]]] = defaultdict(list)
    for row in dependents:
        values = _column_values(row)
        groups[type(row), tuple(sorted(values))].append(values)
    for (model, _), values_list in groups.items():
        await session.execute(insert(_table(model)), values_list)


CASE_FILE_KIND = {
    "booked": CaseFileKind.consultation_booked,
    "rescheduled": CaseFileKind.consultation_rescheduled,
    "cancelled": CaseFileKind.consultation_cancelled,
}


def _record_change(
    session: AsyncSession,
    actor: Actor,
    participant: Participant,
    consultation: Consultation,
    verb: str,
    *,
    add: bool = True,
    **details: Any,
) -> list[Base]:
    """What every change of a consultation writes: case file, outbox and audit, in the same transaction."""
    rows: list[Base] = [
        participants.case_file_entry(
            participant,
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
    await _check_on_grid(session, policy, specialist, consultation_type, starts_at, now)
    ends_at = starts_at + timedelta(minutes=consultation_type.duration_minutes)
    blocked_until = ends_at + timedelta(minutes=consultation_type.buffer_minutes)
    await _check_free(session, specialist.id, starts_at, blocked_until, ignore=consultation.id)
    previous = consultation.starts_at
    consultation.starts_at, consultation.ends_at, consultation.blocked_until = starts_at, ends_at, blocked_until
    consultation.sequence += 1
    participant = await session.get_one(Participant, consultation.participant_id)
    _record_change(session, actor, participant, consultation, "rescheduled", previous_starts_at=previous.isoformat())
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
    participant = await session.get_one(Participant, consultation.participant_id)
    _record_change(session, actor, participant, consultation, "cancelled")
    await session.flush()
    return await get_consultation(session, actor, consultation.id)
