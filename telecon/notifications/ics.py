"""Calendar entries (RFC 5545) built with ``icalendar``: iTIP invitations and cancellations, and feeds.

One consultation is one event for its whole life: its UID never changes and its SEQUENCE is the
consultation's, raised on every change, so a calendar updates the entry in place (METHOD:REQUEST) or
removes it (METHOD:CANCEL with STATUS:CANCELLED). Times are in UTC; the summary and the description
hold no personal or health data: the consultation type's neutral name, the organization and the link.

    >>> event = Event(uid="c0ffee@telecon.example", sequence=1, starts_at=datetime(2027, 3, 1, 8, tzinfo=UTC),
    ...               ends_at=datetime(2027, 3, 1, 9, tzinfo=UTC), summary="Beratung", description="",
    ...               url="https://telecon.example/join/t0ken", organizer=("telecon", "no-reply@telecon.example"),
    ...               attendee=("Maria", "maria@example.org"), cancelled=False, stamp=datetime(2027, 2, 1, tzinfo=UTC))
    >>> text = itip("REQUEST", event).decode()
    >>> "METHOD:REQUEST" in text and "SEQUENCE:1" in text and "DTSTART:20270301T080000Z" in text
    True
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import icalendar

PRODID = "-//telecon//video consultations//EN"

__all__ = ["UTC", "Event", "consultation_uid", "feed", "itip"]


@dataclass(frozen=True, slots=True)
class Event:
    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    description: str
    url: str | None
    """The recipient's own join link: URL and LOCATION of the entry."""
    organizer: tuple[str, str]
    """``(name, address)``."""
    attendee: tuple[str, str] | None
    cancelled: bool
    stamp: datetime


def consultation_uid(consultation_id: object, host: str) -> str:
    """The event's UID, stable for the consultation's whole life."""
    return f"{consultation_id}@{host}"


def _vevent(event: Event) -> icalendar.Event:
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("sequence", event.sequence)
    vevent.add("dtstamp", event.stamp.astimezone(UTC))
    vevent.add("dtstart", event.starts_at.astimezone(UTC))
    vevent.add("dtend", event.ends_at.astimezone(UTC))
    vevent.add("summary", event.summary)
    if event.description:
        vevent.add("description", event.description)
    if event.url and not event.cancelled:
        vevent.add("url", event.url)
        vevent.add("location", event.url)
    vevent.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    vevent.add("transp", "OPAQUE")
    name, address = event.organizer
    vevent.add("organizer", f"mailto:{address}", parameters={"CN": name})
    if event.attendee is not None:
        attendee_name, attendee_address = event.attendee
        vevent.add(
            "attendee",
            f"mailto:{attendee_address}",
            parameters={
                "CN": attendee_name,
                "CUTYPE": "INDIVIDUAL",
                "ROLE": "REQ-PARTICIPANT",
                "PARTSTAT": "NEEDS-ACTION",
                "RSVP": "FALSE",
            },
        )
    return vevent


def _calendar(method: str | None) -> icalendar.Calendar:
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    if method is not None:
        calendar.add("method", method)
    return calendar


def itip(method: Literal["REQUEST", "CANCEL"], event: Event) -> bytes:
    """One event as an iTIP message (RFC 5546) for an email's ``text/calendar; method=…`` part."""
    calendar = _calendar(method)
    calendar.add_component(_vevent(event))
    return bytes(calendar.to_ical())


def feed(name: str, events: Iterable[Event]) -> bytes:
    """A subscribable calendar (no METHOD) of several events, e.g. a specialist's agenda."""
    calendar = _calendar(None)
    calendar.add("x-wr-calname", name)
    for event in events:
        calendar.add_component(_vevent(event))
    return bytes(calendar.to_ical())
