"""Booking a consultation: the busiest write, in two statements.

**1. The context SELECT** (built once, ``_CONTEXT``) reads, in one round trip, everything a booking checks
and copies; no row means something is missing for this organization (then the single lookups say what)::

    SELECT (SELECT m.role FROM membership m, user_account u                      -- the caller, as
             WHERE u.id = :caller_id AND <active member of :organization_id>)    -- eligibility.current_role
             AS caller_role,
           participant.display_name, .email, .preferred_language, .easy_language,
           consultation_type.duration_minutes, .buffer_minutes, .professions,
           user_account.display_name, .email, .languages, .timezone, .profession,  -- the specialist
           (SELECT granted FROM consent WHERE <latest video_consultation entry>) AS consented,
           (SELECT granted FROM consent WHERE <latest email_contact entry>) AS email_consented,
           (SELECT json rows of availability_rule  WHERE specialist) AS rules,
           (SELECT json rows of availability_override WHERE specialist, around :start) AS overrides,
           (SELECT json rows of busy_period WHERE specialist, around :start) AS busy,  -- their own calendar
           (SELECT request_hash, consultation_id FROM idempotency_key WHERE key = :idempotency_key)
      FROM participant
      JOIN consultation_type ON id = :consultation_type_id AND same organization
      JOIN user_account      ON id = :specialist_id
      JOIN membership        ON <bookable specialist of participant.organization_id>
     WHERE participant.id = :participant_id AND participant.organization_id = :organization_id

The bracketed conditions are ``telecon.organizations.eligibility``'s predicates, the same that the
specialist list, the single lookups, slot search and every bearer token's check use.

**2. The write** inserts the booking's rows: the consultation, its attendees (two to eight), a case-file
entry, its outbox rows (``telecon.outbox.messages``: invitations and reminders, two to twenty rows, and the one
``webhook.consultation.booked`` event the relay fans out to the organization's subscriptions), an audit event
and the Idempotency-Key if one was sent. On PostgreSQL that is one
statement, a data-modifying CTE per row (foreign keys are checked at its end; the exclusion constraint
refuses an overlap, which becomes a 409)::

    WITH consultation_0 AS (INSERT INTO consultation (<every column>) VALUES (:r0_id, :r0_organization_id, ...)),
         attendee_1     AS (INSERT INTO attendee (<every column>) VALUES (:r1_id, ...)),  -- one per attendee
         ...
         case_file_entry_4 AS (INSERT ...), outbox_message_5 AS (INSERT ...), ...,       -- one per email
         audit_event_9 AS (INSERT ...), idempotency_key_10 AS (INSERT ...)                 -- only with a key
    SELECT true

built once per shape (the tables of the rows: how many attendees and emails, with or without a key) by
``_write_statement``. SQLite, in-process and already holding the write lock (``BEGIN IMMEDIATE``), gets an
overlap check and then one INSERT per table.

Between the two statements the checks run in Python on the context row: consent, profession, the slot grid.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Executable, Select, String, Table, and_, bindparam, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Caller, Role
from telecon.db import Base, utcnow
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations import eligibility
from telecon.organizations import services as organizations
from telecon.organizations.models import Membership, Profession, User
from telecon.outbox import messages as outbox
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind, Participant
from telecon.scheduling.availability import get_consultation_type
from telecon.scheduling.links import JoinLinks, new_room_name
from telecon.scheduling.models import (
    Attendee,
    AttendeeKind,
    Consultation,
    ConsultationStatus,
    ConsultationType,
    IdempotencyKey,
    JitsiRole,
)
from telecon.scheduling.services import (
    BOOKERS,
    Calendar,
    ConsultationView,
    SchedulingPolicy,
    calendar_columns,
    calendar_window,
    check_free,
    get_consultation,
    is_exclusion_violation,
    recipients,
    record_change,
    require_on_grid,
    type_allows,
)


@dataclass(frozen=True, slots=True)
class Guest:
    name: str
    email: str | None
    language: str


@dataclass(frozen=True, slots=True)
class Booking:
    view: ConsultationView
    created: bool
    """``False``: an idempotent replay of an earlier booking."""
    actor: Actor
    """The caller, as their membership stood when booking."""


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
    actor, context = await _read_context(
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
    if not type_allows(context.professions, context.profession):
        raise InvalidInput("this consultation type does not allow the specialist's profession", field="specialist_id")
    duration = timedelta(minutes=context.duration_minutes)
    calendar = Calendar.parse(context.rules, context.overrides, context.busy)
    buffer = timedelta(minutes=context.buffer_minutes)
    require_on_grid(policy, calendar, ZoneInfo(context.timezone), duration, starts_at, now, buffer=buffer)
    ends_at = starts_at + duration
    blocked_until = ends_at + timedelta(minutes=context.buffer_minutes)
    postgresql = session.get_bind().dialect.name == "postgresql"
    if not postgresql:
        # SQLite: the transaction holds the write lock (BEGIN IMMEDIATE), so check-then-insert is safe.
        # PostgreSQL: the exclusion constraint refuses the INSERT instead, race or no race.
        await check_free(session, specialist_id, starts_at, blocked_until)

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
        room_name=new_room_name(),
        sequence=0,
        cancel_reason=None,
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
            language=attendee_language(context.participant_language, context.easy_language),
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
    email_consent = {ConsentKind.email_contact} if context.email_consented else set()
    case_file_entry, audit_event, emails = record_change(
        session,
        actor,
        consultation,
        "booked",
        recipients=recipients(attendees, email_consent),
        reminder_leads=policy.reminder_leads,
        now=created,
        add=False,
    )
    key = None
    if idempotency_key is not None:
        key = IdempotencyKey(
            id=uuid.uuid4(),
            created_at=created,  # housekeeping ends its replay window on the same clock
            organization_id=actor.organization_id,
            key=idempotency_key,
            request_hash=fingerprint,
            consultation_id=consultation.id,
        )
    # In the order of the foreign keys: the consultation first (SQLite checks them at once).
    rows: list[Base] = [consultation, *attendees, case_file_entry, *emails, audit_event]
    if key is not None:
        rows.append(key)
    try:
        if postgresql:
            await _write_postgresql(session, rows)
        else:
            await _write_sqlite(session, rows)
    except IntegrityError as error:
        if idempotency_key is not None:
            # Lost a race to the same key: the winner's booking answers, in a fresh transaction.
            await session.rollback()
            stored = await _stored_key(session, actor, idempotency_key)
            if stored is not None and _replay(stored.request_hash, fingerprint):
                return Booking(await get_consultation(session, actor, stored.consultation_id), False, actor)
        if is_exclusion_violation(error):
            raise Conflict("the specialist is already booked at this time", field="start") from None
        raise
    return Booking(ConsultationView(consultation, attendees, outbox.emails(emails)), True, actor)


# --- 1. the context SELECT ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Context:
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
    email_consented: bool | None
    rules: list[list[Any]]
    overrides: list[list[Any]]
    busy: list[list[Any]]
    stored_hash: str | None
    stored_consultation_id: uuid.UUID | None


def _context_query() -> Select[*tuple[Any, ...]]:
    """The SELECT shown in the module docstring; its labels are ``_Context``'s fields."""

    stored = select(IdempotencyKey).where(
        IdempotencyKey.organization_id == Participant.organization_id,
        IdempotencyKey.key == bindparam("idempotency_key", type_=String()),
    )
    rules, overrides, busy = calendar_columns(User.id)
    columns = {
        "caller_role": eligibility.current_role(bindparam("caller_id"), bindparam("organization_id")).scalar_subquery(),
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
        "consented": participants.latest_consent(Participant.id, ConsentKind.video_consultation).correlate(Participant),
        "email_consented": participants.latest_consent(Participant.id, ConsentKind.email_contact).correlate(
            Participant
        ),
        "rules": rules.correlate(User),
        "overrides": overrides.correlate(User),
        "busy": busy.correlate(User),
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
        .join(User, User.id == bindparam("specialist_id"))
        .join(Membership, eligibility.bookable_specialist_of(Participant.organization_id))
        .where(
            Participant.id == bindparam("participant_id"), Participant.organization_id == bindparam("organization_id")
        )
    )


# Built once: building costs more than running, and every booking runs it.
_CONTEXT = _context_query()


async def _read_context(
    session: AsyncSession,
    caller: Caller | Actor,
    *,
    participant_id: uuid.UUID,
    consultation_type_id: uuid.UUID,
    specialist_id: uuid.UUID,
    starts_at: datetime,
    idempotency_key: str | None,
) -> tuple[Actor, _Context]:
    parameters = {
        "caller_id": caller.user_id,
        "participant_id": participant_id,
        "organization_id": caller.organization_id,
        "consultation_type_id": consultation_type_id,
        "specialist_id": specialist_id,
        "idempotency_key": idempotency_key,
        **calendar_window(starts_at),
    }
    # On the session's connection, not through the session: no ORM entities, and less CPU (measured).
    connection = await session.connection()
    row = (await connection.execute(_CONTEXT, parameters)).first()
    if row is None:
        # Something is not there (for this organization). Who asks comes first (401, 403), then the single
        # lookups, built from the same predicates, say what is missing, as a 404.
        actor = _verified(caller, await organizations.role_in(session, caller.user_id, caller.organization_id))
        await participants.get_participant(session, actor, participant_id)
        await get_consultation_type(session, actor.organization_id, consultation_type_id)
        await organizations.get_specialist(session, actor.organization_id, specialist_id)
        raise NotFound("no such participant, consultation type or specialist")
    context = _Context(**row._mapping)
    return _verified(caller, context.caller_role), context


def _verified(caller: Caller | Actor, role: Role | None) -> Actor:
    """The caller as a booker of the organization: 401 without a counting membership, 403 for another role."""
    actor = Caller(caller.user_id, caller.organization_id, caller.remote_address).verified(role)
    actor.require(*BOOKERS)
    return actor


# --- the Idempotency-Key ------------------------------------------------------------------------------


def request_fingerprint(**fields: Any) -> str:
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored_hash: str | None, fingerprint: str) -> bool:
    """Whether a stored Idempotency-Key answers this request (``True``) or it is new (``False``)."""
    if stored_hash is None:
        return False
    if stored_hash != fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used with a different request", field="Idempotency-Key", source="header"
        )
    return True


async def _stored_key(session: AsyncSession, actor: Actor, key: str) -> IdempotencyKey | None:
    return await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.organization_id == actor.organization_id, IdempotencyKey.key == key)
    )


# --- 2. the write -------------------------------------------------------------------------------------


def attendee_language(preferred_language: str, easy_language: bool) -> str:
    """The language of a participant's emails and join page: easy German when they asked for easy language."""
    return "de-x-simple" if easy_language else preferred_language


def _attendee(links: JoinLinks, consultation: Consultation, kind: AttendeeKind, name: str, **values: Any) -> Attendee:
    nonce, token_hash = links.issue()
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


def _table(row: Base) -> Table:
    return cast(Table, row.__table__)  # every model here is mapped to a Table


def _values(row: Base) -> dict[str, Any]:
    """Every column of a new, unflushed ORM object (unset ones as NULL), read past the instrumentation."""
    state = vars(row)
    return {column.key: state.get(column.key) for column in _table(row).columns}


@functools.cache
def _write_statement(tables: tuple[Table, ...]) -> tuple[Executable, tuple[tuple[tuple[str, str], ...], ...]]:
    """The PostgreSQL write of the module docstring for one row of each table given, in that order.

    Returns the statement and, per row, its ``(parameter, column)`` names. Cached per shape: building costs
    more than running, and a booking has few shapes (its attendees and emails, with or without a key). One
    single-row INSERT per CTE, because SQLAlchemy caches the compiled form of those and not of multi-row VALUES.
    """
    ctes, parameters = [], []
    for n, table in enumerate(tables):
        values = {column.key: bindparam(f"r{n}_{column.key}", type_=column.type) for column in table.columns}
        ctes.append(insert(table).values(values).cte(f"{table.name}_{n}"))
        parameters.append(tuple((f"r{n}_{column.key}", column.key) for column in table.columns))
    return select(literal(True)).add_cte(*ctes), tuple(parameters)


async def _write_postgresql(session: AsyncSession, rows: Sequence[Base]) -> None:
    statement, names = _write_statement(tuple(_table(row) for row in rows))
    parameters: dict[str, Any] = {}
    for row, row_names in zip(rows, names, strict=True):
        state = vars(row)
        parameters.update((name, state.get(column)) for name, column in row_names)
    connection = await session.connection()
    await connection.execute(statement, parameters)


async def _write_sqlite(session: AsyncSession, rows: Sequence[Base]) -> None:
    """One INSERT per table, in the order of the rows (the attendees as one executemany)."""
    for _, same_table in itertools.groupby(rows, key=_table):
        batch = list(same_table)
        await session.execute(insert(_table(batch[0])), [_values(row) for row in batch])
