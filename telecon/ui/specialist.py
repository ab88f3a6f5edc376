"""The specialist's pages: the agenda over every organization they serve, the outcome form, their own clinical
notes and their calendar feed.

A specialist may serve several organizations (a network's shared specialist) while the session names one.
Whatever crosses organizations is built from the same service functions the API calls, once per active
specialist membership, each with an ``Actor`` of that organization: no query of its own crosses tenants. A
consultation is found through the membership whose services find it; nobody else's is ever found (404).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from sqlalchemy import select

from telecon.access import Actor, Role
from telecon.crypto import KeyRing
from telecon.errors import Conflict, NotFound
from telecon.notifications import feeds
from telecon.notifications.feeds import FeedPolicy
from telecon.organizations import services as organizations
from telecon.organizations.models import User
from telecon.outcomes import services as outcomes
from telecon.outcomes.models import Attendance, RecommendationCode, WorkCapacity
from telecon.outcomes.schemas import OutcomeIn, RecommendationIn
from telecon.outcomes.services import OutcomeView
from telecon.scheduling import services as scheduling
from telecon.scheduling.models import Attendee, AttendeeKind, Consultation, ConsultationStatus, ConsultationType
from telecon.scheduling.services import SchedulingPolicy
from telecon.templating import texts
from telecon.ui.routes import FOLLOW_UP_DAYS, PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.ui.views import ConsultationRow, consultation_rows, when
from telecon.web import DbSession, current_time

PAGE = {"public": True, "roles": (Role.specialist,)}
AGENDA_DAYS = 28
NOTES_SHOWN = 100
"""The most outcomes the notes page lists (the most recently saved ones)."""
SECRET_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
"""Pages with health data or the feed's secret URL: never stored, never named in a referrer."""
TEXT_FIELDS = ("summary_for_coach", "clinical_notes")
WIRE_TYPES = {f.name: f.type for f in msgspec.structs.fields(OutcomeIn)}
"""Each field's type as the API declares it: the form checks every field against the same constraints."""
RECOMMENDATION_TEXT = {f.name: f.type for f in msgspec.structs.fields(RecommendationIn)}["text"]


# --- the organizations a specialist serves -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Serving:
    """One active specialist membership: the actor the services take for it, and the organization's name."""

    actor: Actor
    organization: str


async def serving(db_session: DbSession, me: Me) -> list[Serving]:
    """The signed-in specialist's active specialist memberships (``memberships_of``), the session's first."""
    found = [
        Serving(Actor(me.actor.user_id, organization.id, Role.specialist, me.actor.remote_address), organization.name)
        for membership, organization in await organizations.memberships_of(db_session, me.actor.user_id)
        if membership.role is Role.specialist
    ]
    return sorted(found, key=lambda s: s.actor.organization_id != me.actor.organization_id)


async def own_consultation(
    db_session: DbSession, me: Me, consultation_id: uuid.UUID
) -> tuple[Serving, scheduling.ConsultationView]:
    """The consultation with the membership whose services show it to the specialist: their own only, else 404."""
    for membership in await serving(db_session, me):
        try:
            return membership, await scheduling.get_consultation(db_session, membership.actor, consultation_id)
        except NotFound:
            continue
    raise NotFound("no such consultation", field="consultation_id")


async def _zone(db_session: DbSession, me: Me) -> ZoneInfo:
    """The specialist's own zone: their times are read where they work, whichever organization booked."""
    user = await db_session.get(User, me.actor.user_id)
    return ZoneInfo(user.timezone if user is not None else me.timezone)


def _keys(state: State) -> KeyRing:
    keys: KeyRing = state.key_ring
    return keys


# --- the agenda --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class AgendaRow:
    row: ConsultationRow
    starts_at: datetime
    organization: str
    join_url: str | None = None
    outcome_owed: bool = False
    outcome_open: bool = False
    """The consultation has started and is not cancelled: the outcome form takes an outcome."""


@get("/specialist", opt=PAGE, include_in_schema=False)
async def specialist_home(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """The agenda over every organization the specialist serves: upcoming, the last 14 days, outcomes owed."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    zone = await _zone(db_session, me)
    now = current_time(state)
    policy: SchedulingPolicy = state.scheduling_policy
    found: list[tuple[Consultation, bool]] = []
    owed: list[tuple[Consultation, bool]] = []
    actor_of: dict[uuid.UUID, Serving] = {}
    for membership in await serving(db_session, me):
        actor = membership.actor
        actor_of[actor.organization_id] = membership
        found += await scheduling.list_consultations(
            db_session, actor, start=now - timedelta(days=FOLLOW_UP_DAYS), end=now + timedelta(days=AGENDA_DAYS)
        )
        owed += await outcomes.missing_outcomes(db_session, actor, now=now)
    owed_ids = {c.id for c, _ in owed}
    shown = {c.id for c, _ in found}
    every = found + [(c, a) for c, a in owed if c.id not in shown]
    rows = {
        r.id: r
        for r in await consultation_rows(db_session, every, zone=zone, language=visit.language, with_deliveries=False)
    }
    own_links = {
        a.consultation_id: a
        for a in await db_session.scalars(
            select(Attendee).where(
                Attendee.consultation_id.in_([c.id for c, _ in found if c.ends_at > now]),
                Attendee.kind == AttendeeKind.specialist,
                Attendee.user_id == me.actor.user_id,
            )
        )
    }

    def agenda_row(consultation: Consultation) -> AgendaRow:
        membership = actor_of[consultation.organization_id]
        attendee = own_links.get(consultation.id)
        scheduled = consultation.status is ConsultationStatus.scheduled
        return AgendaRow(
            row=rows[consultation.id],
            starts_at=consultation.starts_at,
            organization=membership.organization,
            join_url=scheduling.visible_join_url(policy.links, membership.actor, attendee)
            if attendee is not None and scheduled
            else None,
            outcome_owed=consultation.id in owed_ids,
            outcome_open=consultation.starts_at <= now and consultation.status is not ConsultationStatus.cancelled,
        )

    upcoming = sorted((agenda_row(c) for c, _ in found if c.ends_at > now), key=lambda r: r.starts_at)
    past = sorted((agenda_row(c) for c, _ in found if c.ends_at <= now), key=lambda r: r.starts_at, reverse=True)
    missing = sorted((agenda_row(c) for c, _ in owed), key=lambda r: r.starts_at)
    return visit.page(
        "staff_specialist.html.j2",
        me=me,
        active="specialist",
        timezone=str(zone),
        organizations=[m.organization for m in actor_of.values()],
        upcoming=upcoming,
        recent=past,
        missing=missing,
    )


# --- the outcome form --------------------------------------------------------------------------------------


@dataclass(slots=True)
class OutcomeForm:
    """The form's values as typed (strings), so that a refused form shows them again."""

    attendance: str = ""
    recommendations: list[str] = field(default_factory=list)
    texts: dict[str, str] = field(default_factory=dict)
    work_capacity: str = WorkCapacity.not_assessed.value
    follow_up_weeks: str = ""
    summary_for_coach: str = ""
    clinical_notes: str = ""

    @classmethod
    def of(cls, view: OutcomeView) -> OutcomeForm:
        return cls(
            attendance=view.attendance.value,
            recommendations=[r.code for r in view.recommendations or []],
            texts={r.code: r.text or "" for r in view.recommendations or []},
            work_capacity=(view.work_capacity or WorkCapacity.not_assessed).value,
            follow_up_weeks="" if view.follow_up_weeks is None else str(view.follow_up_weeks),
            summary_for_coach=view.summary_for_coach or "",
            clinical_notes=view.clinical_notes or "",
        )


def _typed(form: Any, name: str, limit: int = 8000) -> str:
    """A field's value as typed, line ends as the API takes them, cut far beyond any valid length."""
    return str(form.get(name, "")).replace("\r\n", "\n")[:limit].strip()


def _fits(value: Any, wire: Any) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


def read_outcome_form(form: Any, t: dict[str, str]) -> tuple[OutcomeForm, OutcomeIn | None, dict[str, str]]:
    """The typed values, the API's body they make (``None`` if invalid), and an error per field.

    Every field is checked against its type in ``OutcomeIn``, the API's body: the same rules, field by field.
    """
    codes = [str(c) for c in form.getall("recommendation", [])] if hasattr(form, "getall") else []
    typed = OutcomeForm(
        attendance=_typed(form, "attendance", 100),
        recommendations=[c for c in dict.fromkeys(codes) if c in set(RecommendationCode)],
        texts={c.value: _typed(form, f"rec-{c.value}-text") for c in RecommendationCode},
        work_capacity=_typed(form, "work_capacity", 100),
        follow_up_weeks=_typed(form, "follow_up_weeks", 100),
        summary_for_coach=_typed(form, "summary_for_coach"),
        clinical_notes=_typed(form, "clinical_notes"),
    )
    errors: dict[str, str] = {}
    if not typed.attendance:
        errors["attendance"] = t["attendance_missing"]
    elif not _fits(typed.attendance, WIRE_TYPES["attendance"]):
        errors["attendance"] = t["choice_invalid"]
    if len(typed.recommendations) != len(set(codes)):
        errors["recommendations"] = t["choice_invalid"]
    for code in typed.recommendations:
        if not _fits(typed.texts[code] or None, RECOMMENDATION_TEXT):
            errors[f"rec-{code}"] = t["text_invalid"]
    if not _fits(typed.work_capacity, WIRE_TYPES["work_capacity"]):
        errors["work_capacity"] = t["choice_invalid"]
    weeks: int | None = None
    if typed.follow_up_weeks:
        try:
            weeks = int(typed.follow_up_weeks)
        except ValueError:
            errors["follow_up_weeks"] = t["weeks_invalid"]
        else:
            if not _fits(weeks, WIRE_TYPES["follow_up_weeks"]):
                errors["follow_up_weeks"] = t["weeks_invalid"]
    for name in TEXT_FIELDS:
        if not _fits(getattr(typed, name) or None, WIRE_TYPES[name]):
            errors[name] = t["text_invalid"]
    if errors:
        return typed, None, errors
    body = {
        "attendance": typed.attendance,
        "summary_for_coach": typed.summary_for_coach or None,
        "recommendations": [{"code": c, "text": typed.texts[c] or None} for c in typed.recommendations],
        "work_capacity": typed.work_capacity,
        "follow_up_weeks": weeks,
        "clinical_notes": typed.clinical_notes or None,
    }
    try:
        return typed, msgspec.convert(body, OutcomeIn), {}
    except msgspec.ValidationError:  # a rule of the body as a whole, e.g. too many recommendations
        return typed, None, {"recommendations": t["choice_invalid"]}


async def _current_outcome(
    db_session: DbSession, actor: Actor, keys: KeyRing, consultation_id: uuid.UUID
) -> OutcomeView | None:
    """The saved outcome as its author sees it (an audited read), ``None`` before the first version."""
    try:
        return await outcomes.read_outcome(db_session, actor, keys, consultation_id)
    except NotFound:
        return None


async def _outcome_page(
    visit: Visit,
    db_session: DbSession,
    state: State,
    me: Me,
    consultation_id: uuid.UUID,
    *,
    status: int = 200,
    typed: OutcomeForm | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    notice: str | None = None,
    stale: bool = False,
) -> Response[Any]:
    membership, view = await own_consultation(db_session, me, consultation_id)
    consultation = view.consultation
    now = current_time(state)
    zone = await _zone(db_session, me)
    current = await _current_outcome(db_session, membership.actor, _keys(state), consultation.id)
    consultation_type = await db_session.get(ConsultationType, consultation.consultation_type_id)
    participant = next((a.name for a in view.attendees if a.kind is AttendeeKind.participant), "")
    t = visit.t["outcome"]
    closed = None
    if consultation.status is ConsultationStatus.cancelled:
        closed = t["cancelled"]
    elif now < consultation.starts_at:
        closed = t["not_started"]
    return visit.page(
        "staff_specialist_outcome.html.j2",
        status=status,
        headers=SECRET_HEADERS,
        me=me,
        active="specialist",
        f=texts(visit.language)["outcome_form"],
        id=str(consultation.id),
        organization=membership.organization,
        when=" ".join(when(consultation.starts_at, zone, visit.language)),
        timezone=str(zone),
        type_name=consultation_type.name if consultation_type else "",
        participant=participant,
        status_value=consultation.status.value,
        closed=closed,
        current=current,
        version=current.version if current else 0,
        form=typed or (OutcomeForm.of(current) if current else OutcomeForm()),
        stale=stale,
        errors=errors or {},
        alert=alert,
        notice=notice,
        attendance=[a.value for a in Attendance],
        recommendations=[c.value for c in RecommendationCode],
        work_capacity=sorted((w.value for w in WorkCapacity), key=lambda w: w != WorkCapacity.not_assessed),
    )


OUTCOME_PATH = "/consultations/{consultation_id:uuid}/outcome"


@get(OUTCOME_PATH, opt=PAGE, include_in_schema=False)
async def outcome_page(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    """The outcome form of one of the specialist's own consultations, filled with the saved version if any."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    saved = request.query_params.get("saved", "")
    notice = texts(visit.language)["outcome_form"]["saved"].format(version=saved) if saved.isdigit() else None
    return await _outcome_page(visit, db_session, state, me, consultation_id, notice=notice)


@post(OUTCOME_PATH, opt=PAGE, include_in_schema=False, status_code=200)
async def save_outcome(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    """``PUT /api/v1/consultations/{id}/outcome`` as a form, in the consultation's own organization.

    The form carries the version it showed: saved again meanwhile (another window, the join link), the
    specialist sees what is saved now next to what they typed, and decides.
    """
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.specialist)
    t = visit.t["outcome"]
    membership, _ = await own_consultation(db_session, me, consultation_id)
    typed, body, errors = read_outcome_form(form, t)
    if body is None:
        return await _outcome_page(
            visit,
            db_session,
            state,
            me,
            consultation_id,
            status=422,
            typed=typed,
            errors=errors,
            alert=texts(visit.language)["outcome_form"]["invalid"],
        )
    seen = str(form.get("version", ""))
    try:
        saved = await outcomes.record_outcome(
            db_session,
            membership.actor,
            _keys(state),
            consultation_id,
            body.data(),
            now=current_time(state),
            expected_version=int(seen) if seen.isdigit() else 0,
        )
    except outcomes.StaleOutcome as stale:
        alert = t["stale"].format(version=stale.current_version, next=stale.current_version + 1)
        return await _outcome_page(
            visit, db_session, state, me, consultation_id, status=409, typed=typed, alert=alert, stale=True
        )
    except Conflict:  # cancelled, or not started yet: the page says which
        return await _outcome_page(visit, db_session, state, me, consultation_id, status=409, typed=typed)
    return redirect(f"/consultations/{consultation_id}/outcome?saved={saved.version}", visit)


@get(OUTCOME_PATH + "/versions", opt=PAGE, include_in_schema=False)
async def outcome_versions_page(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    """Every version of the specialist's own outcome (``GET …/outcome/versions``), newest first."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    membership, view = await own_consultation(db_session, me, consultation_id)
    zone = await _zone(db_session, me)
    versions = await outcomes.outcome_versions(db_session, membership.actor, _keys(state), consultation_id)
    return visit.page(
        "staff_specialist_versions.html.j2",
        headers=SECRET_HEADERS,
        me=me,
        active="notes",
        f=texts(visit.language)["outcome_form"],
        id=str(consultation_id),
        organization=membership.organization,
        when=" ".join(when(view.consultation.starts_at, zone, visit.language)),
        participant=next((a.name for a in view.attendees if a.kind is AttendeeKind.participant), ""),
        versions=[(v, " ".join(when(v.recorded_at, zone, visit.language))) for v in reversed(versions)],
    )


# --- my clinical notes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteRow:
    outcome: OutcomeView
    row: ConsultationRow
    organization: str
    recorded: str


@get("/specialist/notes", opt=PAGE, include_in_schema=False)
async def notes_page(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """The specialist's own outcomes with their clinical notes, the most recently saved first; each read audited."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    zone = await _zone(db_session, me)
    found: list[tuple[Consultation, OutcomeView, str]] = []
    for membership in await serving(db_session, me):
        own = await outcomes.own_outcomes(db_session, membership.actor, _keys(state), limit=NOTES_SHOWN)
        found += [(c, view, membership.organization) for c, view in own]
    found = sorted(found, key=lambda f: f[1].recorded_at, reverse=True)[:NOTES_SHOWN]
    rows = {
        r.id: r
        for r in await consultation_rows(
            db_session, [(c, True) for c, _, _ in found], zone=zone, language=visit.language, with_deliveries=False
        )
    }
    return visit.page(
        "staff_specialist_notes.html.j2",
        headers=SECRET_HEADERS,
        me=me,
        active="notes",
        f=texts(visit.language)["outcome_form"],
        notes=[
            NoteRow(view, rows[c.id], organization, " ".join(when(view.recorded_at, zone, visit.language)))
            for c, view, organization in found
        ],
        limit=NOTES_SHOWN,
    )


# --- the calendar feed -------------------------------------------------------------------------------------


FEED_PATH = "/specialist/calendar-feed"


@get(FEED_PATH, opt=PAGE, include_in_schema=False)
async def feed_page(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """The specialist's calendar-feed URL (``GET /api/v1/me/calendar-feed``), shown to its owner only."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.specialist)
    policy: FeedPolicy = state.feed_policy
    try:
        feed = await feeds.get_feed(db_session, me.actor)
    except NotFound:
        feed = None
    zone = await _zone(db_session, me)
    done = request.query_params.get("done", "")
    return visit.page(
        "staff_specialist_feed.html.j2",
        headers=SECRET_HEADERS,
        me=me,
        active="feed",
        url=policy.links.url(feed.token_nonce) if feed else None,
        webcal_url=policy.links.webcal_url(feed.token_nonce) if feed else None,
        created=" ".join(when(feed.created_at, zone, visit.language)) if feed else None,
        notice=visit.t["feed"]["done"].get(done),
    )


@post(FEED_PATH, opt=PAGE, include_in_schema=False, status_code=303)
async def renew_feed(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """``POST /api/v1/me/calendar-feed`` as a button: create the feed, or give it a new URL (the old one dies)."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.specialist)
    policy: FeedPolicy = state.feed_policy
    had = True
    try:
        await feeds.get_feed(db_session, me.actor)
    except NotFound:
        had = False
    await feeds.regenerate_feed(db_session, me.actor, policy.links, now=current_time(state))
    return redirect(f"{FEED_PATH}?done={'renewed' if had else 'created'}", visit)


@post(FEED_PATH + "/revoke", opt=PAGE, include_in_schema=False, status_code=303)
async def revoke_feed(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``DELETE /api/v1/me/calendar-feed`` as a button: the URL stops working."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.specialist)
    await feeds.revoke_feed(db_session, me.actor)
    return redirect(f"{FEED_PATH}?done=revoked", visit)


routes = Router(
    path="/",
    route_handlers=[
        specialist_home,
        outcome_page,
        save_outcome,
        outcome_versions_page,
        notes_page,
        feed_page,
        renew_feed,
        revoke_feed,
    ],
    exception_handlers=PAGE_ERRORS,
)
