"""The waitlist page: who waits for what, the slots held for them (confirm or release), and a form to add someone.

The same service functions as ``/api/v1/waitlist`` (``telecon.waitlist.services``) with the same checks; a coach's
home page shows the holds of the entries they added (``held_rows``).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import State
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations.models import Profession
from telecon.participants import services as participants
from telecon.scheduling import availability
from telecon.scheduling.services import BOOKERS, SchedulingPolicy
from telecon.schemas import Language
from telecon.ui.routes import PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.ui.views import waitlist_rows
from telecon.waitlist import services as waitlist
from telecon.web import DbSession, current_time

PAGE = {"public": True, "roles": BOOKERS}
FORM_FIELDS = ("participant_id", "consultation_type_id", "profession", "language", "latest_date")
PARTICIPANT_CHOICES = 200


async def _page(
    db_session: AsyncSession,
    visit: Visit,
    me: Me,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
) -> Response[Any]:
    views = await waitlist.list_entries(db_session, me.actor)
    people = await participants.list_participants(db_session, me.actor, query="", limit=PARTICIPANT_CHOICES)
    return visit.page(
        "staff_waitlist.html.j2",
        status=status,
        me=me,
        active="waitlist",
        rows=await waitlist_rows(db_session, me.actor, ZoneInfo(me.timezone), views, visit.language),
        people=people,
        types=await availability.list_consultation_types(db_session, me.actor),
        professions=[p.value for p in Profession],
        form=form or dict.fromkeys(FORM_FIELDS, ""),
        errors=errors or {},
        alert=alert,
    )


@get("/waitlist", opt=PAGE, include_in_schema=False)
async def waitlist_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The organization's waitlist, oldest first, with the holds to confirm; ``?participant=`` preselects one."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *BOOKERS)
    form = dict.fromkeys(FORM_FIELDS, "")
    form["participant_id"] = (request.query_params.get("participant") or "")[:36]
    return await _page(db_session, visit, me, form=form)


def _read_form(form: Any, t: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any], dict[str, str]]:
    """What was typed (trimmed), the values as the service takes them, and a message per field refused."""
    typed = {name: str(form.get(name, "")).strip()[:200] for name in FORM_FIELDS}
    values: dict[str, Any] = {"language": None, "latest_date": None}
    errors: dict[str, str] = {}
    for name in ("participant_id", "consultation_type_id"):
        try:
            values[name] = uuid.UUID(typed[name])
        except ValueError:
            errors[name] = t[f"{name}_missing"]
    try:
        values["profession"] = Profession(typed["profession"])
    except ValueError:
        errors["profession"] = t["profession_missing"]
    if typed["language"]:
        try:
            values["language"] = msgspec.convert(typed["language"], Language)
        except msgspec.ValidationError:
            errors["language"] = t["language_invalid"]
    if typed["latest_date"]:
        try:
            values["latest_date"] = date.fromisoformat(typed["latest_date"])
        except ValueError:
            errors["latest_date"] = t["latest_date_invalid"]
    return typed, values, errors


def _refusal(refused: InvalidInput | Conflict | NotFound, t: dict[str, Any]) -> tuple[str | None, str | None]:
    """The service's refusal as ``(field, message)`` for the form."""
    if refused.field == "latest_date":
        too_far = refused.detail == waitlist.LATEST_DATE_TOO_FAR
        return "latest_date", t["latest_date_far" if too_far else "latest_date_past"]
    if refused.field == "profession":
        return "profession", t["profession_unsuitable"]
    if isinstance(refused, Conflict) and "consented" in refused.detail:
        return "participant_id", t["no_consent"]
    if isinstance(refused, Conflict):
        return "participant_id", t["already_waiting"]
    return None, t["not_found"]


def _confirm_refusal(refused: InvalidInput | Conflict, t: dict[str, Any]) -> str:
    """Why the held slot could not be booked, in the coach's language: the hold's own refusals, then a booking's
    by the field it names."""
    if refused.detail == waitlist.HOLD_RAN_OUT:
        reason = t["hold_ran_out"]
    elif refused.field == "entry_id":
        reason = t["not_held"]
    elif refused.field == "participant_id":
        reason = t["no_consent"]
    elif refused.field == "specialist_id":
        reason = t["specialist_gone"]
    elif refused.field == "start":
        reason = t["slot_gone"]
    else:
        reason = t["try_again"]
    return str(t["confirm_failed"]).format(reason=reason)


@post("/waitlist", opt=PAGE, include_in_schema=False, status_code=200)
async def add_to_waitlist(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The rules of ``POST /api/v1/waitlist`` as a form."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *BOOKERS)
    t = visit.t["waitlist"]
    typed, values, errors = _read_form(form, t)
    if errors:
        return await _page(db_session, visit, me, form=typed, errors=errors, status=422)
    state: State = request.app.state
    policy: SchedulingPolicy = state.scheduling_policy
    try:
        await waitlist.add_entry(db_session, me.actor, policy, now=current_time(state), **values)
    except (InvalidInput, Conflict, NotFound) as refused:
        await db_session.rollback()  # nothing of the refused entry is committed with the page
        field, message = _refusal(refused, t)
        if field is None:
            return await _page(db_session, visit, me, form=typed, alert=message, status=refused.status_code)
        return await _page(db_session, visit, me, form=typed, errors={field: str(message)}, status=refused.status_code)
    return redirect("/waitlist", visit)


@post("/waitlist/{entry_id:uuid}/confirm", opt=PAGE, include_in_schema=False, status_code=200)
async def confirm_hold(
    entry_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """Book the held slot and show the new consultation; a hold that ran out says so on the waitlist."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *BOOKERS)
    state: State = request.app.state
    try:
        booked = await waitlist.confirm(
            db_session,
            me.actor,
            state.scheduling_policy,
            entry_id,
            purpose=None,
            invite_coach=False,
            now=current_time(state),
        )
    except (Conflict, InvalidInput) as refused:
        await db_session.rollback()
        alert = _confirm_refusal(refused, visit.t["waitlist"])
        return await _page(db_session, visit, me, alert=alert, status=refused.status_code)
    return redirect(f"/consultations/{booked.view.consultation.id}", visit)


@post("/waitlist/{entry_id:uuid}/withdraw", opt=PAGE, include_in_schema=False, status_code=200)
async def withdraw(
    entry_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """Take the participant off the waitlist; a slot held for them is free again."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *BOOKERS)
    try:
        await waitlist.withdraw(db_session, me.actor, entry_id, now=current_time(request.app.state))
    except Conflict as refused:
        await db_session.rollback()
        return await _page(db_session, visit, me, alert=visit.t["waitlist"]["ended"], status=refused.status_code)
    return redirect("/waitlist", visit)


routes = Router(
    path="/",
    route_handlers=[waitlist_page, add_to_waitlist, confirm_hold, withdraw],
    exception_handlers=PAGE_ERRORS,
)
