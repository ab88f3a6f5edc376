"""The admin's pages: users and memberships, consultation types, webhooks with their deliveries, the audit log.

Each page calls the service functions behind the API's operations (``GET``/``POST /api/v1/users`` and the
membership switches, ``/api/v1/consultation-types``, ``/api/v1/webhooks``, ``GET /api/v1/audit-events``) with
the same checks: admins only, another organization's user or webhook is not found, an admin cannot switch off
their own membership (the service says no; the page shows it).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from babel.dates import format_date, format_time
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from telecon.access import Role
from telecon.audit import services as audit
from telecon.crypto import KeyRing
from telecon.dates import babel_locale
from telecon.errors import Conflict, InvalidInput
from telecon.organizations import memberships
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession
from telecon.outbox.models import WEBHOOK_EVENTS
from telecon.scheduling import availability
from telecon.scheduling.models import LONGEST_CONSULTATION
from telecon.schemas import EARLIEST, LATEST, Email, Language, Name, Password, TimeZone
from telecon.settings import Settings
from telecon.ui.routes import PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.web import DbSession, current_time
from telecon.webhooks import services as webhooks
from telecon.webhooks.schemas import Url

PAGE = {"public": True, "roles": (Role.admin,)}
MIN_PASSWORD = 12
"""As ``UserCreate.password``."""
AUDIT_PAGE = 50
LONGEST_MINUTES = LONGEST_CONSULTATION.seconds // 60
LONGEST_BUFFER = 240
NUMBER = re.compile(r"^\d{1,4}$")


def _valid(value: Any, wire: Any) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


def _text(form: Any, name: str, limit: int = 400) -> str:
    return str(form.get(name, "")).strip()[:limit]


# --- users and memberships ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemberRow:
    id: uuid.UUID
    name: str
    email: str
    role: str
    profession: str | None
    state: str
    """``active``, ``deactivated`` (here, by an admin) or ``account_off`` (everywhere, by an operator)."""
    other_organizations: int
    is_me: bool


def _member_rows(found: list[organizations.Member], me: Me) -> list[MemberRow]:
    rows = []
    for m in found:
        if not m.user.is_active:
            state = "account_off"
        elif m.membership.deactivated_at is not None:
            state = "deactivated"
        else:
            state = "active"
        rows.append(
            MemberRow(
                id=m.user.id,
                name=m.user.display_name,
                email=m.user.email,
                role=m.membership.role.value,
                profession=m.user.profession.value if m.user.profession else None,
                state=state,
                other_organizations=m.other_organizations,
                is_me=m.user.id == me.actor.user_id,
            )
        )
    return rows


USER_FIELDS = ("display_name", "email", "role", "profession", "languages", "timezone")


def _blank_user() -> dict[str, str]:
    return {
        "display_name": "",
        "email": "",
        "role": "coach",
        "profession": "",
        "languages": "de",
        "timezone": "Europe/Berlin",
    }


async def _users_page(
    visit: Visit,
    db_session: DbSession,
    me: Me,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    notice: str | None = None,
) -> Response[Any]:
    members = _member_rows(await organizations.list_members(db_session, me.actor), me)
    return visit.page(
        "staff_admin_users.html.j2",
        status=status,
        me=me,
        active="admin",
        section="users",
        members=members,
        form=form or _blank_user(),
        errors=errors or {},
        alert=alert,
        notice=notice,
        roles=[r.value for r in Role],
        professions=[p.value for p in Profession],
    )


@get("/admin/users", opt=PAGE, include_in_schema=False)
async def users_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The organization's members (``GET /api/v1/users``), the switches for each, and the form to add one."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.admin)
    done = request.query_params.get("done")
    notices = visit.t["admin"]["users"]["done"]
    return await _users_page(visit, db_session, me, notice=notices.get(str(done)) if done else None)


def _read_user(form: Any, t: dict[str, str]) -> tuple[dict[str, str], list[str], dict[str, str]]:
    """The typed values (kept as typed), the languages they name, and an error per field; the password apart."""
    values = {name: _text(form, name) for name in USER_FIELDS}
    errors: dict[str, str] = {}
    if not _valid(values["display_name"], Name):
        errors["display_name"] = t["display_name_invalid"]
    if not _valid(values["email"], Email):
        errors["email"] = t["email_invalid"]
    if values["role"] not in Role.__members__:
        errors["role"] = t["role_invalid"]
    if values["profession"] and values["profession"] not in Profession.__members__:
        errors["profession"] = t["profession_invalid"]
    elif values["role"] == Role.specialist and not values["profession"]:
        errors["profession"] = t["profession_missing"]
    spoken = [code for code in re.split(r"[\s,]+", values["languages"]) if code]
    if len(spoken) > 20 or not all(_valid(code, Language) for code in spoken):
        errors["languages"] = t["languages_invalid"]
    if not _valid(values["timezone"], TimeZone):
        errors["timezone"] = t["timezone_invalid"]
    password = str(form.get("password", ""))
    if len(password) < MIN_PASSWORD or not _valid(password, Password):
        errors["password"] = t["password_invalid"].format(minimum=MIN_PASSWORD)
    return values, spoken, errors


@post("/admin/users", opt=PAGE, include_in_schema=False, status_code=200)
async def add_user(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """``POST /api/v1/users`` as a form: the same answer whether or not the address already has an account."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.admin)
    t = visit.t["admin"]["users"]
    values, spoken, errors = _read_user(form, t)
    if errors:
        return await _users_page(visit, db_session, me, status=422, form=values, errors=errors)
    try:
        await organizations.add_user(
            db_session,
            me.actor,
            state.passwords,
            email=values["email"],
            password=str(form.get("password", "")),
            role=Role(values["role"]),
            display_name=values["display_name"],
            profession=Profession(values["profession"]) if values["profession"] else None,
            languages=spoken,
            timezone=values["timezone"],
        )
    except (InvalidInput, Conflict) as refused:
        await db_session.rollback()  # nothing of the refused attempt is committed with the page
        field = refused.field if refused.field in USER_FIELDS else "email"
        message = t["email_taken"] if isinstance(refused, Conflict) else t[f"{field}_invalid"]
        return await _users_page(
            visit, db_session, me, status=refused.status_code, form=values, errors={field: message}
        )
    return redirect("/admin/users?done=added", visit)


async def _switch(request: Request[Any, Any, Any], db_session: DbSession, user_id: uuid.UUID, act: str) -> Any:
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.admin)
    change = {
        "deactivated": memberships.deactivate_membership,
        "reactivated": memberships.reactivate_membership,
        "ended": memberships.end_membership,
    }[act]
    try:
        await change(db_session, me.actor, user_id)
    except Conflict:
        await db_session.rollback()
        return await _users_page(visit, db_session, me, status=409, alert=visit.t["admin"]["users"]["not_yourself"])
    return redirect(f"/admin/users?done={act}", visit)


@post("/admin/users/{user_id:uuid}/deactivate", opt=PAGE, include_in_schema=False, status_code=200)
async def deactivate_user(
    request: Request[Any, Any, Any], db_session: DbSession, user_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """``POST /api/v1/users/{id}/deactivate``: switched off here at once, no longer bookable here."""
    response: Response[Any] = await _switch(request, db_session, user_id, "deactivated")
    return response


@post("/admin/users/{user_id:uuid}/reactivate", opt=PAGE, include_in_schema=False, status_code=200)
async def reactivate_user(
    request: Request[Any, Any, Any], db_session: DbSession, user_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """``POST /api/v1/users/{id}/reactivate``."""
    response: Response[Any] = await _switch(request, db_session, user_id, "reactivated")
    return response


@post("/admin/users/{user_id:uuid}/end", opt=PAGE, include_in_schema=False, status_code=200)
async def end_membership(
    request: Request[Any, Any, Any], db_session: DbSession, user_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """``DELETE /api/v1/users/{id}/membership``: the account and its other memberships stay."""
    response: Response[Any] = await _switch(request, db_session, user_id, "ended")
    return response


# --- consultation types ------------------------------------------------------------------------------


TYPE_FIELDS = ("name", "duration_minutes", "buffer_minutes")


async def _types_page(
    visit: Visit,
    db_session: DbSession,
    me: Me,
    *,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
) -> Response[Any]:
    return visit.page(
        "staff_admin_types.html.j2",
        status=status,
        me=me,
        active="admin",
        section="types",
        types=await availability.list_consultation_types(db_session, me.actor),
        form=form or {"name": "", "duration_minutes": "30", "buffer_minutes": "0", "professions": []},
        errors=errors or {},
        notice=notice,
        professions=[p.value for p in Profession],
        longest=LONGEST_MINUTES,
        longest_buffer=LONGEST_BUFFER,
    )


@get("/admin/consultation-types", opt=PAGE, include_in_schema=False)
async def types_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The organization's consultation types (``GET /api/v1/consultation-types``) and the form to add one."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.admin)
    added = request.query_params.get("added") == "1"
    return await _types_page(visit, db_session, me, notice=visit.t["admin"]["types"]["added"] if added else None)


def _minutes(value: str, low: int, high: int) -> int | None:
    if not NUMBER.match(value):
        return None
    number = int(value)
    return number if low <= number <= high else None


@post("/admin/consultation-types", opt=PAGE, include_in_schema=False, status_code=200)
async def add_type(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``POST /api/v1/consultation-types`` as a form; an empty choice of professions allows every profession."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.admin)
    t = visit.t["admin"]["types"]
    values: dict[str, Any] = {name: _text(form, name) for name in TYPE_FIELDS}
    chosen = [str(p) for p in form.getall("professions", [])] if hasattr(form, "getall") else []
    values["professions"] = [p for p in chosen if p in Profession.__members__]
    errors: dict[str, str] = {}
    if not _valid(values["name"], Name):
        errors["name"] = t["name_invalid"]
    duration = _minutes(values["duration_minutes"], 5, LONGEST_MINUTES)
    if duration is None:
        errors["duration_minutes"] = t["duration_invalid"].format(longest=LONGEST_MINUTES)
    buffer = _minutes(values["buffer_minutes"] or "0", 0, LONGEST_BUFFER)
    if buffer is None:
        errors["buffer_minutes"] = t["buffer_invalid"].format(longest=LONGEST_BUFFER)
    if len(values["professions"]) != len(chosen):
        errors["professions"] = t["professions_invalid"]
    if errors or duration is None or buffer is None:
        return await _types_page(visit, db_session, me, status=422, form=values, errors=errors)
    try:
        await availability.create_consultation_type(
            db_session,
            me.actor,
            name=values["name"],
            duration_minutes=duration,
            professions=[Profession(p) for p in values["professions"]],
            buffer_minutes=buffer,
        )
    except Conflict:
        await db_session.rollback()
        return await _types_page(visit, db_session, me, status=409, form=values, errors={"name": t["name_taken"]})
    return redirect("/admin/consultation-types?added=1", visit)


# --- webhooks ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    event: str
    status: str
    attempts: int
    last_error: str | None
    created: str
    sent: str | None


@dataclass(frozen=True, slots=True)
class WebhookRow:
    id: uuid.UUID
    url: str
    events: list[str]
    created: str
    deliveries: list[DeliveryRow]


def _stamp(instant: datetime, zone: ZoneInfo, language: str) -> str:
    """Date and time to the second, in the organization's zone: the audit log and the deliveries need seconds."""
    local = instant.astimezone(zone)
    locale = babel_locale(language)
    return f"{format_date(local, 'medium', locale=locale)} {format_time(local, 'medium', locale=locale)}"


async def _webhooks_page(
    visit: Visit,
    db_session: DbSession,
    me: Me,
    *,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    created: webhooks.Created | None = None,
) -> Response[Any]:
    zone = ZoneInfo(me.timezone)

    def stamp(instant: datetime) -> str:
        return _stamp(instant, zone, visit.language)

    rows = []
    for s in await webhooks.list_subscriptions(db_session, me.actor):
        sent = await webhooks.deliveries(db_session, me.actor, s.id)
        rows.append(
            WebhookRow(
                id=s.id,
                url=s.url,
                events=list(s.events),
                created=stamp(s.created_at),
                deliveries=[
                    DeliveryRow(
                        event=str(m.payload.get("event", "")),
                        status=m.status.value,
                        attempts=m.attempts,
                        last_error=m.last_error,
                        created=stamp(m.created_at),
                        sent=stamp(m.sent_at) if m.sent_at else None,
                    )
                    for m in sent
                ],
            )
        )
    return visit.page(
        "staff_admin_webhooks.html.j2",
        status=status,
        # The secret of a new webhook is on this page: no cache may keep it.
        headers={"Cache-Control": "no-store"},
        me=me,
        active="admin",
        section="webhooks",
        webhooks=rows,
        form=form or {"url": "", "events": list(WEBHOOK_EVENTS)},
        errors=errors or {},
        notice=notice,
        created=created,
        events=WEBHOOK_EVENTS,
        shown=webhooks.SHOWN_DELIVERIES,
    )


@get("/admin/webhooks", opt=PAGE, include_in_schema=False)
async def webhooks_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The organization's webhooks with their last deliveries (``GET /api/v1/webhooks`` and ``…/deliveries``)."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.admin)
    deleted = request.query_params.get("deleted") == "1"
    return await _webhooks_page(
        visit, db_session, me, notice=visit.t["admin"]["webhooks"]["deleted"] if deleted else None
    )


@post("/admin/webhooks", opt=PAGE, include_in_schema=False, status_code=200)
async def add_webhook(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """``POST /api/v1/webhooks`` as a form; the answer shows the signing secret this once, as the API's does."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, Role.admin)
    t = visit.t["admin"]["webhooks"]
    url = str(form.get("url", "")).strip()
    chosen = [str(e) for e in form.getall("events", [])] if hasattr(form, "getall") else []
    values: dict[str, Any] = {"url": url[:2000], "events": [e for e in WEBHOOK_EVENTS if e in chosen]}
    errors: dict[str, str] = {}
    if not _valid(url, Url):
        errors["url"] = t["url_invalid"]
    if not values["events"] or len(values["events"]) != len(set(chosen)):
        errors["events"] = t["events_missing"]
    if errors:
        return await _webhooks_page(visit, db_session, me, status=422, form=values, errors=errors)
    settings: Settings = state.settings
    keys: KeyRing = state.key_ring
    try:
        created = await webhooks.create_subscription(
            db_session,
            me.actor,
            keys,
            url=url,
            events=values["events"],
            https_only=settings.env == "production",
            allowed_private_networks=settings.allowed_private_networks,
            now=current_time(state),
        )
    except InvalidInput as refused:
        await db_session.rollback()
        field = "events" if refused.field == "events" else "url"
        message = t["events_missing"] if field == "events" else t["url_refused"]
        return await _webhooks_page(visit, db_session, me, status=422, form=values, errors={field: message})
    return await _webhooks_page(visit, db_session, me, created=created)


@post("/admin/webhooks/{webhook_id:uuid}/delete", opt=PAGE, include_in_schema=False, status_code=200)
async def delete_webhook(
    request: Request[Any, Any, Any], db_session: DbSession, webhook_id: FromPath[uuid.UUID]
) -> Response[Any]:
    """``DELETE /api/v1/webhooks/{id}``: nothing more is sent to it."""
    visit = Visit.of(request)
    visit.check_form(await request.form())
    me = await require_me(db_session, visit, Role.admin)
    await webhooks.delete_subscription(db_session, me.actor, webhook_id)
    return redirect("/admin/webhooks?deleted=1", visit)


# --- the audit log -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRow:
    when: str
    actor: str | None
    """The acting member's name; ``None``: the operator or the system (no account)."""
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: uuid.UUID | None
    link: str | None
    remote_address: str | None
    details: list[tuple[str, str]]


AUDIT_FILTERS = ("action", "actor_id", "object_type", "object_id", "from", "to", "before")
LINKS = {"participant": "/participants/{}", "consultation": "/consultations/{}"}


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _date(value: str) -> date | None:
    """A day of the years the API's instants may name (``telecon.schemas.EARLIEST``, ``LATEST``)."""
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        return None
    return day if day is not None and EARLIEST.year < day.year < LATEST.year else None


def _detail(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@get("/admin/audit", opt=PAGE, include_in_schema=False)
async def audit_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """``GET /api/v1/audit-events`` as a page: the filters as a GET form, dates in the organization's zone.

    Paged by ``before`` (the last shown event's instant), newest first, ``AUDIT_PAGE`` a page.
    """
    visit = Visit.of(request)
    me = await require_me(db_session, visit, Role.admin)
    t = visit.t["admin"]["audit"]
    zone = ZoneInfo(me.timezone)
    query = {name: (request.query_params.get(name) or "").strip()[:200] for name in AUDIT_FILTERS}
    errors: dict[str, str] = {}
    for name in ("action", "object_type"):
        if query[name] and not _valid(query[name], Name):
            errors[name] = t["text_invalid"]
    actor_id = _uuid(query["actor_id"]) if query["actor_id"] else None
    if query["actor_id"] and actor_id is None:
        errors["actor_id"] = t["actor_invalid"]
    object_id = _uuid(query["object_id"]) if query["object_id"] else None
    if query["object_id"] and object_id is None:
        errors["object_id"] = t["object_id_invalid"]
    since_day, until_day = _date(query["from"]), _date(query["to"])
    for name, day in (("from", since_day), ("to", until_day)):
        if query[name] and day is None:
            errors[name] = t["date_invalid"]
    if since_day and until_day and until_day < since_day:
        errors["to"] = t["to_before_from"]
    before = None
    if query["before"]:
        try:
            before = datetime.fromisoformat(query["before"])
        except ValueError:
            before = None
        if before is None or before.tzinfo is None or not EARLIEST <= before < LATEST:
            errors["before"] = t["date_invalid"]
    members = await organizations.list_members(db_session, me.actor)
    names = {m.user.id: m.user.display_name for m in members}
    rows: list[AuditRow] = []
    more = None
    if not errors:
        if until_day is not None:
            end = datetime.combine(until_day + timedelta(days=1), time(0), tzinfo=zone)
            before = min(before, end) if before else end
        since = datetime.combine(since_day, time(0), tzinfo=zone) if since_day else None
        found = await audit.list_events(
            db_session,
            me.actor,
            object_id=object_id,
            action=query["action"] or None,
            actor_id=actor_id,
            object_type=query["object_type"] or None,
            before=before,
            since=since,
            limit=AUDIT_PAGE + 1,
        )
        if len(found) > AUDIT_PAGE:
            found = found[:AUDIT_PAGE]
            kept = {k: v for k, v in query.items() if v and k != "before"}
            cursor = found[-1].occurred_at.astimezone(UTC).isoformat()
            more = "/admin/audit?" + urlencode(kept | {"before": cursor})
        for e in found:
            link = LINKS.get(e.object_type)
            rows.append(
                AuditRow(
                    when=_stamp(e.occurred_at, zone, visit.language),
                    actor=names.get(e.actor_id, t["former_member"]) if e.actor_id else None,
                    actor_id=e.actor_id,
                    action=e.action,
                    object_type=e.object_type,
                    object_id=e.object_id,
                    link=link.format(e.object_id) if link and e.object_id else None,
                    remote_address=e.remote_address,
                    details=[(str(k), _detail(v)) for k, v in sorted(e.details.items())],
                )
            )
    first_page = "/admin/audit?" + urlencode({k: v for k, v in query.items() if v and k != "before"})
    return visit.page(
        "staff_admin_audit.html.j2",
        status=422 if errors else 200,
        me=me,
        active="admin",
        section="audit",
        query=query,
        errors=errors,
        rows=rows,
        members=[(str(m.user.id), m.user.display_name) for m in members],
        more=more,
        first_page=first_page if query["before"] else None,
        timezone=me.timezone,
    )


routes = Router(
    path="/",
    route_handlers=[
        users_page,
        add_user,
        deactivate_user,
        reactivate_user,
        end_membership,
        types_page,
        add_type,
        webhooks_page,
        add_webhook,
        delete_webhook,
        audit_page,
    ],
    exception_handlers=PAGE_ERRORS,
)
