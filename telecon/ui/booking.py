"""The coach's booking pages: a week grid of free slots, booking one, and the consultation page with its
cancel and reschedule forms.

Like the API, every page calls the scheduling services (``read_slots``, ``book_consultation``,
``get_consultation``, ``cancel_consultation``, ``reschedule_consultation``) with the policy from the app's state
and the app's clock. A slot another booker took meanwhile (``Conflict`` on ``start``) shows the grid again,
refreshed, with the typed values kept; every other invalid value is named next to its field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from telecon.dates import babel_locale
from telecon.db import end_reads
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession, User
from telecon.participants import services as participants
from telecon.scheduling import availability
from telecon.scheduling import services as scheduling
from telecon.scheduling.booking import Guest, book_consultation
from telecon.scheduling.models import AttendeeKind, ConsultationStatus, ConsultationType
from telecon.scheduling.schemas import latest_deliveries
from telecon.scheduling.services import SchedulingPolicy, visible_join_url
from telecon.schemas import Email, Language, Name, Text
from telecon.templating import languages
from telecon.ui.routes import PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.ui.views import when
from telecon.web import DbSession, current_time

BOOKERS = scheduling.BOOKERS
TAKEN = 409


@dataclass(slots=True)
class SlotButton:
    value: str
    """``<specialist id>|<start in UTC, ISO 8601>``: what the button sends as ``slot``."""
    time: str
    label: str
    """The button's accessible name: day, time and (searching by profession) the specialist."""
    specialist: str


@dataclass(slots=True)
class SlotDay:
    label: str
    slots: list[SlotButton] = field(default_factory=list)


@dataclass(slots=True)
class Week:
    """One week of free slots in the reader's zone, with links to the weeks before and after."""

    label: str
    monday: str
    """The week's Monday, ISO: sent with a slot so that a refused one shows the same week again."""
    days: list[SlotDay]
    previous: str
    next: str
    count: int


@dataclass(slots=True)
class BookingForm:
    """What the coach chose and typed, as strings: shown again exactly as sent."""

    participant_id: str = ""
    consultation_type_id: str = ""
    profession: str = ""
    specialist_id: str = ""
    week: str = ""
    purpose: str = ""
    guest_name: str = ""
    guest_email: str = ""
    guest_language: str = "de"
    invite_coach: bool = False

    @classmethod
    def of(cls, values: Any) -> BookingForm:
        def text(name: str, default: str = "") -> str:
            return str(values.get(name) or default)[:4000]

        return cls(
            participant_id=text("participant_id").strip(),
            consultation_type_id=text("consultation_type_id").strip(),
            profession=text("profession").strip(),
            specialist_id=text("specialist_id").strip(),
            week=text("week").strip(),
            purpose=text("purpose"),
            guest_name=text("guest_name").strip(),
            guest_email=text("guest_email").strip(),
            guest_language=text("guest_language", "de").strip(),
            invite_coach=values.get("invite_coach") in ("1", "on", "true"),
        )

    def search(self, **changes: str) -> str:
        """The query of ``GET /book`` for this search (a week link keeps the choices)."""
        query = {
            "participant_id": self.participant_id,
            "consultation_type_id": self.consultation_type_id,
            "profession": self.profession,
            "specialist_id": self.specialist_id,
            "week": self.week,
        } | changes
        return "/book?" + urlencode({k: v for k, v in query.items() if v})


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _valid(value: str, wire: Any) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


def _monday(value: str, today: date) -> date:
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - timedelta(days=day.weekday())


async def _reader_zone(db_session: DbSession, me: Me) -> ZoneInfo:
    """Times on these pages are in the coach's own zone (their account's), not the organization's."""
    user = await db_session.get_one(User, me.actor.user_id)
    return ZoneInfo(user.timezone)


def _parse_slot(value: str) -> tuple[uuid.UUID, datetime] | None:
    specialist, _, start = value.partition("|")
    specialist_id = _uuid(specialist)
    try:
        starts_at = datetime.fromisoformat(start)
    except ValueError:
        return None
    if specialist_id is None or starts_at.tzinfo is None:
        return None
    return specialist_id, starts_at


async def _week_of_slots(
    db_session: DbSession,
    state: State,
    me: Me,
    zone: ZoneInfo,
    language: str,
    *,
    consultation_type_id: uuid.UUID,
    monday: date,
    specialist_id: uuid.UUID | None,
    profession: Profession | None,
    names: dict[uuid.UUID, str],
    link: Any,
) -> Week:
    policy: SchedulingPolicy = state.scheduling_policy
    start = datetime.combine(monday, time(0), tzinfo=zone)
    search = await scheduling.read_slots(
        db_session,
        me.actor.organization_id,
        policy,
        consultation_type_id=consultation_type_id,
        start=start,
        end=datetime.combine(monday + timedelta(days=7), time(0), tzinfo=zone),
        specialist_id=specialist_id,
        profession=profession,
        now=current_time(state),
    )
    await end_reads(db_session)  # no connection held while a profession's week is computed and rendered
    found = search.slots()
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        label = when(datetime.combine(day, time(12), tzinfo=zone), zone, language)[0]
        slots = []
        for slot in found:
            if slot.start.astimezone(zone).date() != day:
                continue
            _, clock = when(slot.start, zone, language)
            who = names.get(slot.specialist_id, "") if profession is not None else ""
            slots.append(
                SlotButton(
                    value=f"{slot.specialist_id}|{slot.start.astimezone(ZoneInfo('UTC')).isoformat()}",
                    time=clock,
                    label=", ".join(p for p in (label, clock, who) if p),
                    specialist=who,
                )
            )
        days.append(SlotDay(label, slots))
    week_label = when(start + timedelta(hours=12), zone, language)[0]
    return Week(
        label=week_label,
        monday=monday.isoformat(),
        days=days,
        previous=link(str(monday - timedelta(days=7))),
        next=link(str(monday + timedelta(days=7))),
        count=len(found),
    )


# --- choosing and booking a slot -----------------------------------------------------------------


async def _book_page(
    request: Request[Any, Any, Any],
    db_session: DbSession,
    state: State,
    visit: Visit,
    me: Me,
    form: BookingForm,
    *,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
) -> Response[Any]:
    t = visit.t["book"]
    errors = dict(errors or {})
    zone = await _reader_zone(db_session, me)
    participant_id = _uuid(form.participant_id)
    if participant_id is None:
        found = await participants.list_participants(db_session, me.actor)
        if form.participant_id:
            errors["participant_id"] = t["participant_missing"]
        return visit.page(
            "staff_book_participant.html.j2",
            status=422 if form.participant_id else status,
            me=me,
            active="book",
            participants=[(str(p.id), p.display_name) for p in found],
            errors=errors,
        )
    participant = await participants.get_participant(db_session, me.actor, participant_id)
    types = await availability.list_consultation_types(db_session, me.actor)
    specialists = await organizations.list_specialists(db_session, me.actor.organization_id)
    names = {s.id: s.display_name for s in specialists}
    # A search was asked for only if the coach chose something; a single type is preselected, not chosen.
    searched = bool(form.consultation_type_id or form.specialist_id or form.profession)
    if not form.consultation_type_id and len(types) == 1:
        form.consultation_type_id = str(types[0].id)
    today = current_time(state).astimezone(zone).date()
    monday = _monday(form.week, today)
    form.week = str(monday)
    week = None
    type_id = _uuid(form.consultation_type_id)
    specialist_id = _uuid(form.specialist_id) if form.specialist_id else None
    profession = form.profession if form.profession in Profession.__members__ else None
    if form.consultation_type_id and (type_id is None or type_id not in {c.id for c in types}):
        errors["consultation_type_id"] = t["type_missing"]
    if form.specialist_id and specialist_id not in names:
        errors["specialist_id"] = t["specialist_missing"]
    if form.profession and profession is None:
        errors["profession"] = t["profession_missing"]
    if specialist_id is not None and profession is not None:
        errors["specialist_id"] = t["either"]
    if searched and specialist_id is None and profession is None and "specialist_id" not in errors:
        errors["specialist_id"] = t["either"]
    chosen = specialist_id is not None or profession is not None
    if type_id is not None and chosen and not {"consultation_type_id", "specialist_id", "profession"} & errors.keys():
        week = await _week_of_slots(
            db_session,
            state,
            me,
            zone,
            visit.language,
            consultation_type_id=type_id,
            monday=monday,
            specialist_id=specialist_id,
            profession=Profession(profession) if profession else None,
            names=names,
            link=lambda day: form.search(week=day),
        )
    if errors and status == 200:
        status = 422
    return visit.page(
        "staff_book.html.j2",
        status=status,
        me=me,
        active="book",
        form=form,
        participant=participant.display_name,
        types=[(str(c.id), c.name, c.duration_minutes) for c in types],
        professions=[(p.value, visit.t["professions"][p.value]) for p in Profession],
        specialists=[
            (str(s.id), s.display_name, visit.t["professions"].get(s.profession or "", "")) for s in specialists
        ],
        guest_languages=_guest_languages(visit.language),
        week=week,
        errors=errors,
        alert=alert,
        this_week=form.search(week=""),
    )


def _guest_languages(reader: str) -> list[tuple[str, str]]:
    shown = []
    for code in sorted(languages()):
        name = babel_locale(code).get_display_name(babel_locale(reader)) or code
        if "-x-simple" in code:
            name += " (" + ("Leichte Sprache" if reader == "de" else "easy language") + ")"
        shown.append((code, name))
    return shown


@get("/book", opt={"public": True, "roles": BOOKERS}, include_in_schema=False)
async def book_page(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """Choose a participant (unless given), a consultation type and a profession or a specialist, then a slot."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *BOOKERS)
    return await _book_page(request, db_session, state, visit, me, BookingForm.of(request.query_params))


@post("/book", opt={"public": True, "roles": BOOKERS}, include_in_schema=False, status_code=303)
async def book(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """Book the slot whose button was pressed; a slot taken meanwhile shows the refreshed grid instead."""
    visit = Visit.of(request)
    sent = await request.form()
    visit.check_form(sent)
    me = await require_me(db_session, visit, *BOOKERS)
    form = BookingForm.of(sent)
    t = visit.t["book"]
    errors: dict[str, str] = {}
    participant_id = _uuid(form.participant_id)
    type_id = _uuid(form.consultation_type_id)
    slot = _parse_slot(str(sent.get("slot") or ""))
    if participant_id is None:
        errors["participant_id"] = t["participant_missing"]
    if type_id is None:
        errors["consultation_type_id"] = t["type_missing"]
    if slot is None:
        errors["slot"] = t["slot_missing"]
    if form.purpose and not _valid(form.purpose, Text):
        errors["purpose"] = t["purpose_invalid"]
    guests = []
    if form.guest_name or form.guest_email:
        if not _valid(form.guest_name, Name):
            errors["guest_name"] = t["guest_name_missing"]
        if form.guest_email and not _valid(form.guest_email, Email):
            errors["guest_email"] = t["guest_email_invalid"]
        if not _valid(form.guest_language, Language) or form.guest_language not in languages():
            errors["guest_language"] = t["guest_language_invalid"]
        guests.append(Guest(form.guest_name, form.guest_email or None, form.guest_language))
    if errors or participant_id is None or type_id is None or slot is None:
        return await _book_page(request, db_session, state, visit, me, form, errors=errors)
    specialist_id, starts_at = slot
    try:
        booked = await book_consultation(
            db_session,
            me.actor,
            state.scheduling_policy,
            participant_id=participant_id,
            specialist_id=specialist_id,
            consultation_type_id=type_id,
            starts_at=starts_at,
            purpose=form.purpose.strip() or None,
            invite_coach=form.invite_coach,
            guests=guests,
            now=current_time(state),
        )
    except (Conflict, InvalidInput) as refused:
        await db_session.rollback()
        if refused.field == "start":
            return await _book_page(request, db_session, state, visit, me, form, alert=t["taken"], status=TAKEN)
        if refused.field == "participant_id":
            errors["participant_id"] = t["no_consent"]
        elif refused.field == "specialist_id":
            errors["specialist_id"] = t["specialist_unsuitable"]
        else:
            raise
        return await _book_page(request, db_session, state, visit, me, form, errors=errors)
    return redirect(f"/consultations/{booked.view.consultation.id}", visit)


# --- one consultation: what it is, cancelling, moving --------------------------------------------


@dataclass(frozen=True, slots=True)
class AttendeeLine:
    kind: str
    name: str
    delivery: str | None
    join_url: str | None


async def _consultation_page(
    db_session: DbSession,
    state: State,
    visit: Visit,
    me: Me,
    consultation_id: uuid.UUID,
    *,
    week_value: str = "",
    reason: str = "",
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    notice: str | None = None,
    status: int = 200,
) -> Response[Any]:
    policy: SchedulingPolicy = state.scheduling_policy
    view = await scheduling.get_consultation(db_session, me.actor, consultation_id)
    consultation = view.consultation
    zone = await _reader_zone(db_session, me)
    deliveries = latest_deliveries(view.notifications)
    attendees = [
        AttendeeLine(
            kind=a.kind.value,
            name=a.name,
            delivery=deliveries[a.id].status.value if a.id in deliveries else None,
            join_url=visible_join_url(policy.links, me.actor, a),
        )
        for a in view.attendees
    ]
    consultation_type = await db_session.get(ConsultationType, consultation.consultation_type_id)
    specialist = next((a.name for a in view.attendees if a.kind is AttendeeKind.specialist), "")
    participant = next((a for a in attendees if a.kind == AttendeeKind.participant.value), None)
    day, clock = when(consultation.starts_at, zone, visit.language)
    _, until = when(consultation.ends_at, zone, visit.language)
    week = None
    scheduled = consultation.status is ConsultationStatus.scheduled
    monday = _monday(week_value, consultation.starts_at.astimezone(zone).date())
    if scheduled and view.specialist_available:

        def link(day_value: str) -> str:
            return f"/consultations/{consultation.id}?{urlencode({'week': day_value})}"

        try:
            week = await _week_of_slots(
                db_session,
                state,
                me,
                zone,
                visit.language,
                consultation_type_id=consultation.consultation_type_id,
                monday=monday,
                specialist_id=consultation.specialist_id,
                profession=None,
                names={},
                link=link,
            )
        except NotFound:  # the specialist left meanwhile: no slots to move to
            week = None
    return visit.page(
        "staff_book_consultation.html.j2",
        status=status,
        me=me,
        active="book",
        id=str(consultation.id),
        day=day,
        time=clock,
        until=until,
        status_value=consultation.status.value,
        type_name=consultation_type.name if consultation_type else "",
        specialist=specialist,
        specialist_available=view.specialist_available,
        purpose=consultation.purpose,
        cancel_reason=consultation.cancel_reason,
        attendees=attendees,
        participant_link=participant.join_url if participant else None,
        scheduled=scheduled,
        week=week,
        reason=reason,
        errors=errors or {},
        alert=alert,
        notice=notice,
    )


@get("/consultations/{consultation_id:uuid}", opt={"public": True, "roles": BOOKERS}, include_in_schema=False)
async def consultation_page(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    """When, who, the status, each attendee's invitation and the participant's link; cancel and reschedule."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *BOOKERS)
    done = request.query_params.get("done")
    notice = visit.t["consultation"]["done"].get(done) if done else None
    return await _consultation_page(
        db_session,
        state,
        visit,
        me,
        consultation_id,
        week_value=request.query_params.get("week", ""),
        notice=notice,
    )


@post(
    "/consultations/{consultation_id:uuid}/cancel",
    opt={"public": True, "roles": BOOKERS},
    include_in_schema=False,
    status_code=303,
)
async def cancel(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    visit = Visit.of(request)
    sent = await request.form()
    visit.check_form(sent)
    me = await require_me(db_session, visit, *BOOKERS)
    t = visit.t["consultation"]
    reason = str(sent.get("reason") or "")[:4001]
    if reason.strip() and not _valid(reason, Text):
        return await _consultation_page(
            db_session,
            state,
            visit,
            me,
            consultation_id,
            reason=reason,
            errors={"reason": t["reason_invalid"]},
            status=422,
        )
    try:
        await scheduling.cancel_consultation(
            db_session, me.actor, consultation_id, reason=reason.strip() or None, now=current_time(state)
        )
    except Conflict:
        await db_session.rollback()
        return await _consultation_page(
            db_session, state, visit, me, consultation_id, alert=t["not_scheduled"], status=409
        )
    return redirect(f"/consultations/{consultation_id}?done=cancelled", visit)


@post(
    "/consultations/{consultation_id:uuid}/reschedule",
    opt={"public": True, "roles": BOOKERS},
    include_in_schema=False,
    status_code=303,
)
async def reschedule(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    visit = Visit.of(request)
    sent = await request.form()
    visit.check_form(sent)
    me = await require_me(db_session, visit, *BOOKERS)
    t = visit.t["consultation"]
    week_value = str(sent.get("week") or "")[:10]
    slot = _parse_slot(str(sent.get("slot") or ""))
    if slot is None:
        return await _consultation_page(
            db_session, state, visit, me, consultation_id, week_value=week_value, alert=t["slot_missing"], status=422
        )
    try:
        await scheduling.reschedule_consultation(
            db_session, me.actor, state.scheduling_policy, consultation_id, starts_at=slot[1], now=current_time(state)
        )
    except (Conflict, InvalidInput) as refused:
        await db_session.rollback()
        alert = visit.t["book"]["taken"] if refused.field == "start" else t["not_scheduled"]
        return await _consultation_page(
            db_session, state, visit, me, consultation_id, week_value=week_value, alert=alert, status=409
        )
    return redirect(f"/consultations/{consultation_id}?done=rescheduled", visit)


routes = Router(
    path="/",
    route_handlers=[book_page, book, consultation_page, cancel, reschedule],
    exception_handlers=PAGE_ERRORS,
)
