"""Free slots: weekly rules in the specialist's zone − absences + extra hours − booked time − notice.

Pure functions over plain values, so the rules (DST days included) are tested without a database.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class WeeklyRule:
    weekday: int  # 0 = Monday
    start: time
    end: time


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """Wall-clock time on a day in ``zone`` as UTC; a time in the spring gap lands after it."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def rule_intervals(rules: Iterable[WeeklyRule], zone: ZoneInfo, start: datetime, end: datetime) -> list[Interval]:
    """The UTC intervals the weekly rules open between ``start`` and ``end``, computed day by day locally."""
    rules = list(rules)
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    out: list[Interval] = []
    day = first
    while day <= last:
        for rule in rules:
            if rule.weekday != day.weekday():
                continue
            opens = local_to_utc(day, rule.start, zone)
            # "24:00" is stored as time.max: the window closes at the next local midnight.
            closes = (
                local_to_utc(day + timedelta(days=1), time(0), zone)
                if rule.end == time.max
                else local_to_utc(day, rule.end, zone)
            )
            if opens < closes and closes > start and opens < end:
                out.append((opens, closes))
        day += timedelta(days=1)
    return sorted(out)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def subtract(intervals: Sequence[Interval], holes: Iterable[Interval]) -> list[Interval]:
    result = merge(intervals)
    for hole_lo, hole_hi in merge(holes):
        pieces: list[Interval] = []
        for lo, hi in result:
            if hole_hi <= lo or hole_lo >= hi:
                pieces.append((lo, hi))
                continue
            if lo < hole_lo:
                pieces.append((lo, hole_lo))
            if hole_hi < hi:
                pieces.append((hole_hi, hi))
        result = pieces
    return result


def _covered(free: Sequence[Interval], starts: Sequence[datetime], lo: datetime, hi: datetime) -> bool:
    """Whether one interval of ``free`` (sorted, disjoint; ``starts`` its starts) holds ``[lo, hi)``."""
    index = bisect_right(starts, lo) - 1
    return index >= 0 and hi <= free[index][1]


def _overlaps(busy: Sequence[Interval], ends: Sequence[datetime], lo: datetime, hi: datetime) -> bool:
    """Whether ``[lo, hi)`` touches ``busy`` (sorted, disjoint; ``ends`` their ends)."""
    index = bisect_right(ends, lo)
    return index < len(busy) and busy[index][0] < hi


def free_slots(
    *,
    rules: Iterable[WeeklyRule],
    zone: ZoneInfo,
    absences: Iterable[Interval],
    extras: Iterable[Interval],
    busy: Iterable[Interval],
    duration: timedelta,
    buffer: timedelta,
    earliest: datetime,
    start: datetime,
    end: datetime,
) -> list[datetime]:
    """Bookable start instants in ``[start, end)``.

    The grid steps by the duration from the start of each rule window or block of extra hours, so a
    specialist's 09:00 window offers 09:00, 09:30, … for a 30-minute type. A slot must lie wholly in
    available time, start no earlier than ``earliest`` (minimum notice), and its span plus the type's
    buffer must not touch ``busy`` (other consultations, each already including its own buffer).
    """
    windows = sorted(rule_intervals(rules, zone, start - duration, end + duration) + list(extras))
    available = subtract(merge(windows), absences)
    available_starts = [lo for lo, _ in available]
    busy_list = merge(busy)
    busy_ends = [hi for _, hi in busy_list]
    starts: set[datetime] = set()
    for window_lo, window_hi in windows:
        slot = window_lo
        while slot + duration <= window_hi:
            slot_end = slot + duration
            if (
                start <= slot < end
                and slot >= earliest
                and _covered(available, available_starts, slot, slot_end)
                and not _overlaps(busy_list, busy_ends, slot, slot_end + buffer)
            ):
                starts.add(slot)
            slot = slot_end
    return sorted(starts)
