"""The waitlist and its holds.

How a slot reaches a waiting participant:

1. A coach adds an entry: participant, consultation type, profession, optionally a language and a latest day.
2. ``offer`` walks the entries still waiting, oldest first across all organizations, and looks for each one's
   earliest free slot with ``scheduling.services.read_slots``, the search coaches use (same rules, same busy time,
   other holds included), among the organization's specialists of that profession. The search starts at the end of
   the hold, so the slot still has its minimum notice when the coach confirms. A slot found becomes a hold (a
   ``consultation`` row with status ``held``: the exclusion constraint and every slot search see it) and an email
   to the coach; the coach's home page shows it too.
3. The coach confirms (the hold is removed and the slot booked by ``book_consultation`` in the same transaction,
   with every check of an ordinary booking), withdraws the entry, or lets the hold run out: ``sweep`` then ends the
   entry as ``expired`` and offers the slot to the next.

``sweep`` runs every minute in the worker (and in-process without Redis): holds past their time, entries past their
latest day, then ``offer``. So a slot freed by a cancellation, a reschedule or new hours reaches the first matching
entry within a minute, and a new entry is offered a free slot at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor
from telecon.audit import services as audit
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations.models import Organization, Profession
from telecon.outbox import messages as outbox
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind
from telecon.scheduling import booking
from telecon.scheduling import services as scheduling
from telecon.scheduling.availability import get_consultation_type
from telecon.scheduling.links import new_room_name
from telecon.scheduling.models import Consultation, ConsultationStatus, ConsultationType
from telecon.scheduling.services import BOOKERS, SchedulingPolicy, Slot, lost_race, type_allows
from telecon.waitlist.models import OPEN_STATUSES, WaitlistEntry, WaitlistStatus

LATEST_DATE_HORIZON = timedelta(days=731)
"""How far ahead a latest date may lie (a year 9999 would overflow the search's end)."""
LATEST_DATE_TOO_FAR = "the latest date may be at most two years ahead"
NOT_HELD = "no slot is held for this entry"
HOLD_RAN_OUT = "the hold has run out; the slot may be offered to someone else"
HOLD_ATTEMPTS = 3
"""Slots one entry tries in a row when a booking takes each one between the search and the hold (PostgreSQL)."""


@dataclass(frozen=True, slots=True)
class EntryView:
    entry: WaitlistEntry
    hold: Consultation | None
    """The held slot while the entry's status is ``held``."""


# --- what coaches do ---------------------------------------------------------------------------------


async def add_entry(
    session: AsyncSession,
    actor: Actor,
    policy: SchedulingPolicy,
    *,
    participant_id: uuid.UUID,
    consultation_type_id: uuid.UUID,
    profession: Profession,
    language: str | None,
    latest_date: date | None,
    now: datetime,
) -> EntryView:
    """Put a participant on the waitlist; a free slot that fits is held for them at once."""
    actor.require(*BOOKERS)
    await participants.get_participant(session, actor, participant_id)
    consultation_type = await get_consultation_type(session, actor.organization_id, consultation_type_id)
    if not type_allows(consultation_type.professions, profession):
        raise InvalidInput("this consultation type does not allow this profession", field="profession")
    if latest_date is not None:
        today = await _today(session, actor.organization_id, now)
        if latest_date < today:
            raise InvalidInput("the latest date has passed", field="latest_date")
        if latest_date > today + LATEST_DATE_HORIZON:
            raise InvalidInput(LATEST_DATE_TOO_FAR, field="latest_date")
    if ConsentKind.video_consultation not in await participants.active_consents(session, participant_id):
        raise Conflict("the participant has not consented to video consultations", field="participant_id")
    waiting = await session.scalar(
        select(WaitlistEntry.id).where(
            WaitlistEntry.organization_id == actor.organization_id,
            WaitlistEntry.participant_id == participant_id,
            WaitlistEntry.consultation_type_id == consultation_type_id,
            WaitlistEntry.status.in_(OPEN_STATUSES),
        )
    )
    if waiting is not None:
        raise Conflict("the participant is already waiting for this consultation type", field="participant_id")
    entry = WaitlistEntry(
        id=uuid.uuid4(),
        organization_id=actor.organization_id,
        participant_id=participant_id,
        consultation_type_id=consultation_type_id,
        profession=profession,
        language=language,
        latest_date=latest_date,
        created_by_id=actor.user_id,
        status=WaitlistStatus.waiting,
        created_at=now,
    )
    session.add(entry)
    audit.record(session, actor, "waitlist.added", "waitlist_entry", entry.id, participant_id=str(participant_id))
    await session.flush()
    await offer(session, policy, now=now, entry_ids=[entry.id])
    return await get_entry(session, actor, entry.id)


async def list_entries(
    session: AsyncSession,
    actor: Actor,
    *,
    open_only: bool = True,
    created_by_id: uuid.UUID | None = None,
    participant_id: uuid.UUID | None = None,
) -> list[EntryView]:
    """The organization's entries in queue order (oldest first), each with its hold."""
    actor.require(*BOOKERS)
    query = (
        select(WaitlistEntry, Consultation)
        .outerjoin(Consultation, Consultation.id == WaitlistEntry.hold_id)
        .where(WaitlistEntry.organization_id == actor.organization_id)
        .order_by(WaitlistEntry.created_at, WaitlistEntry.id)
        .limit(scheduling.LIST_LIMIT)
    )
    if open_only:
        query = query.where(WaitlistEntry.status.in_(OPEN_STATUSES))
    if created_by_id is not None:
        query = query.where(WaitlistEntry.created_by_id == created_by_id)
    if participant_id is not None:
        query = query.where(WaitlistEntry.participant_id == participant_id)
    return [EntryView(entry, hold) for entry, hold in await session.execute(query)]


async def get_entry(session: AsyncSession, actor: Actor, entry_id: uuid.UUID) -> EntryView:
    actor.require(*BOOKERS)
    row = (
        await session.execute(
            select(WaitlistEntry, Consultation)
            .outerjoin(Consultation, Consultation.id == WaitlistEntry.hold_id)
            .where(WaitlistEntry.id == entry_id, WaitlistEntry.organization_id == actor.organization_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such waitlist entry", field="entry_id")
    return EntryView(*row)


async def withdraw(session: AsyncSession, actor: Actor, entry_id: uuid.UUID, *, now: datetime) -> EntryView:
    """Take a participant off the waitlist; a slot held for them is free again at once."""
    entry = await _lock(session, actor, entry_id)
    if entry.status not in OPEN_STATUSES:
        raise Conflict(f"the entry is already {entry.status.value}", field="entry_id")
    await _release(session, entry, WaitlistStatus.withdrawn, now=now)
    audit.record(session, actor, "waitlist.withdrawn", "waitlist_entry", entry.id)
    await session.flush()
    return await get_entry(session, actor, entry.id)


async def confirm(
    session: AsyncSession,
    actor: Actor,
    policy: SchedulingPolicy,
    entry_id: uuid.UUID,
    *,
    purpose: str | None,
    invite_coach: bool,
    now: datetime,
) -> booking.Booking:
    """Book the held slot: the hold makes way for the booking in one transaction, with all of a booking's checks."""
    entry = await _lock(session, actor, entry_id)
    if entry.status is not WaitlistStatus.held or entry.hold_id is None:
        raise Conflict(NOT_HELD, field="entry_id")
    if entry.hold_expires_at is not None and entry.hold_expires_at <= now:
        raise Conflict(HOLD_RAN_OUT, field="entry_id")
    hold = await session.get_one(Consultation, entry.hold_id)
    slot = (hold.specialist_id, hold.consultation_type_id, hold.starts_at)
    await _drop_hold(session, hold.id)
    booked = await booking.book_consultation(
        session,
        actor,
        policy,
        participant_id=entry.participant_id,
        specialist_id=slot[0],
        consultation_type_id=slot[1],
        starts_at=slot[2],
        purpose=purpose,
        invite_coach=invite_coach,
        now=now,  # the slot was offered with its minimum notice counted from the hold's end: it still has it
    )
    entry.status, entry.hold_id, entry.hold_expires_at = WaitlistStatus.booked, None, None
    entry.consultation_id, entry.ended_at = booked.view.consultation.id, now
    audit.record(
        session,
        actor,
        "waitlist.confirmed",
        "waitlist_entry",
        entry.id,
        consultation_id=str(booked.view.consultation.id),
    )
    await session.flush()
    return booked


async def _lock(session: AsyncSession, actor: Actor, entry_id: uuid.UUID) -> WaitlistEntry:
    actor.require(*BOOKERS)
    entry = await session.scalar(
        select(WaitlistEntry)
        .where(WaitlistEntry.id == entry_id, WaitlistEntry.organization_id == actor.organization_id)
        .with_for_update()
    )
    if entry is None:
        raise NotFound("no such waitlist entry", field="entry_id")
    return entry


async def _release(session: AsyncSession, entry: WaitlistEntry, status: WaitlistStatus, *, now: datetime) -> None:
    """End an open entry; its hold, if any, is deleted (with the offer's email if that is still pending)."""
    if entry.hold_id is not None:
        await _drop_hold(session, entry.hold_id)
    entry.status, entry.hold_id, entry.hold_expires_at, entry.ended_at = status, None, None, now


async def _drop_hold(session: AsyncSession, hold_id: uuid.UUID) -> None:
    """Delete a hold's row. Its offer email stays on record, detached from the row: void if not sent yet."""
    offers = OutboxMessage.consultation_id == hold_id
    await session.execute(
        update(OutboxMessage)
        .where(offers, OutboxMessage.status == OutboxStatus.pending)
        .values(status=OutboxStatus.void, last_error="the hold ended")
    )
    await session.execute(update(OutboxMessage).where(offers).values(consultation_id=None))
    await session.execute(
        delete(Consultation).where(Consultation.id == hold_id, Consultation.status == ConsultationStatus.held)
    )


# --- what the worker does ----------------------------------------------------------------------------


async def sweep(session: AsyncSession, policy: SchedulingPolicy, *, now: datetime) -> dict[str, int]:
    """End holds past their time and entries past their latest day, then offer free slots (module docstring)."""
    lapsed = list(
        await session.scalars(
            _queue(session).where(WaitlistEntry.status == WaitlistStatus.held, WaitlistEntry.hold_expires_at <= now)
        )
    )
    for entry in lapsed:
        await _release(session, entry, WaitlistStatus.expired, now=now)
        audit.record(
            session, None, "waitlist.hold_expired", "waitlist_entry", entry.id, organization_id=entry.organization_id
        )
    late = 0
    for entry, zone in await session.execute(
        _queue(session)
        .add_columns(Organization.timezone)
        .join(Organization, Organization.id == WaitlistEntry.organization_id)
        .where(WaitlistEntry.status == WaitlistStatus.waiting, WaitlistEntry.latest_date.is_not(None))
    ):
        if entry.latest_date is not None and entry.latest_date < now.astimezone(ZoneInfo(zone)).date():
            await _release(session, entry, WaitlistStatus.expired, now=now)
            late += 1
    await session.flush()
    held = await offer(session, policy, now=now)
    return {"holds_expired": len(lapsed), "entries_past_latest_date": late, "holds_made": held}


async def offer(
    session: AsyncSession, policy: SchedulingPolicy, *, now: datetime, entry_ids: Sequence[uuid.UUID] | None = None
) -> int:
    """Hold the earliest fitting free slot for each waiting entry, oldest entry first; returns the holds made."""
    query = _queue(session).where(WaitlistEntry.status == WaitlistStatus.waiting)
    if entry_ids is not None:
        query = query.where(WaitlistEntry.id.in_(entry_ids))
    entries = list(await session.scalars(query))
    nothing_for: set[tuple[object, ...]] = set()
    made = 0
    for entry in entries:
        # Entries asking the same found nothing before: the holds since only took more time away.
        wish = (entry.organization_id, entry.consultation_type_id, entry.profession, entry.language, entry.latest_date)
        if wish in nothing_for:
            continue
        if await _hold_first_slot(session, policy, entry, now=now):
            made += 1
        else:
            nothing_for.add(wish)
    return made


def _queue(session: AsyncSession) -> Select[WaitlistEntry]:
    """Entries oldest first, locked; on PostgreSQL a second sweep skips what the first one holds."""
    query = select(WaitlistEntry).order_by(WaitlistEntry.created_at, WaitlistEntry.id)
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(of=WaitlistEntry, skip_locked=True)
    return query


async def _hold_first_slot(
    session: AsyncSession, policy: SchedulingPolicy, entry: WaitlistEntry, *, now: datetime
) -> bool:
    organization = await session.get_one(Organization, entry.organization_id)
    zone = ZoneInfo(organization.timezone)
    # The search starts when the hold would run out: whatever it offers can still be booked then.
    offered_until = now + policy.hold_for
    start = offered_until + policy.min_notice
    end = start + policy.max_search_span
    if entry.latest_date is not None:
        after_latest = datetime.combine(entry.latest_date + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        end = min(end, after_latest)
    if end <= start:
        return False
    try:
        search = await scheduling.read_slots(
            session,
            entry.organization_id,
            policy,
            consultation_type_id=entry.consultation_type_id,
            start=start,
            end=end,
            profession=entry.profession,
            language=entry.language,
            now=offered_until,
        )
    except NotFound:
        return False  # the consultation type is gone; the entry waits for a person to look at it
    for slot in search.slots()[:HOLD_ATTEMPTS]:
        if await _hold(session, policy, entry, slot, now=now, until=offered_until):
            return True
    return False


async def _hold(
    session: AsyncSession,
    policy: SchedulingPolicy,
    entry: WaitlistEntry,
    slot: Slot,
    *,
    now: datetime,
    until: datetime,
) -> bool:
    """Hold ``slot`` for ``entry``; ``False`` when a booking took it since the search (PostgreSQL's constraint)."""
    consultation_type = await session.get_one(ConsultationType, entry.consultation_type_id)
    hold = Consultation(
        id=uuid.uuid4(),
        organization_id=entry.organization_id,
        participant_id=entry.participant_id,
        specialist_id=slot.specialist_id,
        booked_by_id=entry.created_by_id,
        consultation_type_id=entry.consultation_type_id,
        starts_at=slot.start,
        ends_at=slot.end,
        blocked_until=slot.end + timedelta(minutes=consultation_type.buffer_minutes),
        status=ConsultationStatus.held,
        purpose=None,
        room_name=new_room_name(),
        sequence=0,
        cancel_reason=None,
        created_at=now,
        updated_at=now,
    )
    if session.get_bind().dialect.name == "postgresql":
        # A booking may have taken the slot since the search: the exclusion constraint refuses the hold then,
        # and only the savepoint is rolled back. (SQLite holds the write lock since the search: no race.)
        try:
            async with session.begin_nested():
                session.add(hold)
                await session.flush()
        except DBAPIError as error:
            if lost_race(error):
                return False
            raise
    else:
        session.add(hold)
        await session.flush()
    entry.status, entry.hold_id, entry.hold_expires_at = WaitlistStatus.held, hold.id, until
    if entry.created_by_id is not None:
        session.add(
            outbox.message(
                organization_id=entry.organization_id,
                consultation_id=hold.id,
                user_id=entry.created_by_id,
                topic=Topic.waitlist_offer,
                dedupe_key=f"{Topic.waitlist_offer}:{hold.id}",
                now=now,
                payload={"hold_expires_at": until.isoformat()},
            )
        )
    audit.record(
        session,
        None,
        "waitlist.slot_held",
        "waitlist_entry",
        entry.id,
        organization_id=entry.organization_id,
        consultation_id=str(hold.id),
        specialist_id=str(slot.specialist_id),
        starts_at=slot.start.isoformat(),
        hold_expires_at=until.isoformat(),
    )
    await session.flush()
    return True


async def _today(session: AsyncSession, organization_id: uuid.UUID, now: datetime) -> date:
    organization = await session.get_one(Organization, organization_id)
    return now.astimezone(ZoneInfo(organization.timezone)).date()


def holds_for_coach(views: Sequence[EntryView], user_id: uuid.UUID) -> list[EntryView]:
    """The holds a coach's home page shows: those of the entries they added."""
    return [v for v in views if v.hold is not None and v.entry.created_by_id == user_id]
