"""A specialist's own calendar: connect, show, disconnect, and the sync that turns it into busy periods.

A sync reads the calendar outside any transaction (``telecon.calendars.fetch``), then, in one short transaction
that locks the source row, either replaces all of the source's busy periods (the read succeeded) or records
the error and keeps the old ones (it did not): a calendar that cannot be read never frees time silently.
The worker syncs every source whose last attempt is ``TELECON_CALENDAR_SYNC_MINUTES`` old; the specialist can
sync at once. Slot search, booking and rescheduling read the periods (``telecon.scheduling.services``).

Nothing of the calendar but intervals is stored, and nothing of it is logged: a failure is logged by the
source's id and ``fetch.Unreadable``'s message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
from cryptography.exceptions import InvalidTag
from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor
from telecon.audit import services as audit
from telecon.calendars import fetch
from telecon.calendars.models import BusyPeriod, CalendarKind, CalendarSource
from telecon.crypto import KeyRing, UnknownKey
from telecon.egress import IPNetwork, addressable, public_client
from telecon.errors import InvalidInput, NotFound
from telecon.organizations import services as organizations
from telecon.organizations.models import User
from telecon.rotation import Sealed

log = logging.getLogger(__name__)

READ_BEFORE = timedelta(days=1)
READ_AHEAD = timedelta(weeks=13)
"""The window a sync reads, from ``now - READ_BEFORE``: longer than any slot search reaches."""
CONCURRENT_READS = 8
"""Calendars the worker reads at once; one slow server then holds up no other."""


def associated(source_id: uuid.UUID) -> bytes:
    """Binds the password's ciphertext to its source: copied onto another row it does not decrypt."""
    return f"calendar_source:{source_id}".encode()


def url_associated(source_id: uuid.UUID) -> bytes:
    """Binds the URL's ciphertext to its source, and apart from the password's."""
    return f"calendar_source:{source_id}:url".encode()


SEALED_PASSWORDS = Sealed(CalendarSource, "password_ciphertext", "password_key_id", associated)
"""For key rotation (``telecon reencrypt-notes``): calendar passwords move to the current key like clinical notes."""
SEALED_URLS = Sealed(CalendarSource, "url_ciphertext", "url_key_id", url_associated)
"""And the calendars' URLs with them."""


def shown_url(url: str) -> str:
    """What of a calendar URL may be shown: scheme, host and port, and ``/…`` for the rest, where an ICS link's
    private token lives (``https://calendar.example/private-3f9a…/basic.ics`` → ``https://calendar.example/…``)."""
    parts = urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"


def check_url(url: str) -> str:
    """An http(s) URL with a host and no credentials in it (those go in ``username`` and ``password``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidInput("the URL must start with http:// or https://", field="url")
    if not parts.hostname or not addressable(url):
        raise InvalidInput("the URL needs a valid host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("put the user name and password in their own fields, not in the URL", field="url")
    return url


# --- connect, show, disconnect -------------------------------------------------------------------------


async def connect(
    session: AsyncSession,
    actor: Actor,
    keys: KeyRing,
    specialist_id: uuid.UUID,
    *,
    kind: CalendarKind,
    url: str,
    username: str | None,
    password: str | None,
    now: datetime,
) -> CalendarSource:
    """Connect the specialist's calendar, replacing one connected before (and its busy periods).

    The new source is read by the next sync (at once with ``sync_now``); until then its calendar blocks nothing.
    """
    specialist = await organizations.own_specialist(session, actor, specialist_id)
    check_url(url)
    if password and not username:
        raise InvalidInput("a password needs a user name", field="username")
    # A new row, not an update: a sync still reading the old calendar finds its row gone and writes nothing.
    await session.execute(delete(CalendarSource).where(CalendarSource.specialist_id == specialist.id))
    source_id = uuid.uuid4()
    key_id, ciphertext = keys.encrypt(password, associated=associated(source_id)) if password else (None, None)
    url_key_id, url_ciphertext = keys.encrypt(url, associated=url_associated(source_id))
    source = CalendarSource(
        id=source_id,
        specialist_id=specialist.id,
        kind=kind,
        shown_url=shown_url(url),
        url_ciphertext=url_ciphertext,
        url_key_id=url_key_id,
        username=username or None,
        password_ciphertext=ciphertext,
        password_key_id=key_id,
        created_at=now,
        last_synced_at=None,
        last_error=None,
        last_error_at=None,
    )
    session.add(source)
    await session.flush()
    # The URL can carry a private token (many ICS links do): the audit names only the kind, the row keeps it sealed.
    audit.record(session, actor, "calendar.connected", "user", specialist.id, kind=kind.value)
    return source


@dataclass(frozen=True, slots=True)
class CalendarStatus:
    source: CalendarSource | None
    busy_ahead: int
    """Busy periods from now on (their count only; the times themselves are the specialist's)."""


async def calendar_status(
    session: AsyncSession, actor: Actor, specialist_id: uuid.UUID, *, now: datetime
) -> CalendarStatus:
    specialist = await organizations.own_specialist(session, actor, specialist_id)
    source = await session.scalar(select(CalendarSource).where(CalendarSource.specialist_id == specialist.id))
    if source is None:
        return CalendarStatus(None, 0)
    busy_ahead = await session.scalar(
        select(func.count()).where(BusyPeriod.source_id == source.id, BusyPeriod.ends_at > now)
    )
    return CalendarStatus(source, int(busy_ahead or 0))


async def _own_source(session: AsyncSession, actor: Actor, specialist_id: uuid.UUID) -> CalendarSource:
    specialist = await organizations.own_specialist(session, actor, specialist_id)
    source = await session.scalar(select(CalendarSource).where(CalendarSource.specialist_id == specialist.id))
    if source is None:
        raise NotFound("no calendar is connected", field="specialist_id")
    return source


async def disconnect(session: AsyncSession, actor: Actor, specialist_id: uuid.UUID) -> None:
    """Disconnect the calendar: its busy periods go with it (the foreign key cascades)."""
    source = await _own_source(session, actor, specialist_id)
    await session.execute(delete(BusyPeriod).where(BusyPeriod.source_id == source.id))
    await session.execute(delete(CalendarSource).where(CalendarSource.id == source.id))
    audit.record(session, actor, "calendar.disconnected", "user", source.specialist_id)


# --- sync ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reading:
    """What one sync needs of its source, taken out of the session so that the read holds no transaction."""

    source_id: uuid.UUID
    specialist_id: uuid.UUID
    zone: ZoneInfo
    access: fetch.Access | None
    error: str | None = None
    """Set when the source cannot even be tried (its URL or password does not decrypt)."""


def reading_of(source: CalendarSource, timezone: str, keys: KeyRing) -> Reading:
    password = None
    try:
        url = keys.decrypt(source.url_key_id, source.url_ciphertext, associated=url_associated(source.id))
        if source.password_ciphertext is not None:
            password = keys.decrypt(
                source.password_key_id or "(none)", source.password_ciphertext, associated=associated(source.id)
            )
    except (UnknownKey, InvalidTag):
        return Reading(source.id, source.specialist_id, ZoneInfo(timezone), None, fetch.REASONS["undecryptable"])
    access = fetch.Access(source.kind, url, source.username, password)
    return Reading(source.id, source.specialist_id, ZoneInfo(timezone), access)


async def sync_target(session: AsyncSession, actor: Actor, keys: KeyRing, specialist_id: uuid.UUID) -> Reading:
    """The acting specialist's own source, ready to read (``sync_now``'s first half)."""
    source = await _own_source(session, actor, specialist_id)
    specialist = await session.get_one(User, source.specialist_id)
    return reading_of(source, specialist.timezone, keys)


async def read(client: httpx.AsyncClient, reading: Reading, *, now: datetime) -> list[fetch.Interval] | str:
    """The busy intervals of the window, or why the calendar could not be read. No transaction is open."""
    if reading.access is None:
        return reading.error or fetch.REASONS["undecryptable"]
    try:
        return await fetch.read_busy(client, reading.access, now - READ_BEFORE, now + READ_AHEAD, reading.zone)
    except fetch.Unreadable as error:
        return str(error)


async def record(
    session: AsyncSession, reading: Reading, outcome: Sequence[fetch.Interval] | str, *, now: datetime
) -> bool:
    """Store a read's outcome in the session's transaction; ``False`` when the source went meanwhile.

    Success replaces every busy period of the source; failure records the error and keeps them.
    """
    source = await session.scalar(
        select(CalendarSource).where(CalendarSource.id == reading.source_id).with_for_update()
    )
    if source is None:
        return False
    if isinstance(outcome, str):
        source.last_error, source.last_error_at = outcome[:500], now
        log.warning("calendar source %s could not be read: %s", source.id, outcome)
        return True
    await session.execute(delete(BusyPeriod).where(BusyPeriod.source_id == source.id))
    if outcome:
        await session.execute(
            insert(BusyPeriod),
            [
                {
                    "id": uuid.uuid4(),
                    "source_id": source.id,
                    "specialist_id": source.specialist_id,
                    "starts_at": lo,
                    "ends_at": hi,
                }
                for lo, hi in outcome
            ],
        )
    source.last_synced_at, source.last_error, source.last_error_at = now, None, None
    return True


def http_client(private_networks: Sequence[IPNetwork]) -> httpx.AsyncClient:
    """The client a sync reads calendars with: public addresses only, and those in the networks the operator
    allows (``telecon.egress``); redirects followed (an ICS link often moves to https), each checked again."""
    return public_client(private_networks, follow_redirects=True, max_redirects=5, timeout=fetch.TIMEOUT)


async def sync_one(
    sessionmaker: async_sessionmaker[AsyncSession],
    keys: KeyRing,
    client: httpx.AsyncClient,
    source_id: uuid.UUID,
    *,
    now: datetime,
) -> bool:
    """Read one source and record the outcome; ``True`` when it was read."""
    async with sessionmaker() as session, session.begin():
        row = (
            await session.execute(
                select(CalendarSource, User.timezone)
                .join(User, User.id == CalendarSource.specialist_id)
                .where(CalendarSource.id == source_id)
            )
        ).first()
        if row is None:
            return False
        reading = reading_of(row[0], row[1], keys)
    outcome = await read(client, reading, now=now)
    async with sessionmaker() as session, session.begin():
        await record(session, reading, outcome, now=now)
    return not isinstance(outcome, str)


async def sync_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    keys: KeyRing,
    *,
    now: datetime,
    every: timedelta,
    private_networks: Sequence[IPNetwork] = (),
) -> dict[str, int]:
    """Sync every source not tried for ``every``: the worker's job. Returns how many were read and failed.

    ``private_networks``: non-public networks whose calendar servers may be read (``http_client``)."""
    cutoff = now - every
    async with sessionmaker() as session:
        due = list(
            await session.scalars(
                select(CalendarSource.id).where(
                    and_(
                        or_(CalendarSource.last_synced_at.is_(None), CalendarSource.last_synced_at <= cutoff),
                        or_(CalendarSource.last_error_at.is_(None), CalendarSource.last_error_at <= cutoff),
                    )
                )
            )
        )
    if not due:
        return {"read": 0, "failed": 0}
    limit = asyncio.Semaphore(CONCURRENT_READS)

    async def one(source_id: uuid.UUID) -> bool:
        async with limit:
            return await sync_one(sessionmaker, keys, client, source_id, now=now)

    async with http_client(private_networks) as client:
        results = await asyncio.gather(*(one(source_id) for source_id in due), return_exceptions=True)
    failed = 0
    for source_id, result in zip(due, results, strict=True):
        if isinstance(result, BaseException):
            log.error("calendar source %s: the sync failed", source_id, exc_info=result)
        if result is not True:
            failed += 1
    return {"read": len(due) - failed, "failed": failed}
