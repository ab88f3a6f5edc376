"""The staff web pages: sign-in and sign-out, the language switch, and each role's home page.

Every page is a public route for the bearer-token middleware (``opt={"public": True}``) and checks the session
cookie itself; what a page shows comes from the same service functions the API calls, with the same checks.
Errors become friendly pages in the reader's language (``error_page``), never problem JSON or a trace.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import MediaType, Request, Response, Router, get, post
from litestar.datastructures import Cookie, State
from litestar.exceptions import HTTPException
from litestar.response import Redirect

from telecon.access import Actor, Role
from telecon.addresses import client_address
from telecon.auth import services as auth
from telecon.errors import DomainError, Forbidden, NotFound, TooManyRequests
from telecon.organizations import services as organizations
from telecon.problems import exception_handlers
from telecon.scheduling import services as scheduling
from telecon.scheduling.models import ConsultationStatus
from telecon.schemas import Email, Password
from telecon.templating import language_from_accept, render, texts
from telecon.ui.sessions import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    Sessions,
    WebSession,
    new_browser_value,
)
from telecon.ui.views import Day, consultation_rows, held_rows, when
from telecon.web import DbSession, current_time

log = logging.getLogger(__name__)

STAFF_LANGUAGES = ("de", "en")
FOLLOW_UP_DAYS = 14
HOMES = {Role.admin: "/coach", Role.coach: "/coach", Role.specialist: "/specialist"}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "same-origin",
}


class SignInRequired(Exception):
    """No valid session: the page answers with a redirect to the sign-in page."""


class FormExpired(Forbidden):
    """A form without this browser's CSRF token: a stale page, or another site posting in the user's name."""


# --- one request of a browser ------------------------------------------------------------------------


@dataclass(slots=True)
class Visit:
    """What every page needs of a request: language, CSRF binding, the session the cookie names."""

    request: Request[Any, Any, Any]
    sessions: Sessions
    language: str
    browser: str
    new_browser: bool
    session: WebSession | None

    @classmethod
    def of(cls, request: Request[Any, Any, Any]) -> Visit:
        state = request.app.state
        sessions: Sessions = state.web_sessions
        browser = request.cookies.get(CSRF_COOKIE, "")
        new_browser = not (0 < len(browser) <= 64)
        return cls(
            request=request,
            sessions=sessions,
            language=staff_language(request),
            browser=new_browser_value() if new_browser else browser,
            new_browser=new_browser,
            session=sessions.read(request.cookies.get(SESSION_COOKIE), current_time(state)),
        )

    @property
    def t(self) -> dict[str, Any]:
        staff: dict[str, Any] = texts(self.language)["staff"]
        return staff

    def cookie(self, key: str, value: str, max_age: int | None = None, httponly: bool = True) -> Cookie:
        return Cookie(
            key=key,
            value=value,
            max_age=max_age,
            path="/",
            httponly=httponly,
            samesite="lax",
            secure=self.sessions.secure,
        )

    def finish(self, response: Response[Any]) -> Response[Any]:
        """Give a new browser its CSRF cookie (the forms on the page carry tokens bound to it)."""
        if self.new_browser:
            response.set_cookie(self.cookie(CSRF_COOKIE, self.browser))
        return response

    def check_form(self, form: Any) -> None:
        sent = form.get(CSRF_FIELD) if hasattr(form, "get") else None
        if self.new_browser or not self.sessions.csrf_ok(self.browser, self.session, sent):
            raise FormExpired("the form lacks its CSRF token")

    def page(
        self, template: str, *, status: int = 200, headers: dict[str, str] | None = None, **context: Any
    ) -> Response[Any]:
        context.setdefault("me", None)
        html = render(
            f"pages/{template}",
            lang=self.language,
            t=self.t,
            csrf_field=CSRF_FIELD,
            csrf=self.sessions.csrf_token(self.browser, self.session),
            here=_local_path(self.request.url.path + (f"?{self.request.url.query}" if self.request.url.query else "")),
            **context,
        )
        response: Response[Any] = Response(
            html, status_code=status, media_type=MediaType.HTML, headers=PAGE_HEADERS | (headers or {})
        )
        return self.finish(response)


def staff_language(request: Request[Any, Any, Any]) -> str:
    """The language chosen with the switch (a cookie), else the browser's if staff texts exist in it, else German."""
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    if chosen in STAFF_LANGUAGES:
        return str(chosen)
    preferred = language_from_accept(request.headers.get("accept-language"))
    return preferred if preferred in STAFF_LANGUAGES else STAFF_LANGUAGES[0]


def _local_path(target: str | None) -> str:
    """Only a path of this site may be a redirect target: never ``//host`` or ``https://…``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@dataclass(frozen=True, slots=True)
class Me:
    actor: Actor
    name: str
    organization: str
    timezone: str
    organizations: tuple[tuple[uuid.UUID, str], ...] = ()
    """Every organization the account may act in now, this one included: the header's switcher."""


async def signed_in(db_session: DbSession, visit: Visit) -> Me | None:
    """The session's user, if the server still holds the session and the membership counts now.

    One query (``telecon.auth.services.web_session_user``): a signed-out, expired or ended session, a removed
    or switched-off member are all signed out at once.
    """
    if visit.session is None:
        return None
    s = visit.session
    found = await auth.web_session_user(
        db_session,
        session_id=s.session_id,
        user_id=s.user_id,
        organization_id=s.organization_id,
        now=current_time(visit.request.app.state),
    )
    if found is None:
        return None
    actor = Actor(s.user_id, s.organization_id, found.role, client_address(visit.request))
    return Me(actor, found.display_name, found.organization_name, found.timezone, tuple(found.organizations))


async def require_me(db_session: DbSession, visit: Visit, *roles: Role) -> Me:
    me = await signed_in(db_session, visit)
    if me is None:
        raise SignInRequired
    me.actor.require(*roles)
    return me


def redirect(path: str, visit: Visit) -> Response[Any]:
    return visit.finish(Redirect(path, status_code=303, headers={"Cache-Control": "no-store"}))


# --- signing in and out, the language ----------------------------------------------------------------


@get("/", opt={"public": True}, include_in_schema=False)
async def start(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """A signed-in user goes to their home page, everyone else to the sign-in page."""
    visit = Visit.of(request)
    me = await signed_in(db_session, visit)
    return redirect(HOMES[me.actor.role] if me else "/login", visit)


@get("/login", opt={"public": True}, include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    visit = Visit.of(request)
    me = await signed_in(db_session, visit)
    if me is not None:
        return redirect(HOMES[me.actor.role], visit)
    return visit.page("staff_login.html.j2", email="", errors={}, alert=None)


@post("/login", opt={"public": True}, include_in_schema=False, status_code=200)
async def login(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """The same rules as ``POST /api/v1/auth/login`` (``telecon.auth.services.authenticate``), as a form."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    t = visit.t["login"]
    email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
    errors: dict[str, str] = {}
    if not _valid(email, Email):
        errors["email"] = t["email_invalid"]
    if not password:
        errors["password"] = t["password_missing"]
    if errors:
        return visit.page("staff_login.html.j2", status=422, email=email[:320], errors=errors, alert=None)
    try:
        actor = (
            await auth.authenticate(
                db_session,
                email=email,
                password=password,
                remote_address=client_address(request),
                policy=state.login_policy,
                passwords=state.passwords,
                now=current_time(state),
            )
            if _valid(password, Password)
            else None
        )
    except TooManyRequests as refused:
        minutes = max(1, -(-refused.retry_after // 60))
        return visit.page(
            "staff_login.html.j2",
            status=429,
            headers={"Retry-After": str(refused.retry_after)},
            email=email,
            errors={},
            alert=t["throttled"].format(minutes=minutes),
        )
    if actor is None:  # the failure was recorded; the request's transaction commits it
        return visit.page("staff_login.html.j2", status=401, email=email, errors={"password": t["wrong"]}, alert=None)
    memberships = await organizations.memberships_of(db_session, actor.user_id)
    # Someone who serves several organizations says where to act first (the oldest membership meanwhile).
    response = redirect(HOMES[actor.role] if len(memberships) < 2 else "/organization", visit)
    response.set_cookie(await begin_session(db_session, visit, actor))
    return response


async def begin_session(db_session: DbSession, visit: Visit, actor: Actor) -> Cookie:
    """A new session of the actor's user in the actor's organization: stored, and its cookie."""
    sessions = visit.sessions
    now = current_time(visit.request.app.state)
    token, session = sessions.issue(actor.user_id, actor.organization_id, now)
    await auth.start_web_session(
        db_session,
        session_id=session.session_id,
        user_id=actor.user_id,
        organization_id=actor.organization_id,
        now=now,
        lifetime=sessions.lifetime,
    )
    return visit.cookie(SESSION_COOKIE, token, max_age=int(sessions.lifetime.total_seconds()))


def _valid(value: str, wire: Any) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


@post("/logout", opt={"public": True}, include_in_schema=False, status_code=303)
async def logout(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """End this browser's session; with ``everywhere=1`` every session of the user, in every browser."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    if visit.session is not None:
        if form.get("everywhere") == "1" and (me := await signed_in(db_session, visit)) is not None:
            await auth.end_web_sessions(db_session, me.actor.user_id)
        await auth.end_web_session(db_session, visit.session.session_id)
    response = redirect("/login", visit)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@get("/organization", opt={"public": True, "roles": tuple(Role)}, include_in_schema=False)
async def organization_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """Where to act: each organization the account is an active member of, with the role there."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *Role)
    memberships = await organizations.memberships_of(db_session, me.actor.user_id)
    choices = sorted(((o.id, o.name, m.role.value) for m, o in memberships), key=lambda choice: choice[1].casefold())
    return visit.page("staff_organization.html.j2", me=me, active="organization", choices=choices)


@post("/organization", opt={"public": True, "roles": tuple(Role)}, include_in_schema=False, status_code=303)
async def choose_organization(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """Act in another of one's organizations: this session ends and a new one begins there.

    Only an organization where the account is an active member now (``telecon.auth.services.switch_organization``,
    the rule of a login naming ``organization_id``); any other id, unknown or foreign, is the same 404.
    """
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *Role)
    try:
        wanted = uuid.UUID(str(form.get("organization_id", "")))
    except ValueError:
        raise NotFound("no such organization among yours", field="organization_id") from None
    actor = await auth.switch_organization(db_session, me.actor, wanted)
    if visit.session is not None:
        await auth.end_web_session(db_session, visit.session.session_id)
    response = redirect(HOMES[actor.role], visit)
    response.set_cookie(await begin_session(db_session, visit, actor))
    return response


@post("/language", opt={"public": True}, include_in_schema=False, status_code=303)
async def choose_language(request: Request[Any, Any, Any]) -> Response[Any]:
    """Remember German or English in a cookie for a year, and go back to the page the switch was on."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    language = str(form.get("lang", ""))
    response = redirect(_local_path(str(form.get("next", "/"))), visit)
    if language in STAFF_LANGUAGES:
        response.set_cookie(visit.cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600))
    return response


# --- home pages --------------------------------------------------------------------------------------


def _week_start(value: str | None, today: date) -> date:
    try:
        day = date.fromisoformat(value) if value else today
    except ValueError:
        day = today
    return day - timedelta(days=day.weekday())


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


@get("/coach", opt={"public": True, "roles": scheduling.BOOKERS}, include_in_schema=False)
async def coach_home(request: Request[Any, Any, Any], db_session: DbSession, state: State) -> Response[Any]:
    """The week's consultations of the organization (a coach's own bookings unless ``all=1``) and recent no-shows."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *scheduling.BOOKERS)
    zone = ZoneInfo(me.timezone)
    now = current_time(state)
    today = now.astimezone(zone).date()
    monday = _week_start(request.query_params.get("week"), today)
    everyone = me.actor.role is Role.admin or request.query_params.get("all") == "1"

    def chosen(found: list[tuple[Any, bool]]) -> list[tuple[Any, bool]]:
        return found if everyone else [(c, a) for c, a in found if c.booked_by_id == me.actor.user_id]

    week = chosen(
        await scheduling.list_consultations(
            db_session, me.actor, start=_midnight(monday, zone), end=_midnight(monday + timedelta(days=7), zone)
        )
    )
    no_shows = chosen(
        await scheduling.list_consultations(
            db_session,
            me.actor,
            start=now - timedelta(days=FOLLOW_UP_DAYS),
            end=now,
            status=ConsultationStatus.no_show,
        )
    )
    rows = await consultation_rows(db_session, week, zone=zone, language=visit.language, with_deliveries=True)
    follow_up = await consultation_rows(db_session, no_shows, zone=zone, language=visit.language, with_deliveries=False)
    days: list[Day] = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        label = " ".join(when(_midnight(day, zone) + timedelta(hours=12), zone, visit.language)[:1])
        days.append(Day(label, day == today, [r for r in rows if r.local_date == day.isoformat()]))
    query = "&all=1" if everyone and me.actor.role is not Role.admin else ""
    return visit.page(
        "staff_coach.html.j2",
        me=me,
        active="coach",
        holds=await held_rows(db_session, me.actor, zone, visit.language),
        days=days,
        follow_up=follow_up,
        everyone=everyone,
        can_toggle=me.actor.role is Role.coach,
        week_of=when(_midnight(monday, zone) + timedelta(hours=12), zone, visit.language)[0],
        previous_week=f"/coach?week={monday - timedelta(days=7)}{query}",
        next_week=f"/coach?week={monday + timedelta(days=7)}{query}",
        this_week=f"/coach{'?all=1' if query else ''}",
        toggle=f"/coach?week={monday}" + ("" if everyone else "&all=1"),
        count=len(rows),
    )


# --- errors as pages ---------------------------------------------------------------------------------


def error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any error of a staff page as a page in the reader's language: what happened in words, no details."""
    visit = Visit.of(request)
    if isinstance(exc, SignInRequired):
        return redirect("/login", visit)
    if isinstance(exc, DomainError | HTTPException):
        status = exc.status_code
    else:
        log.exception("a staff page failed", exc_info=exc)
        status = 500
    kind = {403: "forbidden", 404: "not_found"}.get(status, "bad_request" if status < 500 else "failed")
    if isinstance(exc, FormExpired):
        kind = "form_expired"
    return visit.page("staff_error.html.j2", status=status, kind=kind)


PAGE_ERRORS: dict[int | type[Exception], Any] = dict.fromkeys(exception_handlers, error_page) | {
    SignInRequired: error_page
}

routes = Router(
    path="/",
    route_handlers=[
        start,
        login_page,
        login,
        logout,
        organization_page,
        choose_organization,
        choose_language,
        coach_home,
    ],
    exception_handlers=PAGE_ERRORS,
)
