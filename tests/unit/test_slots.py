"""Slot rules without I/O: weekly rules in a zone, overrides, busy time with buffers, notice, DST days."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from telecon.scheduling.models import OverrideKind
from telecon.scheduling.services import SlotSearch
from telecon.scheduling.slots import (
    Interval,
    WeeklyRule,
    free_slots,
    local_to_utc,
    merge,
    rule_intervals,
    subtract,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
ISTANBUL = ZoneInfo("Europe/Istanbul")
HALF_HOUR = timedelta(minutes=30)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)

# 2027: Europe's clocks go forward on Sunday 28 March and back on Sunday 31 October.
SPRING_SUNDAY = date(2027, 3, 28)
AUTUMN_SUNDAY = date(2027, 10, 31)
# A plain week without a DST change anywhere near: Monday 2027-06-07 to Sunday 2027-06-13.
MONDAY = date(2027, 6, 7)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(day: date, hour: int, minute: int = 0, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def whole_days(first: date, last: date, zone: ZoneInfo = BERLIN) -> tuple[datetime, datetime]:
    """From local midnight of ``first`` to local midnight after ``last``."""
    return local(first, 0, zone=zone), local(last + timedelta(days=1), 0, zone=zone)


def every_day(start: time, end: time) -> list[WeeklyRule]:
    return [WeeklyRule(weekday, start, end) for weekday in range(7)]


def slots(
    *,
    rules: Iterable[WeeklyRule] = (),
    zone: ZoneInfo = BERLIN,
    absences: Iterable[Interval] = (),
    extras: Iterable[Interval] = (),
    busy: Iterable[Interval] = (),
    duration: timedelta = HALF_HOUR,
    buffer: timedelta = timedelta(0),
    earliest: datetime = LONG_AGO,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    return free_slots(
        rules=rules,
        zone=zone,
        absences=absences,
        extras=extras,
        busy=busy,
        duration=duration,
        buffer=buffer,
        earliest=earliest,
        start=start,
        end=end,
    )


def local_clock(instants: Iterable[datetime], zone: ZoneInfo = BERLIN) -> list[str]:
    return [i.astimezone(zone).strftime("%Y-%m-%d %H:%M") for i in instants]


def by_day(instants: Iterable[datetime], zone: ZoneInfo = BERLIN) -> dict[date, list[datetime]]:
    days: dict[date, list[datetime]] = {}
    for instant in instants:
        days.setdefault(instant.astimezone(zone).date(), []).append(instant)
    return days


# --- DST ---------------------------------------------------------------------------------------------


def test_spring_forward_sunday_opens_at_eight_local_which_is_six_utc() -> None:
    rules = every_day(time(8), time(12))
    found = slots(rules=rules, start=local(SPRING_SUNDAY, 0), end=local(SPRING_SUNDAY + timedelta(days=1), 0))
    assert found[0] == utc(2027, 3, 28, 6)
    assert found[0].astimezone(BERLIN).hour == 8
    assert found[-1] == utc(2027, 3, 28, 9, 30)  # 11:30 CEST
    assert len(found) == 8
    assert local_clock(found) == [f"2027-03-28 {h:02d}:{m:02d}" for h in range(8, 12) for m in (0, 30)]


def test_spring_forward_day_before_and_after() -> None:
    rules = every_day(time(8), time(12))
    start, end = whole_days(SPRING_SUNDAY - timedelta(days=1), SPRING_SUNDAY + timedelta(days=1))
    days = by_day(slots(rules=rules, start=start, end=end))
    assert sorted(days) == [date(2027, 3, 27), date(2027, 3, 28), date(2027, 3, 29)]
    assert days[date(2027, 3, 27)][0] == utc(2027, 3, 27, 7)  # Saturday, still CET (UTC+1)
    assert days[date(2027, 3, 28)][0] == utc(2027, 3, 28, 6)  # Sunday, CEST (UTC+2)
    assert days[date(2027, 3, 29)][0] == utc(2027, 3, 29, 6)  # Monday, CEST
    for found in days.values():
        assert len(found) == 8
        assert found[0].astimezone(BERLIN).time() == time(8)
        assert found[-1].astimezone(BERLIN).time() == time(11, 30)


def test_fall_back_sunday_opens_at_eight_local_which_is_seven_utc() -> None:
    rules = every_day(time(8), time(12))
    found = slots(rules=rules, start=local(AUTUMN_SUNDAY, 0), end=local(AUTUMN_SUNDAY + timedelta(days=1), 0))
    assert found[0] == utc(2027, 10, 31, 7)
    assert found[0].astimezone(BERLIN).hour == 8
    assert found[-1] == utc(2027, 10, 31, 10, 30)  # 11:30 CET
    assert local_clock(found) == [f"2027-10-31 {h:02d}:{m:02d}" for h in range(8, 12) for m in (0, 30)]


def test_fall_back_day_before_and_after() -> None:
    rules = every_day(time(8), time(12))
    start, end = whole_days(AUTUMN_SUNDAY - timedelta(days=1), AUTUMN_SUNDAY + timedelta(days=1))
    days = by_day(slots(rules=rules, start=start, end=end))
    assert sorted(days) == [date(2027, 10, 30), date(2027, 10, 31), date(2027, 11, 1)]
    assert days[date(2027, 10, 30)][0] == utc(2027, 10, 30, 6)  # Saturday, still CEST (UTC+2)
    assert days[date(2027, 10, 31)][0] == utc(2027, 10, 31, 7)  # Sunday, CET (UTC+1)
    assert days[date(2027, 11, 1)][0] == utc(2027, 11, 1, 7)  # Monday, CET
    assert all(len(found) == 8 for found in days.values())


def test_only_the_sunday_rule_applies_on_dst_sundays() -> None:
    """A rule for weekday 6 alone opens Sundays and nothing else, on both change days."""
    rules = [WeeklyRule(6, time(8), time(12))]
    for sunday, first_utc in ((SPRING_SUNDAY, utc(2027, 3, 28, 6)), (AUTUMN_SUNDAY, utc(2027, 10, 31, 7))):
        start, end = whole_days(sunday - timedelta(days=1), sunday + timedelta(days=2))
        found = slots(rules=rules, start=start, end=end)
        assert len(found) == 8
        assert {s.astimezone(BERLIN).date() for s in found} == {sunday}
        assert found[0] == first_utc


def test_rule_intervals_on_dst_days_keep_local_wall_clock_length() -> None:
    rules = [WeeklyRule(6, time(8), time(12))]
    spring = rule_intervals(rules, BERLIN, *whole_days(SPRING_SUNDAY, SPRING_SUNDAY))
    autumn = rule_intervals(rules, BERLIN, *whole_days(AUTUMN_SUNDAY, AUTUMN_SUNDAY))
    assert spring == [(utc(2027, 3, 28, 6), utc(2027, 3, 28, 10))]
    assert autumn == [(utc(2027, 10, 31, 7), utc(2027, 10, 31, 11))]


def test_a_window_starting_in_the_spring_gap_starts_after_the_gap() -> None:
    # 02:30 does not exist on 2027-03-28 in Berlin; the documented choice is to land after the gap.
    assert local_to_utc(SPRING_SUNDAY, time(2, 30), BERLIN) == utc(2027, 3, 28, 1, 30)  # 03:30 CEST
    found = slots(rules=[WeeklyRule(6, time(2), time(4))], start=local(SPRING_SUNDAY, 0), end=local(SPRING_SUNDAY, 6))
    # 02:00 wall clock is 03:00 CEST; the window is one real hour long: 03:00 and 03:30.
    assert found == [utc(2027, 3, 28, 1), utc(2027, 3, 28, 1, 30)]


# --- other zones ---------------------------------------------------------------------------------------


def test_rule_in_new_york_follows_new_york_dst_not_berlin() -> None:
    # New York switches on 2027-03-14, two weeks before Berlin.
    rules = [WeeklyRule(4, time(9), time(10)), WeeklyRule(0, time(9), time(10))]
    start, end = whole_days(date(2027, 3, 12), date(2027, 3, 15), zone=NEW_YORK)
    found = slots(rules=rules, zone=NEW_YORK, start=start, end=end)
    assert found == [
        utc(2027, 3, 12, 14),  # Friday 09:00 EST (UTC−5)
        utc(2027, 3, 12, 14, 30),
        utc(2027, 3, 15, 13),  # Monday 09:00 EDT (UTC−4)
        utc(2027, 3, 15, 13, 30),
    ]
    assert local_clock(found, NEW_YORK) == [
        "2027-03-12 09:00",
        "2027-03-12 09:30",
        "2027-03-15 09:00",
        "2027-03-15 09:30",
    ]


def test_rule_in_istanbul_is_three_hours_ahead_all_year() -> None:
    rules = [WeeklyRule(0, time(9), time(10))]
    winter = slots(rules=rules, zone=ISTANBUL, start=utc(2027, 1, 4, 0), end=utc(2027, 1, 5, 0))
    summer = slots(rules=rules, zone=ISTANBUL, start=utc(2027, 7, 5, 0), end=utc(2027, 7, 6, 0))
    assert winter == [utc(2027, 1, 4, 6), utc(2027, 1, 4, 6, 30)]
    assert summer == [utc(2027, 7, 5, 6), utc(2027, 7, 5, 6, 30)]


def test_weekday_is_taken_in_the_specialists_zone() -> None:
    """Monday 01:00–02:00 in Istanbul is still Sunday evening in UTC; the rule is Monday's."""
    rules = [WeeklyRule(0, time(1), time(2))]
    found = slots(rules=rules, zone=ISTANBUL, start=utc(2027, 6, 6, 0), end=utc(2027, 6, 8, 0))
    assert found == [utc(2027, 6, 6, 22), utc(2027, 6, 6, 22, 30)]  # Sunday 6 June in UTC
    assert {s.astimezone(ISTANBUL).weekday() for s in found} == {0}


# --- weekly rules and the grid --------------------------------------------------------------------------


def test_a_working_week_gives_six_half_hours_a_day() -> None:
    rules = [WeeklyRule(d, time(9), time(12)) for d in range(5)]
    found = slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY + timedelta(days=7), 0))
    days = by_day(found)
    assert sorted(days) == [MONDAY + timedelta(days=d) for d in range(5)]
    assert all(len(v) == 6 for v in days.values())
    assert len(found) == 30


def test_grid_steps_by_the_duration_from_the_window_start() -> None:
    rules = [WeeklyRule(0, time(9, 10), time(12))]
    day = whole_days(MONDAY, MONDAY)
    assert local_clock(slots(rules=rules, duration=timedelta(minutes=50), start=day[0], end=day[1])) == [
        "2027-06-07 09:10",
        "2027-06-07 10:00",
        "2027-06-07 10:50",
    ]
    assert len(slots(rules=rules, duration=timedelta(minutes=20), start=day[0], end=day[1])) == 8


def test_a_slot_must_fit_wholly_into_the_window() -> None:
    rules = [WeeklyRule(0, time(9), time(10, 15))]
    found = slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 09:30"]  # 10:00–10:30 would overrun
    assert slots(rules=rules, duration=timedelta(minutes=90), start=local(MONDAY, 0), end=local(MONDAY, 23)) == []


def test_window_shorter_than_the_duration_offers_nothing() -> None:
    rules = [WeeklyRule(0, time(9), time(9, 20))]
    assert slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY, 23)) == []


def test_only_starts_inside_the_requested_range() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    found = slots(rules=rules, start=local(MONDAY, 9, 15), end=local(MONDAY, 10, 30))
    # 09:00 starts before the range; 10:30 is the (exclusive) end.
    assert local_clock(found) == ["2027-06-07 09:30", "2027-06-07 10:00"]
    # The range does not move the grid: 09:15 is no slot even though the range starts there.
    assert local(MONDAY, 9, 15) not in found


def test_range_outside_every_rule_is_empty() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    assert slots(rules=rules, start=local(MONDAY, 12), end=local(MONDAY, 23)) == []
    assert slots(rules=[], start=local(MONDAY, 0), end=local(MONDAY + timedelta(days=7), 0)) == []


def test_rules_on_other_weekdays_do_not_leak() -> None:
    rules = [WeeklyRule(2, time(9), time(10))]  # Wednesday only
    found = slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY + timedelta(days=7), 0))
    assert local_clock(found) == ["2027-06-09 09:00", "2027-06-09 09:30"]


def test_two_windows_on_one_day() -> None:
    rules = [WeeklyRule(0, time(14), time(15)), WeeklyRule(0, time(9), time(10))]
    found = slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 09:30", "2027-06-07 14:00", "2027-06-07 14:30"]


def test_result_is_sorted_and_unique_when_windows_overlap() -> None:
    # Two identical rules and an extra block on the same grid must not duplicate a start.
    rules = [WeeklyRule(0, time(9), time(11)), WeeklyRule(0, time(9), time(11)), WeeklyRule(0, time(10), time(12))]
    extras = [(local(MONDAY, 9), local(MONDAY, 10))]
    found = slots(rules=rules, extras=extras, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert found == sorted(set(found))
    assert local_clock(found) == [f"2027-06-07 {h:02d}:{m:02d}" for h in (9, 10, 11) for m in (0, 30)]


def test_rule_ending_at_midnight_offers_the_last_slot_of_the_day() -> None:
    """The API stores an end of "24:00" as ``time.max``; the 23:30 slot still fits before midnight."""
    rules = [WeeklyRule(0, time(23), time.max)]
    found = slots(rules=rules, start=local(MONDAY, 0), end=local(MONDAY + timedelta(days=1), 12))
    assert local_clock(found) == ["2027-06-07 23:00", "2027-06-07 23:30"]


def test_slots_are_utc() -> None:
    found = slots(rules=[WeeklyRule(0, time(9), time(10))], start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert found
    assert all(s.utcoffset() == timedelta(0) for s in found)
    assert found[0] == utc(2027, 6, 7, 7)


# --- overrides ------------------------------------------------------------------------------------------


def test_absence_over_the_whole_day_removes_the_day() -> None:
    rules = [WeeklyRule(d, time(9), time(12)) for d in range(5)]
    tuesday = MONDAY + timedelta(days=1)
    absences = [whole_days(tuesday, tuesday)]
    found = slots(rules=rules, absences=absences, start=local(MONDAY, 0), end=local(MONDAY + timedelta(days=7), 0))
    days = by_day(found)
    assert tuesday not in days
    assert len(found) == 24


def test_partial_absence_cuts_every_slot_it_touches() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    absences = [(local(MONDAY, 10, 10), local(MONDAY, 10, 40))]
    found = slots(rules=rules, absences=absences, start=local(MONDAY, 0), end=local(MONDAY, 23))
    # 10:00–10:30 and 10:30–11:00 both touch the absence; the grid does not restart after it.
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 09:30", "2027-06-07 11:00", "2027-06-07 11:30"]


def test_absence_touching_a_slot_edge_does_not_cut_it() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    absences = [(local(MONDAY, 8), local(MONDAY, 9)), (local(MONDAY, 11, 30), local(MONDAY, 13))]
    found = slots(rules=rules, absences=absences, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found)[0] == "2027-06-07 09:00"
    assert local_clock(found)[-1] == "2027-06-07 11:00"
    assert len(found) == 5


def test_extra_hours_add_slots_on_a_day_without_rule() -> None:
    rules = [WeeklyRule(d, time(9), time(12)) for d in range(5)]
    saturday = MONDAY + timedelta(days=5)
    extras = [(local(saturday, 10), local(saturday, 12))]
    found = slots(rules=rules, extras=extras, start=local(saturday, 0), end=local(saturday + timedelta(days=2), 0))
    assert local_clock(found) == ["2027-06-12 10:00", "2027-06-12 10:30", "2027-06-12 11:00", "2027-06-12 11:30"]


def test_extra_hours_extend_a_rule_window() -> None:
    rules = [WeeklyRule(0, time(9), time(10))]
    extras = [(local(MONDAY, 10), local(MONDAY, 11))]
    found = slots(rules=rules, extras=extras, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert len(found) == 4
    assert local_clock(found)[-1] == "2027-06-07 10:30"


def test_extra_hours_step_from_their_own_start_and_must_fit() -> None:
    extras = [(local(MONDAY, 14, 15), local(MONDAY, 15, 30))]
    found = slots(extras=extras, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 14:15", "2027-06-07 14:45"]


def test_extra_hours_outside_the_range_are_ignored() -> None:
    extras = [(local(MONDAY, 14), local(MONDAY, 15))]
    assert slots(extras=extras, start=local(MONDAY, 15), end=local(MONDAY, 23)) == []


def test_absence_beats_extra_hours() -> None:
    extras = [(local(MONDAY, 14), local(MONDAY, 16))]
    absences = [(local(MONDAY, 15), local(MONDAY, 16))]
    found = slots(extras=extras, absences=absences, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 14:00", "2027-06-07 14:30"]


# --- busy time and buffers ------------------------------------------------------------------------------


def test_booked_time_blocks_its_slot_only() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    busy = [(local(MONDAY, 10), local(MONDAY, 10, 30))]
    found = slots(rules=rules, busy=busy, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local(MONDAY, 10) not in found
    assert local_clock(found) == [
        "2027-06-07 09:00",
        "2027-06-07 09:30",
        "2027-06-07 10:30",
        "2027-06-07 11:00",
        "2027-06-07 11:30",
    ]


def test_busy_time_includes_the_buffer_of_the_booked_consultation() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    # Booked 10:00–10:30 with a 15-minute buffer: blocked until 10:45, so 10:30 is gone too.
    busy = [(local(MONDAY, 10), local(MONDAY, 10, 45))]
    found = slots(rules=rules, busy=busy, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 09:30", "2027-06-07 11:00", "2027-06-07 11:30"]


def test_the_slots_own_buffer_must_not_run_into_busy_time() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    busy = [(local(MONDAY, 10), local(MONDAY, 10, 30))]
    found = slots(rules=rules, busy=busy, buffer=timedelta(minutes=15), start=local(MONDAY, 0), end=local(MONDAY, 23))
    # 09:30–10:00 plus 15 minutes runs into 10:00; 10:30 is free again.
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 10:30", "2027-06-07 11:00", "2027-06-07 11:30"]


def test_buffers_on_both_sides_hide_neighbours() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    buffer = timedelta(minutes=15)
    busy = [(local(MONDAY, 10), local(MONDAY, 10, 30) + buffer)]
    found = slots(rules=rules, busy=busy, buffer=buffer, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert local_clock(found) == ["2027-06-07 09:00", "2027-06-07 11:00", "2027-06-07 11:30"]


def test_busy_time_ending_at_a_slot_start_leaves_it_free() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    busy = [(local(MONDAY, 8), local(MONDAY, 9)), (local(MONDAY, 12), local(MONDAY, 13))]
    found = slots(rules=rules, busy=busy, start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert len(found) == 6
    with_buffer = slots(
        rules=rules, busy=busy, buffer=timedelta(minutes=1), start=local(MONDAY, 0), end=local(MONDAY, 23)
    )
    assert local_clock(with_buffer)[-1] == "2027-06-07 11:00"  # 11:30 + 30 + 1 min runs into 12:00


def test_busy_time_of_another_day_does_not_block() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    busy = [(local(MONDAY + timedelta(days=1), 9), local(MONDAY + timedelta(days=1), 12))]
    assert len(slots(rules=rules, busy=busy, start=local(MONDAY, 0), end=local(MONDAY, 23))) == 6


# --- minimum notice ---------------------------------------------------------------------------------------


def test_earliest_drops_slots_before_it() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    found = slots(rules=rules, earliest=local(MONDAY, 10, 10), start=local(MONDAY, 0), end=local(MONDAY, 23))
    # Notice does not shift the grid: the next slot is 10:30, not 10:10.
    assert local_clock(found) == ["2027-06-07 10:30", "2027-06-07 11:00", "2027-06-07 11:30"]


def test_a_slot_exactly_at_earliest_is_kept() -> None:
    rules = [WeeklyRule(0, time(9), time(12))]
    found = slots(rules=rules, earliest=local(MONDAY, 10), start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert found[0] == local(MONDAY, 10)
    assert len(found) == 4


def test_earliest_after_the_range_leaves_nothing() -> None:
    rules = every_day(time(9), time(12))
    found = slots(rules=rules, earliest=local(MONDAY, 23), start=local(MONDAY, 0), end=local(MONDAY, 23))
    assert found == []


# --- merge and subtract -----------------------------------------------------------------------------------


def h(hour: int, minute: int = 0) -> datetime:
    return utc(2027, 6, 7, hour, minute)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], []),
        ([(h(9), h(10))], [(h(9), h(10))]),
        ([(h(11), h(12)), (h(9), h(10))], [(h(9), h(10)), (h(11), h(12))]),  # unsorted input
        ([(h(9), h(10)), (h(10), h(11))], [(h(9), h(11))]),  # touching intervals join
        ([(h(9), h(11)), (h(10), h(12))], [(h(9), h(12))]),  # overlapping
        ([(h(9), h(12)), (h(10), h(11))], [(h(9), h(12))]),  # contained
        ([(h(9), h(10)), (h(9), h(10))], [(h(9), h(10))]),  # duplicates
        ([(h(10), h(11)), (h(9), h(12)), (h(13), h(14))], [(h(9), h(12)), (h(13), h(14))]),
    ],
)
def test_merge(given: list[Interval], expected: list[Interval]) -> None:
    assert merge(given) == expected


@pytest.mark.parametrize(
    ("intervals", "holes", "expected"),
    [
        ([(h(9), h(12))], [], [(h(9), h(12))]),
        ([], [(h(9), h(12))], []),
        ([(h(9), h(12))], [(h(10), h(11))], [(h(9), h(10)), (h(11), h(12))]),  # split in two
        ([(h(9), h(12))], [(h(8), h(10))], [(h(10), h(12))]),  # cut the head
        ([(h(9), h(12))], [(h(11), h(13))], [(h(9), h(11))]),  # cut the tail
        ([(h(9), h(12))], [(h(8), h(13))], []),  # swallowed
        ([(h(9), h(12))], [(h(9), h(12))], []),  # exactly
        ([(h(9), h(12))], [(h(8), h(9)), (h(12), h(13))], [(h(9), h(12))]),  # touching only
        (
            [(h(9), h(12))],
            [(h(9, 30), h(10)), (h(11), h(11, 30))],
            [(h(9), h(9, 30)), (h(10), h(11)), (h(11, 30), h(12))],
        ),
        ([(h(9), h(10)), (h(11), h(12))], [(h(9, 30), h(11, 30))], [(h(9), h(9, 30)), (h(11, 30), h(12))]),  # across
        (
            [(h(9), h(12))],
            [(h(10), h(11)), (h(10, 30), h(11, 30))],
            [(h(9), h(10)), (h(11, 30), h(12))],
        ),  # holes overlap
        (
            [(h(10), h(11)), (h(9), h(10))],
            [(h(9, 30), h(9, 45))],
            [(h(9), h(9, 30)), (h(9, 45), h(11))],
        ),  # merged first
    ],
)
def test_subtract(intervals: list[Interval], holes: list[Interval], expected: list[Interval]) -> None:
    assert subtract(intervals, holes) == expected


def test_a_search_of_several_specialists_is_soonest_first_and_equal_starts_in_id_order() -> None:
    """Berlin's 09:00 and New York's 03:00 are the same instant in June; the second specialist also has extra
    hours before it."""
    first, second = uuid.UUID(int=1), uuid.UUID(int=2)
    search = SlotSearch(
        specialists=[(first, BERLIN), (second, NEW_YORK)],
        rules={first: [WeeklyRule(0, time(9), time(10))], second: [WeeklyRule(0, time(3), time(4))]},
        overrides={second: {OverrideKind.extra: [(utc(2027, 6, 7, 6, 30), utc(2027, 6, 7, 7))]}},
        busy={first: [(utc(2027, 6, 7, 7, 30), utc(2027, 6, 7, 8))]},
        duration=HALF_HOUR,
        buffer=timedelta(0),
        earliest=LONG_AGO,
        start=local(MONDAY, 0),
        end=local(MONDAY + timedelta(days=1), 0),
    )
    found = [(slot.start.strftime("%H:%M"), slot.specialist_id) for slot in search.slots()]
    assert found == [("06:30", second), ("07:00", first), ("07:00", second), ("07:30", second)]
    assert all(slot.end - slot.start == HALF_HOUR for slot in search.slots())
