"""Reading a specialist's own calendar: busy intervals from CalDAV or an ICS URL, nothing else of the events.

Two halves. ``busy_intervals`` and ``freebusy_intervals`` are pure (iCalendar text in, UTC intervals out) and
tested without a network. ``read_busy`` does the HTTP:

- **CalDAV**: a ``calendar-query`` REPORT (RFC 4791 §7.8) for the VEVENTs touching the window, expanded here
  (recurrences, EXDATEs, moved instances). Only where the account may not read events (403) does it ask the
  ``free-busy-query`` REPORT (§7.10) instead. Events come first because only they keep an all-day event an
  all-day event: a server answering free/busy must turn floating times into instants itself, and Radicale,
  for one, takes them as UTC, which would block 01:00–01:00 in Berlin instead of the specialist's day.
- **ICS URL**: a GET of the whole calendar, expanded the same way.

What counts as busy: every VEVENT occurrence unless ``TRANSP:TRANSPARENT`` or ``STATUS:CANCELLED``. An all-day
event blocks whole days from local midnight in the specialist's zone; a floating time is read in that zone too.
Titles, descriptions, places and attendees are read past and never kept; a failure's message names what went
wrong with the server, never anything from the calendar.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import recurring_ical_events

from telecon.calendars.models import CalendarKind
from telecon.egress import NotPublic

Interval = tuple[datetime, datetime]

MAX_BYTES = 10 * 1024 * 1024
"""The largest answer read from a calendar server; a bigger calendar is reported as unreadable."""
MAX_OCCURRENCES = 20_000
"""Occurrences expanded per read at most (a rule repeating every few minutes would otherwise run away)."""
TIMEOUT = httpx.Timeout(20.0, connect=10.0)
DAV = "{DAV:}"
CALDAV = "{urn:ietf:params:xml:ns:caldav}"

REASONS = {
    "unauthorized": "the calendar server refused the user name or password (401)",
    "forbidden": "the calendar server refused access to this calendar (403)",
    "not_found": "there is no calendar at this URL (404)",
    "timeout": "the calendar server did not answer in time",
    "unreachable": "the calendar server could not be reached",
    "not_public": "the calendar's address is not on the public internet; telecon reads such a calendar only from a "
    "network the operator allows (TELECON_ALLOWED_PRIVATE_NETWORKS)",
    "too_large": f"the calendar is larger than {MAX_BYTES // (1024 * 1024)} MB",
    "too_many": f"the calendar has more than {MAX_OCCURRENCES} events in the coming weeks",
    "not_icalendar": "the calendar's data is not valid iCalendar",
    "bad_free_busy": "the calendar server's free/busy answer is not valid iCalendar",
    "bad_xml": "the calendar server's answer is not valid XML",
    "undecryptable": "the calendar's stored address or password cannot be decrypted any more: connect the "
    "calendar again",
}
"""Why a calendar could not be read, by code. The English text is stored and answered (``last_error``); the
availability page shows it in the reader's language by its code (``reason_of``)."""
ANSWERED = "the calendar server answered {status}"
"""Any other HTTP status."""


def reason_of(message: str) -> tuple[str, dict[str, str]] | None:
    """The code and values of a stored reason, e.g. ``("answered", {"status": "502"})``; ``None`` for another text
    (one stored by an older version)."""
    for code, text in REASONS.items():
        if message == text:
            return code, {}
    answered = re.fullmatch(ANSWERED.format(status=r"(\d{3})"), message)
    if answered is not None:
        return "answered", {"status": answered.group(1)}
    return None


class Unreadable(Exception):
    """The calendar could not be read, for a reason of ``REASONS`` (or ``ANSWERED``). The message is shown to the
    specialist and may be logged: it says what went wrong with the server or the data, never what the calendar
    holds."""


@dataclass(frozen=True, slots=True)
class Access:
    """Where and how to read one calendar; the password in plain text only for the length of a read."""

    kind: CalendarKind
    url: str
    username: str | None
    password: str | None

    def auth(self) -> httpx.BasicAuth | None:
        if self.username is None:
            return None
        return httpx.BasicAuth(self.username, self.password or "")


# --- pure: iCalendar text -> intervals -----------------------------------------------------------------


def _instant(value: date | datetime, zone: ZoneInfo) -> datetime:
    """A DTSTART/DTEND value as UTC: a date is local midnight, a floating time is local, in ``zone``."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(0), tzinfo=zone).astimezone(UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=zone).astimezone(UTC)
    return value.astimezone(UTC)


def _end(event: Any, start: date | datetime) -> date | datetime:
    """DTEND, else DTSTART + DURATION, else (RFC 5545 §3.6.1) one day for a date and no time for a time."""
    if "DTEND" in event:
        end: date | datetime = event["DTEND"].dt
        return end
    if "DURATION" in event:
        duration: timedelta = event["DURATION"].dt
        return start + duration
    return start if isinstance(start, datetime) else start + timedelta(days=1)


def blocks(event: Any) -> bool:
    """Whether an occurrence makes the specialist busy: not transparent, not cancelled."""
    transparency = str(event.get("TRANSP", "OPAQUE")).upper()
    status = str(event.get("STATUS", "CONFIRMED")).upper()
    return transparency != "TRANSPARENT" and status != "CANCELLED"


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def _clipped(intervals: Iterable[Interval], start: datetime, end: datetime) -> list[Interval]:
    return merge((max(lo, start), min(hi, end)) for lo, hi in intervals if lo < end and hi > start and lo < hi)


def busy_intervals(texts: Iterable[str | bytes], start: datetime, end: datetime, zone: ZoneInfo) -> list[Interval]:
    """The busy time in ``[start, end)`` of one or more iCalendar documents, merged, in UTC.

    ``zone``: the specialist's, for all-day events and floating times. Raises ``Unreadable`` for data that is
    not iCalendar or holds more than ``MAX_OCCURRENCES`` occurrences in the window.
    """
    found: list[Interval] = []
    # All-day events sit on local dates: widen the query by a day each side, then clip to the window.
    query_start, query_end = start - timedelta(days=1), end + timedelta(days=1)
    for text in texts:
        try:
            calendar = icalendar.Calendar.from_ical(text)
            occurrences = recurring_ical_events.of(calendar, components=["VEVENT"]).between(query_start, query_end)
            for count, event in enumerate(occurrences):
                if count >= MAX_OCCURRENCES:
                    raise Unreadable(REASONS["too_many"])
                if "DTSTART" not in event or not blocks(event):
                    continue
                first = event["DTSTART"].dt
                found.append((_instant(first, zone), _instant(_end(event, first), zone)))
        except Unreadable:
            raise
        except Exception:
            # Whatever the parser or the expansion trips over, the message must not quote the data.
            raise Unreadable(REASONS["not_icalendar"]) from None
        if len(found) > MAX_OCCURRENCES:
            raise Unreadable(REASONS["too_many"])
    return _clipped(found, start, end)


def freebusy_intervals(text: str | bytes, start: datetime, end: datetime) -> list[Interval]:
    """The busy periods of a ``free-busy-query`` answer (VFREEBUSY ``FREEBUSY`` values; ``FBTYPE=FREE`` is not)."""
    found: list[Interval] = []
    try:
        calendar = icalendar.Calendar.from_ical(text)
        for component in calendar.walk("VFREEBUSY"):
            values = component.get("FREEBUSY", [])
            for prop in values if isinstance(values, list) else [values]:
                if str(prop.params.get("FBTYPE", "BUSY")).upper() == "FREE":
                    continue
                periods = prop.dt if isinstance(prop.dt, list) else [prop.dt]
                for lo, hi in periods:
                    upper = lo + hi if isinstance(hi, timedelta) else hi
                    found.append((_instant(lo, ZoneInfo("UTC")), _instant(upper, ZoneInfo("UTC"))))
    except Exception:
        raise Unreadable(REASONS["bad_free_busy"]) from None
    return _clipped(found, start, end)


def calendar_data(multistatus: bytes) -> list[str]:
    """The ``calendar-data`` of every resource in a WebDAV multistatus answer."""
    try:
        # Expat >= 2.4 refuses entity amplification, and the answer is capped at MAX_BYTES.
        root = ET.fromstring(multistatus)  # noqa: S314
    except ET.ParseError:
        raise Unreadable(REASONS["bad_xml"]) from None
    return [element.text or "" for element in root.iter(f"{CALDAV}calendar-data")]


# --- HTTP ----------------------------------------------------------------------------------------------


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar_query(start: datetime, end: datetime) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        "<D:prop><C:calendar-data/></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{_utc_text(start)}" end="{_utc_text(end)}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def free_busy_query(start: datetime, end: datetime) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f'<C:time-range start="{_utc_text(start)}" end="{_utc_text(end)}"/>'
        "</C:free-busy-query>"
    )


def _refusal(status: int) -> str:
    named = {401: "unauthorized", 403: "forbidden", 404: "not_found"}
    return REASONS[named[status]] if status in named else ANSWERED.format(status=status)


async def _request(client: httpx.AsyncClient, access: Access, method: str, **kwargs: Any) -> tuple[int, bytes]:
    """The status and (capped) body of one request; network trouble raises ``Unreadable``."""
    try:
        request = client.build_request(method, access.url, timeout=TIMEOUT, **kwargs)
        response = await client.send(request, auth=access.auth() or httpx.USE_CLIENT_DEFAULT, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise Unreadable(REASONS["too_large"])
        finally:
            await response.aclose()
    except NotPublic:
        raise Unreadable(REASONS["not_public"]) from None
    except httpx.TimeoutException:
        raise Unreadable(REASONS["timeout"]) from None
    except httpx.HTTPError:
        raise Unreadable(REASONS["unreachable"]) from None
    return response.status_code, bytes(body)


async def read_busy(
    client: httpx.AsyncClient, access: Access, start: datetime, end: datetime, zone: ZoneInfo
) -> list[Interval]:
    """The busy intervals of the calendar in ``[start, end)``; ``Unreadable`` when it cannot be read."""
    if access.kind is CalendarKind.ics:
        status, body = await _request(client, access, "GET", headers={"Accept": "text/calendar"})
        if status != 200:
            raise Unreadable(_refusal(status))
        return busy_intervals([body], start, end, zone)
    headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    status, body = await _request(client, access, "REPORT", headers=headers, content=calendar_query(start, end))
    if status == 207:
        return busy_intervals(calendar_data(body), start, end, zone)
    if status != 403:
        raise Unreadable(_refusal(status))
    # The account may see only free/busy (a shared calendar, say): ask for that.
    status, body = await _request(client, access, "REPORT", headers=headers, content=free_busy_query(start, end))
    if status != 200:
        raise Unreadable(_refusal(status))
    return freebusy_intervals(body, start, end)
