"""What the staff pages show of consultations the scheduling services returned: read in one query each.

A week of 200 consultations must render in well under 50 ms (issue 15, ``bench/pages.py``): attendees and
deliveries are read as plain rows of the columns shown (no ORM objects, no payloads), and dates and times
are formatted once per instant, zone and language (Babel takes a tenth of a millisecond per call).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_time
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor
from telecon.dates import babel_locale
from telecon.organizations.models import User
from telecon.outbox.models import EMAIL_PREFIX, OutboxMessage, Topic
from telecon.participants.models import Participant
from telecon.scheduling import availability
from telecon.scheduling.models import Attendee, AttendeeKind, Consultation
from telecon.scheduling.schemas import latest_deliveries
from telecon.waitlist import services as waitlist
from telecon.waitlist.services import EntryView


@dataclass(frozen=True, slots=True)
class AttendeeRow:
    kind: str
    name: str
    opened: str | None
    """When they first opened their link, as the reader reads times; ``None``: not yet."""
    delivery: str | None
    """The latest invitation's state (``pending``, ``sent``, ``failed``); ``None``: no email was written."""


@dataclass(slots=True)
class ConsultationRow:
    id: uuid.UUID
    day: str
    time: str
    local_date: str
    status: str
    participant: str
    specialist_available: bool
    booked_by_id: uuid.UUID | None
    attendees: list[AttendeeRow] = field(default_factory=list)


@dataclass(slots=True)
class Day:
    label: str
    is_today: bool
    rows: list[ConsultationRow] = field(default_factory=list)


@lru_cache(maxsize=8192)
def when(instant: datetime, zone: ZoneInfo, language: str) -> tuple[str, str]:
    """A short date and a time of an instant, in the reader's zone and language (remembered: pure, and slow)."""
    local = instant.astimezone(zone)
    locale = babel_locale(language)
    return format_date(local, "EEE, d. MMM" if language == "de" else "EEE, MMM d", locale=locale), format_time(
        local, "short", locale=locale
    )


@lru_cache(maxsize=8192)
def _moment(instant: datetime, zone: ZoneInfo, language: str) -> tuple[str, str, str]:
    """``when`` and the local date as ISO text, remembered."""
    return (*when(instant, zone, language), instant.astimezone(zone).date().isoformat())


async def consultation_rows(
    session: AsyncSession,
    found: Sequence[tuple[Consultation, bool]],
    *,
    zone: ZoneInfo,
    language: str,
    with_deliveries: bool,
) -> list[ConsultationRow]:
    """Rows for consultations a service already chose for the actor: attendees with their mail in one query.

    One query however many consultations (``tests/integration/test_page_weight.py`` counts them), on the
    session's connection: a plain Core statement skips the ORM's per-row work (bench/pages.py: it halves the
    time of a 200-consultation week). ``with_deliveries``: only for coaches and admins, who see every
    attendee's mail state through the API too.
    """
    ids = [c.id for c, _ in found]
    attendees: dict[uuid.UUID, dict[uuid.UUID, Any]] = defaultdict(dict)
    deliveries: dict[uuid.UUID, Any] = {}
    if ids:
        columns = [Attendee.id, Attendee.consultation_id, Attendee.kind, Attendee.name, Attendee.first_joined_at]
        query = select(*columns)
        if with_deliveries:
            mail = and_(
                OutboxMessage.attendee_id == Attendee.id,
                OutboxMessage.topic.startswith(EMAIL_PREFIX),
                # Only to spare rows (a reminder per attendee and day before): the rule is latest_deliveries'.
                OutboxMessage.topic != Topic.reminder,
            )
            query = select(
                *columns, OutboxMessage.attendee_id, OutboxMessage.topic, OutboxMessage.status, OutboxMessage.created_at
            ).outerjoin(OutboxMessage, mail)
        # The specialist's own row is shown nowhere in these tables.
        query = query.where(Attendee.consultation_id.in_(ids), Attendee.kind != AttendeeKind.specialist)
        connection = await session.connection()
        found_rows = list(await connection.execute(query.order_by(Attendee.kind, Attendee.name)))
        for row in found_rows:
            attendees[row.consultation_id].setdefault(row.id, row)
        if with_deliveries:
            deliveries = latest_deliveries(row for row in found_rows if row.attendee_id is not None)
    rows = []
    for consultation, available in found:
        day, time, local_date = _moment(consultation.starts_at, zone, language)
        people = list(attendees[consultation.id].values())
        participant = next((a.name for a in people if a.kind is AttendeeKind.participant), "")
        rows.append(
            ConsultationRow(
                id=consultation.id,
                day=day,
                time=time,
                local_date=local_date,
                status=consultation.status.value,
                participant=participant,
                specialist_available=available,
                booked_by_id=consultation.booked_by_id,
                attendees=[
                    AttendeeRow(
                        kind=a.kind.value,
                        name=a.name,
                        opened=" ".join(when(a.first_joined_at, zone, language)) if a.first_joined_at else None,
                        delivery=deliveries[a.id].status.value if a.id in deliveries else None,
                    )
                    for a in people
                ],
            )
        )
    return rows


# --- the waitlist (telecon/ui/waitlist.py, and the holds on a coach's home page) ---------------------


@dataclass(frozen=True, slots=True)
class WaitlistRow:
    id: uuid.UUID
    participant: str
    type_name: str
    profession: str
    language: str | None
    latest_date: str | None
    status: str
    held_when: str | None
    """The held slot's date and time in the reader's zone."""
    held_with: str | None
    held_until: str | None
    mine: bool


async def waitlist_rows(
    session: AsyncSession, actor: Actor, zone: ZoneInfo, views: Sequence[EntryView], language: str
) -> list[WaitlistRow]:
    """The entries as the page shows them: names looked up in three queries, times in the reader's zone."""
    people: dict[uuid.UUID, str] = dict(
        (
            await session.execute(
                select(Participant.id, Participant.display_name).where(
                    Participant.id.in_([v.entry.participant_id for v in views])
                )
            )
        ).all()
    )
    specialists: dict[uuid.UUID, str] = dict(
        (
            await session.execute(
                select(User.id, User.display_name).where(
                    User.id.in_([v.hold.specialist_id for v in views if v.hold is not None])
                )
            )
        ).all()
    )
    types = {t.id: t.name for t in await availability.list_consultation_types(session, actor)}
    rows = []
    for view in views:
        entry, hold = view.entry, view.hold
        held_when = held_until = None
        if hold is not None and entry.hold_expires_at is not None:
            held_when = " ".join(when(hold.starts_at, zone, language)[:2])
            held_until = " ".join(when(entry.hold_expires_at, zone, language)[:2])
        rows.append(
            WaitlistRow(
                id=entry.id,
                participant=people.get(entry.participant_id, "–"),
                type_name=types.get(entry.consultation_type_id, "–"),
                profession=entry.profession.value,
                language=entry.language,
                latest_date=entry.latest_date.isoformat() if entry.latest_date else None,
                status=entry.status.value,
                held_when=held_when,
                held_with=specialists.get(hold.specialist_id) if hold is not None else None,
                held_until=held_until,
                mine=entry.created_by_id == actor.user_id,
            )
        )
    return rows


async def held_rows(session: AsyncSession, actor: Actor, zone: ZoneInfo, language: str) -> list[WaitlistRow]:
    """The holds of the entries the signed-in coach added: the notice on their home page."""
    views = await waitlist.list_entries(session, actor, created_by_id=actor.user_id)
    return await waitlist_rows(session, actor, zone, [v for v in views if v.hold is not None], language)
