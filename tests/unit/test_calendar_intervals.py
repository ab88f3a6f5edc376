"""Busy intervals from iCalendar text: ``telecon.calendars.fetch``'s pure half, with no server."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from telecon.calendars import fetch
from telecon.calendars.fetch import Unreadable, busy_intervals, calendar_data, freebusy_intervals
from telecon.templating import texts

BERLIN = ZoneInfo("Europe/Berlin")
START, END = datetime(2027, 3, 1, tzinfo=UTC), datetime(2027, 5, 1, tzinfo=UTC)


def calendar(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20270101T000000Z\r\n{e}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n{body}END:VCALENDAR\r\n"


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_weekly_event_keeps_its_wall_clock_time_across_the_change_to_summer_time() -> None:
    text = calendar(
        "UID:w\r\nDTSTART;TZID=Europe/Berlin:20270322T100000\r\nDTEND;TZID=Europe/Berlin:20270322T110000\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=3\r\nEXDATE;TZID=Europe/Berlin:20270329T100000"
    )
    assert busy_intervals([text], START, END, BERLIN) == [
        (utc(2027, 3, 22, 9), utc(2027, 3, 22, 10)),  # CET
        (utc(2027, 4, 5, 8), utc(2027, 4, 5, 9)),  # CEST; the 29th is excluded
    ]


def test_an_all_day_event_blocks_the_local_day_and_a_floating_time_is_local() -> None:
    text = calendar(
        "UID:a\r\nDTSTART;VALUE=DATE:20270328\r\nDTEND;VALUE=DATE:20270329",  # the 23-hour day of the change
        "UID:f\r\nDTSTART:20270401T090000\r\nDURATION:PT30M",
        "UID:d\r\nDTSTART;VALUE=DATE:20270410",  # no end: one day
    )
    assert busy_intervals([text], START, END, BERLIN) == [
        (utc(2027, 3, 27, 23), utc(2027, 3, 28, 22)),
        (utc(2027, 4, 1, 7), utc(2027, 4, 1, 7, 30)),
        (utc(2027, 4, 9, 22), utc(2027, 4, 10, 22)),
    ]


def test_transparent_cancelled_and_zero_length_events_block_nothing_and_overlaps_merge() -> None:
    text = calendar(
        "UID:t\r\nDTSTART:20270302T090000Z\r\nDTEND:20270302T100000Z\r\nTRANSP:TRANSPARENT",
        "UID:c\r\nDTSTART:20270303T090000Z\r\nDTEND:20270303T100000Z\r\nSTATUS:CANCELLED",
        "UID:z\r\nDTSTART:20270304T090000Z",
        "UID:x\r\nDTSTART;TZID=America/New_York:20270305T040000\r\nDTEND;TZID=America/New_York:20270305T060000",
        "UID:y\r\nDTSTART:20270305T100000Z\r\nDTEND:20270305T120000Z",
    )
    assert busy_intervals([text], START, END, BERLIN) == [(utc(2027, 3, 5, 9), utc(2027, 3, 5, 12))]


def test_a_cancelled_instance_of_a_series_frees_that_day_only() -> None:
    text = calendar(
        "UID:s\r\nDTSTART:20270301T090000Z\r\nDTEND:20270301T100000Z\r\nRRULE:FREQ=DAILY;COUNT=3",
        "UID:s\r\nRECURRENCE-ID:20270302T090000Z\r\nDTSTART:20270302T090000Z\r\nDTEND:20270302T100000Z\r\n"
        "STATUS:CANCELLED",
    )
    assert busy_intervals([text], START, END, BERLIN) == [
        (utc(2027, 3, 1, 9), utc(2027, 3, 1, 10)),
        (utc(2027, 3, 3, 9), utc(2027, 3, 3, 10)),
    ]


def test_intervals_are_clipped_to_the_window() -> None:
    text = calendar("UID:l\r\nDTSTART:20270228T000000Z\r\nDTEND:20270302T000000Z")
    assert busy_intervals([text], START, END, BERLIN) == [(START, utc(2027, 3, 2))]


def test_data_that_is_not_icalendar_is_unreadable_without_quoting_it() -> None:
    with pytest.raises(Unreadable) as error:
        busy_intervals(["BEGIN:VCALENDAR\r\nthe patient's diagnosis"], START, END, BERLIN)
    assert "diagnosis" not in str(error.value)
    with pytest.raises(Unreadable):
        calendar_data(b"<not xml")


def test_a_free_busy_answer_gives_its_busy_periods() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VFREEBUSY\r\nDTSTAMP:20270101T000000Z\r\n"
        "FREEBUSY:20270302T090000Z/20270302T100000Z,20270303T090000Z/PT1H\r\n"
        "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20270304T090000Z/PT30M\r\n"
        "FREEBUSY;FBTYPE=FREE:20270305T090000Z/20270305T100000Z\r\n"
        "END:VFREEBUSY\r\nEND:VCALENDAR\r\n"
    )
    assert freebusy_intervals(text, START, END) == [
        (utc(2027, 3, 2, 9), utc(2027, 3, 2, 10)),
        (utc(2027, 3, 3, 9), utc(2027, 3, 3, 10)),
        (utc(2027, 3, 4, 9), utc(2027, 3, 4, 9, 30)),
    ]


def test_a_multistatus_answer_gives_each_resources_calendar_data() -> None:
    answer = (
        b'<?xml version="1.0"?><D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        b"<D:response><D:href>/a.ics</D:href><D:propstat><D:prop><C:calendar-data>A</C:calendar-data></D:prop>"
        b"</D:propstat></D:response><D:response><D:href>/b.ics</D:href><D:propstat><D:prop>"
        b"<C:calendar-data>B</C:calendar-data></D:prop></D:propstat></D:response></D:multistatus>"
    )
    assert calendar_data(answer) == ["A", "B"]


def test_every_reason_is_found_again_by_its_code_and_translated() -> None:
    for code, text in fetch.REASONS.items():
        assert fetch.reason_of(text) == (code, {})
    assert fetch.reason_of(fetch.ANSWERED.format(status=502)) == ("answered", {"status": "502"})
    assert fetch.reason_of("something an older version stored") is None
    for language in ("de", "en"):
        shown = texts(language)["staff"]["availability"]["calendar_reasons"]
        assert set(shown) == {*fetch.REASONS, "answered"}
