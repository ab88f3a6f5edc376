"""Wire types shared by the domains' schemas: strict structs and constrained scalars.

Every string that comes in over the wire has one of the types below, so one rule covers them all:
no C0 control character and no DEL (PostgreSQL cannot store NUL, and a stray CR/LF in a name or an
address could forge a mail header or a calendar line); multi-line free text (notes, evidence, purpose,
reasons) may carry TAB, LF and CR.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

END = r"$(?!\n)"
"""The end of the string: Python's ``$`` alone also matches before a final newline (``"Maria\n"``)."""
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*" + END
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*" + END
_EMAIL = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+" + END
_LANGUAGE = r"^[a-z]{2,3}(-[a-zA-Z0-9]{1,8})*" + END
_ZONE = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*" + END

PATTERN_HINTS = {
    SINGLE_LINE: "must be a single line without control characters",
    MULTI_LINE: "must not contain control characters (line breaks and tabs are fine)",
    _EMAIL: "must be an email address such as name@example.org",
    _LANGUAGE: "must be a language tag such as de, en or de-x-simple",
    _ZONE: "must be an IANA time zone name such as Europe/Berlin",
}
"""What a pattern means, in words: the validation problem says this instead of the regular expression."""


class Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Request bodies: an allow-list; an unknown field is an error, not silently dropped."""


class Out(msgspec.Struct, kw_only=True):
    """Response bodies: only the fields listed, so a new column never leaks by default."""


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=SINGLE_LINE)]
"""A name, label or reference: one line, so it can become a display name or a mail header safely."""
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=320, pattern=_EMAIL)]
Language = Annotated[str, msgspec.Meta(min_length=2, max_length=16, pattern=_LANGUAGE)]
Text = Annotated[str, msgspec.Meta(max_length=4000, pattern=MULTI_LINE)]
"""Free text that may span lines: notes, evidence, purpose, reasons."""
Password = Annotated[str, msgspec.Meta(max_length=1024, pattern=SINGLE_LINE)]
TimeZone = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_ZONE, examples=["Europe/Berlin"])]
"""The shape of an IANA zone name; whether the zone exists is ``organizations.services.check_timezone``."""

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
_AWARE = Annotated[datetime, msgspec.Meta(tz=True)]


class AwareDatetime(datetime):
    """An instant from the wire, in bodies and query strings alike: ISO 8601 with an offset, 1970–2200.

    Its own type because msgspec cannot bound a datetime: ``decode_aware_datetime`` (registered as a type
    decoder in ``create_app``) parses and checks it, so a year-1 or year-9999 instant is a 422 naming the
    field instead of an overflow deep inside a service.
    """


def decode_aware_datetime(_: type, value: Any) -> AwareDatetime:
    try:
        parsed = msgspec.convert(value, _AWARE)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    if not EARLIEST <= parsed < LATEST:
        raise ValueError("a time must lie between 1970 and 2200")
    v = parsed
    return AwareDatetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold)


def is_aware_datetime(annotation: Any) -> bool:
    return annotation is AwareDatetime


def encode_aware_datetime(value: AwareDatetime) -> datetime:
    """A plain datetime again, which msgspec writes like every other instant (``Z`` for UTC).

    Registered as a type encoder: an instant from a request can reach an answer (a rescheduled start).
    """
    v = value
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond, v.tzinfo, fold=v.fold)
