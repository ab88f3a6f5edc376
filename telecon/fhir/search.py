"""The search parameters of ``GET /fhir/Appointment``, read as FHIR R4 defines them (pure, no I/O).

``date`` is the appointment's start (R4 search parameter ``Appointment-date``, expression ``Appointment.start``).
A value is a range by its precision — a year, a month, a day, a minute, a second — and a prefix compares the
start with it: ``eq`` (the default) within it, ``ge`` from its beginning, ``gt`` after its end, ``le`` up to its
end, ``lt`` before its beginning. Repeated, all must hold (``date=ge2027-03-01&date=lt2027-03-08``). A date
without a time is a day of the organization's time zone; a time needs an offset, as R4 demands.

``patient`` is an identifier token: a bare value or ``urn:telecon:organization:<id>:case-reference|<value>`` is a
case reference, ``urn:telecon:participant|<id>`` telecon's participant id; another system matches nothing.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telecon.errors import BadRequest
from telecon.fhir.mapping import PARTICIPANT_SYSTEM, case_reference_system
from telecon.schemas import EARLIEST, LATEST, SINGLE_LINE

PARAMETERS = ("patient", "date", "_count")
"""What the search understands; anything else is refused (400) rather than silently ignored."""
PREFIXES = ("eq", "ge", "gt", "le", "lt")
CASE_REFERENCE_MAX = 64
_SINGLE_LINE = re.compile(SINGLE_LINE)

_DATE = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d{1,9})?)?"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})?)?)?)?"
)


def invalid(parameter: str, detail: str) -> BadRequest:
    return BadRequest(detail, field=parameter, source="query")


@dataclass(frozen=True, slots=True)
class StartRange:
    """Starts from ``lower`` (inclusive) to ``upper`` (exclusive); ``None`` is open."""

    lower: datetime | None = None
    upper: datetime | None = None

    @property
    def empty(self) -> bool:
        return self.lower is not None and self.upper is not None and self.lower >= self.upper


def _month_after(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def date_range(text: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants a FHIR ``date``/``dateTime`` value stands for, ``[begin, end)``."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise invalid("date", f"{text!r} is not a FHIR date: use YYYY, YYYY-MM, YYYY-MM-DD or a time with an offset")
    g = match.groupdict()
    year = int(g["year"])
    if not EARLIEST.year < year < LATEST.year:  # a year's margin: a local day of 1970 may begin in 1969 UTC
        raise invalid("date", f"a date must lie between {EARLIEST.year + 1} and {LATEST.year - 1}")
    try:
        if g["hour"] is None:
            month, day = int(g["month"] or 1), int(g["day"] or 1)
            begin = datetime(year, month, day, tzinfo=zone)
            if g["day"]:
                end = datetime.combine(begin.date() + timedelta(days=1), begin.time(), tzinfo=zone)
            elif g["month"]:
                end = datetime(*_month_after(year, month), 1, tzinfo=zone)
            else:
                end = datetime(year + 1, 1, 1, tzinfo=zone)
            return begin.astimezone(UTC), end.astimezone(UTC)
        if g["offset"] is None:
            raise invalid("date", f"{text!r} has a time but no offset: add Z or e.g. +01:00")
        stamp = text.replace("Z", "+00:00")
        begin = datetime.fromisoformat(stamp)
    except ValueError:
        raise invalid("date", f"{text!r} is not a valid date") from None
    if g["fraction"]:
        step = timedelta(microseconds=1)
    elif g["second"]:
        step = timedelta(seconds=1)
    else:
        step = timedelta(minutes=1)
    return begin.astimezone(UTC), (begin + step).astimezone(UTC)


def start_range(values: list[str], zone: ZoneInfo) -> StartRange:
    """Every ``date`` value narrows the starts searched; together they may leave none (an empty search)."""
    lower: datetime | None = None
    upper: datetime | None = None

    def raise_lower(value: datetime) -> None:
        nonlocal lower
        lower = value if lower is None else max(lower, value)

    def cut_upper(value: datetime) -> None:
        nonlocal upper
        upper = value if upper is None else min(upper, value)

    for value in values:
        prefix, rest = (value[:2], value[2:]) if value[:2].isalpha() else ("eq", value)
        if prefix not in PREFIXES:
            raise invalid("date", f"the prefix {prefix!r} is not supported: use one of {', '.join(PREFIXES)}")
        begin, end = date_range(rest, zone)
        if prefix == "eq":
            raise_lower(begin)
            cut_upper(end)
        elif prefix == "ge":
            raise_lower(begin)
        elif prefix == "gt":
            raise_lower(end)
        elif prefix == "le":
            cut_upper(end)
        else:  # lt
            cut_upper(begin)
    return StartRange(lower, upper)


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """Whom ``patient`` names: a case reference, a participant id, or nobody (an identifier of another system)."""

    case_reference: str | None = None
    participant_id: uuid.UUID | None = None

    @property
    def nobody(self) -> bool:
        return self.case_reference is None and self.participant_id is None


def patient_query(value: str, organization_id: uuid.UUID) -> PatientQuery:
    system, bar, code = value.rpartition("|")
    if not bar:
        system, code = "", value
    if not code or len(code) > CASE_REFERENCE_MAX or not _SINGLE_LINE.match(value):
        raise invalid("patient", f"give a case reference of 1 to {CASE_REFERENCE_MAX} characters, or system|value")
    if not bar or system == case_reference_system(organization_id):
        return PatientQuery(case_reference=code)
    if system == PARTICIPANT_SYSTEM:
        try:
            return PatientQuery(participant_id=uuid.UUID(code))
        except ValueError:
            raise invalid("patient", f"{PARTICIPANT_SYSTEM} identifiers are UUIDs") from None
    return PatientQuery()


def count(value: str | None, limit: int) -> int:
    """``_count``: how many appointments at most (default and upper bound ``limit``, as the API's lists)."""
    if value is None:
        return limit
    if not value.isdigit() or not 1 <= int(value) <= limit:
        raise invalid("_count", f"_count must be a whole number from 1 to {limit}")
    return int(value)
