"""The FHIR search parameters (telecon/fhir/search.py): date ranges by precision and prefix, patient tokens."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from telecon.errors import BadRequest
from telecon.fhir.search import PatientQuery, count, date_range, patient_query, start_range

BERLIN = ZoneInfo("Europe/Berlin")
ORG = uuid.UUID("11111111-1111-4111-8111-111111111111")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_a_date_is_a_day_of_the_organizations_zone() -> None:
    assert date_range("2027-03-01", BERLIN) == (utc(2027, 2, 28, 23), utc(2027, 3, 1, 23))
    # The day summer time begins has 23 hours.
    assert date_range("2027-03-28", BERLIN) == (utc(2027, 3, 27, 23), utc(2027, 3, 28, 22))
    assert date_range("2027-02", BERLIN) == (utc(2027, 1, 31, 23), utc(2027, 2, 28, 23))
    assert date_range("2027-12", BERLIN) == (utc(2027, 11, 30, 23), utc(2027, 12, 31, 23))
    assert date_range("2027", BERLIN) == (utc(2026, 12, 31, 23), utc(2027, 12, 31, 23))


def test_a_time_is_as_precise_as_written() -> None:
    assert date_range("2027-03-01T09:00+01:00", BERLIN) == (utc(2027, 3, 1, 8), utc(2027, 3, 1, 8, 1))
    assert date_range("2027-03-01T08:00:00Z", BERLIN) == (utc(2027, 3, 1, 8), utc(2027, 3, 1, 8, 0, 1))


def test_prefixes_compare_the_start_with_the_range() -> None:
    week = start_range(["ge2027-03-01", "lt2027-03-08"], BERLIN)
    assert (week.lower, week.upper) == (utc(2027, 2, 28, 23), utc(2027, 3, 7, 23))
    after = start_range(["gt2027-03-01", "le2027-03-02"], BERLIN)
    assert (after.lower, after.upper) == (utc(2027, 3, 1, 23), utc(2027, 3, 2, 23))
    day = start_range(["2027-03-01"], BERLIN)
    assert day == start_range(["eq2027-03-01"], BERLIN)
    assert (day.lower, day.upper) == (utc(2027, 2, 28, 23), utc(2027, 3, 1, 23))
    assert start_range([], BERLIN).lower is None
    assert start_range(["ge2027-03-08", "lt2027-03-01"], BERLIN).empty
    assert not week.empty


@pytest.mark.parametrize(
    "value",
    [
        "2027-13-01",
        "2027-02-30",
        "01.03.2027",
        "ne2027-03-01",
        "sa2027-03-01",
        "2027-03-01T09:00",
        "ge",
        "2027-03-01T09:00:00+99:00",
        # The ends of the calendar, as the API refuses them (and as they would overflow in UTC).
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-12:00",
        "9999",
    ],
)
def test_bad_dates_name_the_parameter(value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        start_range([value], BERLIN)
    assert (refused.value.field, refused.value.source) == ("date", "query")


def test_patient_tokens() -> None:
    own = f"urn:telecon:organization:{ORG}:case-reference"
    assert patient_query("JC-42", ORG) == PatientQuery(case_reference="JC-42")
    assert patient_query(f"{own}|JC-42", ORG) == PatientQuery(case_reference="JC-42")
    other = f"urn:telecon:organization:{uuid.uuid4()}:case-reference"
    assert patient_query(f"{other}|JC-42", ORG).nobody
    assert patient_query("|JC-42", ORG).nobody
    participant = uuid.uuid4()
    assert patient_query(f"urn:telecon:participant|{participant}", ORG) == PatientQuery(participant_id=participant)
    for bad in ("urn:telecon:participant|nope", "", "x" * 65, f"{own}|", "a\x00b", "JC-42\r\nBcc: x"):
        with pytest.raises(BadRequest) as refused:
            patient_query(bad, ORG)
        assert refused.value.field == "patient"


def test_count_is_bounded_by_the_lists_limit() -> None:
    assert count(None, 500) == 500
    assert count("20", 500) == 20
    for bad in ("0", "501", "-1", "ten", "1.5"):
        with pytest.raises(BadRequest):
            count(bad, 500)
