"""The specialist's own availability as a page: the weekly hours and the absences.

Saving goes through the same service functions the API calls (``PUT /api/v1/specialists/{id}/availability``
and ``POST /api/v1/specialists/{id}/overrides``), with the same checks; the hours are wall-clock times in the
specialist's own time zone, weekday 0 is Monday. The connected calendar (``telecon.calendars``) is shown and
changed here too, through ``PUT``/``DELETE /api/v1/specialists/{id}/calendar`` and ``POST .../calendar/sync``'s
functions.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath

from telecon.access import Role
from telecon.calendars import fetch
from telecon.calendars import services as calendars
from telecon.calendars.models import CalendarKind
from telecon.calendars.routes import sync_now
from telecon.crypto import KeyRing
from telecon.dates import babel_locale
from telecon.errors import InvalidInput
from telecon.organizations.models import User
from telecon.scheduling import availability
from telecon.scheduling.models import AvailabilityRule, OverrideKind
from telecon.scheduling.schemas import format_clock, parse_clock
from telecon.ui.routes import PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.ui.views import when
from telecon.web import DbSession, current_time

PAGE = {"public": True, "roles": (Role.specialist,)}
WEEKDAYS = range(7)
RANGES_SHOWN = 2
"""Ranges per day on the form; a day with more saved ranges (made through the API) shows them all."""
MAX_RANGES = 20
ABSENCES_AHEAD = timedelta(days=366)
CLOCK = re.compile(r"^\d{2}:\d{2}$")
LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$")


@dataclass(frozen=True, slots=True)
class AbsenceRow:
    id: str
    start: str
    end: str


def _name(day: int, index: int, edge: str) -> str:
    return f"w{day}_{index}_{edge}"


def _week_form(rules: list[AvailabilityRule]) -> dict[int, list[dict[str, str]]]:
    week: dict[int, list[dict[str, str]]] = {day: [] for day in WEEKDAYS}
    for rule in rules:
        week[rule.weekday].append({"start": format_clock(rule.start_time), "end": format_clock(rule.end_time)})
    for ranges in week.values():
        ranges.extend({"start": "", "end": ""} for _ in range(RANGES_SHOWN - len(ranges)))
    return week


def _clock(value: str) -> time | None:
    if not CLOCK.match(value):
        return None
    try:
        return parse_clock(value)
    except ValueError:
        return None


def _read_week(
    form: Any, t: dict[str, str]
) -> tuple[dict[int, list[dict[str, str]]], list[availability.WeeklyWindow], dict[str, str]]:
    """The typed ranges (kept as typed), the windows they make, and an error per field."""
    week: dict[int, list[dict[str, str]]] = {}
    windows: list[availability.WeeklyWindow] = []
    errors: dict[str, str] = {}
    for day in WEEKDAYS:
        week[day] = []
        for index in range(MAX_RANGES):
            start_name, end_name = _name(day, index, "start"), _name(day, index, "end")
            if index >= RANGES_SHOWN and start_name not in form and end_name not in form:
                break
            start_text = str(form.get(start_name, "")).strip()[:8]
            end_text = str(form.get(end_name, "")).strip()[:8]
            week[day].append({"start": start_text, "end": end_text})
            if not start_text and not end_text:
                continue
            start, end = _clock(start_text), _clock(end_text)
            if start is None:
                errors[start_name] = t["time_missing"] if not start_text else t["time_invalid"]
            if end is None:
                errors[end_name] = t["time_missing"] if not end_text else t["time_invalid"]
            if start is None or end is None:
                continue
            if end <= start:
                errors[end_name] = t["end_before_start"]
                continue
            for other in (w for w in windows if w.weekday == day):
                if start < other.end and other.start < end:
                    errors[start_name] = t["overlap"]
                    break
            else:
                windows.append(availability.WeeklyWindow(day, start, end))
    return week, windows, errors


async def _overrides(
    db_session: DbSession, me: Me, now: datetime, zone: ZoneInfo, language: str
) -> dict[OverrideKind, list[AbsenceRow]]:
    """The coming absences and extra hours, each as from-to in the specialist's zone."""
    found = await availability.list_overrides(
        db_session, me.actor, me.actor.user_id, start=now, end=now + ABSENCES_AHEAD
    )
    return {
        kind: [
            AbsenceRow(
                str(o.id), " ".join(when(o.starts_at, zone, language)), " ".join(when(o.ends_at, zone, language))
            )
            for o in found
            if o.kind is kind
        ]
        for kind in OverrideKind
    }


async def _page(
    visit: Visit,
    db_session: DbSession,
    me: Me,
    *,
    status: int = 200,
    week: dict[int, list[dict[str, str]]] | None = None,
    errors: dict[str, str] | None = None,
    absence: dict[str, str] | None = None,
    absence_errors: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
    extra_errors: dict[str, str] | None = None,
    calendar_form: dict[str, str] | None = None,
    calendar_errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response[Any]:
    specialist, rules = await availability.weekly_availability(db_session, me.actor, me.actor.user_id)
    zone = ZoneInfo(specialist.timezone)
    now = current_time(visit.request.app.state)
    overrides = await _overrides(db_session, me, now, zone, visit.language)
    connected = await calendars.calendar_status(db_session, me.actor, me.actor.user_id, now=now)
    return visit.page(
        "staff_availability.html.j2",
        status=status,
        me=me,
        active="availability",
        timezone=specialist.timezone,
        week=week if week is not None else _week_form(rules),
        errors=errors or {},
        absences=overrides[OverrideKind.absence],
        absence=absence or {"start": "", "end": ""},
        absence_errors=absence_errors or {},
        extras=overrides[OverrideKind.extra],
        extra=extra or {"start": "", "end": ""},
        extra_errors=extra_errors or {},
        calendar=_calendar_view(connected, zone, visit.language, visit.t["availability"]["calendar_reasons"]),
        calendar_form=calendar_form or {"kind": "caldav", "url": "", "username": ""},
        calendar_errors=calendar_errors or {},
        notice=notice,
    )


@dataclass(frozen=True, slots=True)
class CalendarView:
    kind: str
    url: str
    username: str | None
    synced: str | None
    """When the calendar was last read successfully, in the specialist's zone."""
    error: str | None
    error_at: str | None
    busy_ahead: int


def _calendar_view(
    status: calendars.CalendarStatus, zone: ZoneInfo, language: str, reasons: dict[str, str]
) -> CalendarView | None:
    source = status.source
    if source is None:
        return None

    def shown(instant: datetime | None) -> str | None:
        return " ".join(when(instant, zone, language)) if instant is not None else None

    return CalendarView(
        kind=source.kind.value,
        url=source.shown_url,
        username=source.username,
        synced=shown(source.last_synced_at),
        error=_reason_shown(source.last_error, reasons, language),
        error_at=shown(source.last_error_at),
        busy_ahead=status.busy_ahead,
    )


def _reason_shown(stored: str | None, reasons: dict[str, str], language: str) -> str | None:
    """Why the calendar could not be read, in the reader's language; a reason of no known kind as stored."""
    reason = fetch.reason_of(stored) if stored else None
    if reason is None:
        return stored
    code, values = reason
    limits = {
        "megabytes": str(fetch.MAX_BYTES // (1024 * 1024)),
        "occurrences": format_decimal(fetch.MAX_OCCURRENCES, locale=babel_locale(language)),
    }
    return reasons[code].format(**limits, **values)


@get("/availability", opt=PAGE, include_in_schema=False)
async def availability_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    t = visit.t["availability"]
    saved = request.query_params.get("saved")
    notice = {
        "hours": t["saved"],
        "absence": t["absence_saved"],
        "extra": t["extra_saved"],
        "removed": t["removed"],
        "calendar": t["calendar_saved"],
        "calendar_read": t["calendar_read"],
        "calendar_removed": t["calendar_removed"],
    }.get(str(saved))
    return await _page(visit, db_session, me, notice=notice)


@post("/availability", opt=PAGE, include_in_schema=False, status_code=200)
async def save_weekly_hours(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``PUT /api/v1/specialists/{id}/availability`` as a form: the week's ranges in the specialist's zone."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.specialist)
    t = visit.t["availability"]
    week, windows, errors = _read_week(form, t)
    if errors:
        return await _page(visit, db_session, me, status=422, week=week, errors=errors)
    specialist = await db_session.get(User, me.actor.user_id)
    timezone = specialist.timezone if specialist is not None else me.timezone
    try:
        await availability.set_weekly_availability(
            db_session, me.actor, me.actor.user_id, timezone=timezone, weekly=windows
        )
    except InvalidInput:
        await db_session.rollback()
        return await _page(visit, db_session, me, status=422, week=week, errors={"weekly": t["invalid"]})
    return redirect("/availability?saved=hours", visit)


def _local_instant(value: str, zone: ZoneInfo) -> datetime | None:
    if not LOCAL_DATETIME.match(value):
        return None
    try:
        return datetime.fromisoformat(value).replace(tzinfo=zone)
    except ValueError:
        return None


async def _add_override(request: Request[Any, Any, Any], db_session: DbSession, kind: OverrideKind) -> Response[Any]:
    """``POST /api/v1/specialists/{id}/overrides`` as a form: from and to in the specialist's zone."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.specialist)
    t = visit.t["availability"]
    prefix = kind.value
    kept = {edge: str(form.get(f"{prefix}_{edge}", "")).strip()[:20] for edge in ("start", "end")}
    specialist = await db_session.get(User, me.actor.user_id)
    zone = ZoneInfo(specialist.timezone if specialist is not None else me.timezone)
    start, end = _local_instant(kept["start"], zone), _local_instant(kept["end"], zone)
    errors: dict[str, str] = {}
    for edge, value in (("start", start), ("end", end)):
        if value is None:
            errors[f"{prefix}_{edge}"] = t["datetime_missing"] if not kept[edge] else t["datetime_invalid"]
    if start is not None and end is not None and end <= start:
        errors[f"{prefix}_end"] = t["end_before_start"]
    if errors or start is None or end is None:
        if kind is OverrideKind.absence:
            return await _page(visit, db_session, me, status=422, absence=kept, absence_errors=errors)
        return await _page(visit, db_session, me, status=422, extra=kept, extra_errors=errors)
    await availability.add_override(db_session, me.actor, me.actor.user_id, starts_at=start, ends_at=end, kind=kind)
    anchor = "absences" if kind is OverrideKind.absence else "extra"
    return redirect(f"/availability?saved={prefix}#{anchor}", visit)


@post("/availability/absences", opt=PAGE, include_in_schema=False, status_code=200)
async def add_absence(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """An absence (holiday, illness): no slots are offered in it."""
    return await _add_override(request, db_session, OverrideKind.absence)


@post("/availability/extra", opt=PAGE, include_in_schema=False, status_code=200)
async def add_extra_hours(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """Extra hours beyond the weekly ones (a Saturday, a long evening): slots are offered in them too."""
    return await _add_override(request, db_session, OverrideKind.extra)


@post("/availability/overrides/{override_id:uuid}/delete", opt=PAGE, include_in_schema=False, status_code=303)
async def remove_override(
    override_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """``DELETE /api/v1/specialists/{id}/overrides/{override_id}`` as a button: an absence or extra hours go."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.specialist)
    await availability.remove_override(db_session, me.actor, me.actor.user_id, override_id)
    return redirect("/availability?saved=removed", visit)


# --- the connected calendar ------------------------------------------------------------------------------


def _keys(visit: Visit) -> KeyRing:
    keys: KeyRing = visit.request.app.state.key_ring
    return keys


@post("/availability/calendar", opt=PAGE, include_in_schema=False, status_code=200)
async def connect_calendar(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``PUT /api/v1/specialists/{id}/calendar`` as a form, then read at once (``POST .../calendar/sync``)."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.specialist)
    t = visit.t["availability"]
    kept = {name: str(form.get(name, "")).strip()[:2000] for name in ("kind", "url", "username")}
    password = str(form.get("password", ""))[:500] or None
    errors: dict[str, str] = {}
    if kept["kind"] not in ("caldav", "ics"):
        errors["calendar_kind"] = t["calendar_kind_missing"]
    if not kept["url"]:
        errors["calendar_url"] = t["calendar_url_missing"]
    if not errors:
        try:
            await calendars.connect(
                db_session,
                me.actor,
                _keys(visit),
                me.actor.user_id,
                kind=CalendarKind(kept["kind"]),
                url=kept["url"],
                username=kept["username"] or None,
                password=password,
                now=current_time(request.app.state),
            )
        except InvalidInput as error:
            await db_session.rollback()
            field = "calendar_username" if error.field == "username" else "calendar_url"
            errors[field] = t["calendar_username_missing"] if error.field == "username" else t["calendar_url_invalid"]
    if errors:
        return await _page(visit, db_session, me, status=422, calendar_form=kept, calendar_errors=errors)
    now = current_time(request.app.state)
    await sync_now(db_session, me.actor, request.app.state, me.actor.user_id, now=now)
    return redirect("/availability?saved=calendar#calendar", visit)


@post("/availability/calendar/sync", opt=PAGE, include_in_schema=False, status_code=303)
async def sync_calendar(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``POST /api/v1/specialists/{id}/calendar/sync`` as a button: read the calendar now."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.specialist)
    await sync_now(db_session, me.actor, request.app.state, me.actor.user_id, now=current_time(request.app.state))
    return redirect("/availability?saved=calendar_read#calendar", visit)


@post("/availability/calendar/delete", opt=PAGE, include_in_schema=False, status_code=303)
async def disconnect_calendar(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``DELETE /api/v1/specialists/{id}/calendar`` as a button: its busy times stop counting at once."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.specialist)
    await calendars.disconnect(db_session, me.actor, me.actor.user_id)
    return redirect("/availability?saved=calendar_removed#calendar", visit)


routes = Router(
    path="/",
    route_handlers=[
        availability_page,
        save_weekly_hours,
        add_absence,
        add_extra_hours,
        remove_override,
        connect_calendar,
        sync_calendar,
        disconnect_calendar,
    ],
    exception_handlers=PAGE_ERRORS,
)
