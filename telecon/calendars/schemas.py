from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from telecon.calendars.services import CalendarStatus
from telecon.schemas import SINGLE_LINE, Out, Strict

Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=SINGLE_LINE)]


class CalendarIn(Strict):
    kind: Literal["caldav", "ics"]
    """`caldav`: a CalDAV calendar collection; `ics`: a plain iCalendar (.ics) link."""
    url: Url
    """The calendar's http(s) URL; telecon's server fetches it."""
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)] | None = None
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=SINGLE_LINE)] | None = None
    """An app password, kept encrypted and never shown again."""


class CalendarOut(Out):
    connected: bool
    kind: str | None = None
    url: str | None = None
    """Scheme, host and port only (`https://calendar.example/…`): the rest of an ICS link is a private token."""
    username: str | None = None
    has_password: bool = False
    last_synced_at: datetime | None = None
    """The last successful read."""
    last_error: str | None = None
    """Why the last read failed, if it did; the busy times of the last successful read still count."""
    last_error_at: datetime | None = None
    busy_periods_ahead: int = 0

    @classmethod
    def of(cls, status: CalendarStatus) -> CalendarOut:
        source = status.source
        if source is None:
            return cls(connected=False)
        return cls(
            connected=True,
            kind=source.kind.value,
            url=source.shown_url,
            username=source.username,
            has_password=source.password_ciphertext is not None,
            last_synced_at=source.last_synced_at,
            last_error=source.last_error,
            last_error_at=source.last_error_at,
            busy_periods_ahead=status.busy_ahead,
        )
