"""Dates and times as people read them: Babel (CLDR) in the reader's language and time zone, the zone named.

    >>> when = datetime(2027, 3, 28, 7, 30, tzinfo=UTC)
    >>> local_when(when, "Europe/Berlin", "de")
    LocalWhen(date='Sonntag, 28. März 2027', time='09:30', zone='Mitteleuropäische Sommerzeit')
    >>> local_when(when, "Europe/Berlin", "en").time
    '9:30\\u202fAM'

The one place for it: emails, calendar texts and the join page all format through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_name

__all__ = ["UTC", "LocalWhen", "babel_locale", "local_when"]


@cache
def babel_locale(language: str) -> Locale:
    """The CLDR locale of one of our language tags: ``de-x-simple`` (easy German) reads dates as ``de``."""
    base = language.split("-x-")[0].replace("-", "_")
    try:
        return Locale.parse(base)
    except (ValueError, LookupError):
        return Locale.parse("de")


@dataclass(frozen=True, slots=True)
class LocalWhen:
    date: str
    time: str
    zone: str


def local_when(instant: datetime, timezone: str, language: str) -> LocalWhen:
    """The date, the time and the zone's name of an instant, for a reader in ``timezone``."""
    local = instant.astimezone(ZoneInfo(timezone))
    locale = babel_locale(language)
    return LocalWhen(
        date=format_date(local, "full", locale=locale),
        time=format_time(local, "short", locale=locale),
        zone=get_timezone_name(local, "long", locale=locale),
    )
