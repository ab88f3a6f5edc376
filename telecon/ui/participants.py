"""The staff pages about participants: the list, the create form, and one participant with consents and case file.

What each page shows comes from the same service functions the API calls (``telecon.participants.services``,
``telecon.outcomes.services.visible_outcomes``/``details`` for the case file), with the same checks: another
organization's participant is not found, a specialist is refused.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.params import FromPath
from sqlalchemy import select

from telecon.errors import Conflict, InvalidInput
from telecon.organizations.models import User
from telecon.outcomes import services as outcomes
from telecon.participants import services as participants
from telecon.participants.models import CaseFileEntry, CaseFileKind, Consent, ConsentKind, Participant
from telecon.participants.schemas import CaseReference
from telecon.scheduling import contacts
from telecon.schemas import Email, Language, Name, Text
from telecon.templating import languages, texts
from telecon.ui.routes import PAGE_ERRORS, Me, Visit, redirect, require_me
from telecon.ui.views import when
from telecon.web import DbSession, current_time

STAFF = participants.STAFF_WHO_MANAGE_PARTICIPANTS
PAGE = {"public": True, "roles": STAFF}
FORM_FIELDS = ("display_name", "email", "preferred_language", "case_reference", "interpreter_language")
LIST_LIMIT = 200


def _valid(value: str, wire: Any) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


# --- the list ----------------------------------------------------------------------------------------


@get("/participants", opt=PAGE, include_in_schema=False)
async def participant_list(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The organization's participants (the service's list, at most ``LIST_LIMIT``), searched by name, case
    reference or email address like ``GET /api/v1/participants?q=``."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *STAFF)
    query = (request.query_params.get("q") or "").strip()[:200]
    found = await participants.list_participants(db_session, me.actor, query=query, limit=LIST_LIMIT)
    consents = await participants.active_consents_of(db_session, [p.id for p in found])
    return visit.page(
        "staff_participants.html.j2",
        me=me,
        active="participants",
        query=query,
        rows=[(p, consents[p.id]) for p in found],
        capped=len(found) >= LIST_LIMIT,
        limit=LIST_LIMIT,
    )


# --- creating ----------------------------------------------------------------------------------------


def _language_choices(current: str | None = None) -> list[str]:
    """The languages with texts, German first; a participant's stored language stays choosable even without."""
    codes = set(languages()) | ({current} if current else set())
    return sorted(codes, key=lambda code: (code != "de", code))


def _blank_form() -> dict[str, Any]:
    return {
        "display_name": "",
        "email": "",
        "preferred_language": "de",
        "case_reference": "",
        "interpreter_language": "",
        "easy_language": False,
    }


@get("/participants/new", opt=PAGE, include_in_schema=False)
async def new_participant_page(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *STAFF)
    return visit.page(
        "staff_participant_new.html.j2",
        me=me,
        active="participants",
        form=_blank_form(),
        errors={},
        alert=None,
        choices=_language_choices(),
    )


@post("/participants/new", opt=PAGE, include_in_schema=False, status_code=200)
async def create_participant(request: Request[Any, Any, Any], db_session: DbSession) -> Response[Any]:
    """The rules of ``POST /api/v1/participants`` as a form: the schema's checks per field, then the service's."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *STAFF)
    t = visit.t["participants"]
    values, errors = _read_form(form, t)

    def again(status: int, alert: str | None = None) -> Response[Any]:
        return visit.page(
            "staff_participant_new.html.j2",
            status=status,
            me=me,
            active="participants",
            form=_kept(values),
            errors=errors,
            alert=alert,
            choices=_language_choices(),
        )

    if errors:
        return again(422)
    try:
        participant = await participants.create_participant(db_session, me.actor, **_details(values))
    except (InvalidInput, Conflict) as refused:
        await db_session.rollback()  # nothing of the failed attempt is committed with the page
        message = _refusal(refused, t, errors)
        return again(refused.status_code, alert=message)
    return redirect(f"/participants/{participant.id}", visit)


def _read_form(
    form: Any, t: dict[str, Any], *, stored_language: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """The participant form's fields as typed (trimmed), and a message per field the wire types refuse.

    The language is one with texts, or the one already stored (the API takes any language tag).
    """
    values: dict[str, Any] = {name: str(form.get(name, "")).strip() for name in FORM_FIELDS}
    values["easy_language"] = form.get("easy_language") == "1"
    errors: dict[str, str] = {}
    if not _valid(values["display_name"], Name):
        errors["display_name"] = t["display_name_invalid"]
    if values["email"] and not _valid(values["email"], Email):
        errors["email"] = t["email_invalid"]
    if values["preferred_language"] not in languages() | {stored_language}:
        errors["preferred_language"] = t["language_invalid"]
    if values["case_reference"] and not _valid(values["case_reference"], CaseReference):
        errors["case_reference"] = t["case_reference_invalid"]
    if values["interpreter_language"] and not _valid(values["interpreter_language"], Language):
        errors["interpreter_language"] = t["interpreter_language_invalid"]
    return values, errors


def _kept(values: dict[str, Any]) -> dict[str, Any]:
    """What the user typed, shown again (cut short: a page is no place for a megabyte of input)."""
    return {k: (v[:400] if isinstance(v, str) else v) for k, v in values.items()}


def _details(values: dict[str, Any]) -> participants.ParticipantChanges:
    """The checked form as the service's arguments: an empty optional field is "none"."""
    return {
        "display_name": str(values["display_name"]),
        "email": str(values["email"]) or None,
        "preferred_language": str(values["preferred_language"]),
        "case_reference": str(values["case_reference"]) or None,
        "interpreter_language": str(values["interpreter_language"]) or None,
        "easy_language": bool(values["easy_language"]),
    }


def _refusal(refused: InvalidInput | Conflict, t: dict[str, Any], errors: dict[str, str]) -> str | None:
    """The service's refusal as a message next to its field (returns ``None``) or, for no field of the form, as
    the page's alert."""
    message = t["case_reference_taken"] if isinstance(refused, Conflict) else t["invalid"]
    if refused.field in FORM_FIELDS:
        errors[refused.field] = message
        return None
    return str(message)


# --- editing -----------------------------------------------------------------------------------------


def _form_of(participant: Participant) -> dict[str, Any]:
    return {
        "display_name": participant.display_name,
        "email": participant.email or "",
        "preferred_language": participant.preferred_language,
        "case_reference": participant.case_reference or "",
        "interpreter_language": participant.interpreter_language or "",
        "easy_language": participant.easy_language,
    }


def _edit_page(
    visit: Visit,
    me: Me,
    participant_id: uuid.UUID,
    name: str,
    stored_language: str,
    form: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
) -> Response[Any]:
    return visit.page(
        "staff_participant_edit.html.j2",
        status=status,
        me=me,
        active="participants",
        participant_id=str(participant_id),
        name=name,
        form=form,
        errors=errors or {},
        alert=alert,
        choices=_language_choices(stored_language),
    )


@get("/participants/{participant_id:uuid}/edit", opt=PAGE, include_in_schema=False)
async def edit_participant_page(
    participant_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *STAFF)
    participant = await participants.get_participant(db_session, me.actor, participant_id)
    return _edit_page(
        visit, me, participant.id, participant.display_name, participant.preferred_language, _form_of(participant)
    )


@post("/participants/{participant_id:uuid}/edit", opt=PAGE, include_in_schema=False, status_code=200)
async def edit_participant(
    participant_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """The rules of ``PATCH /api/v1/participants/{id}`` as a form (every field sent): the schema's checks per
    field, then the service's."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *STAFF)
    t = visit.t["participants"]
    participant = await participants.get_participant(db_session, me.actor, participant_id)
    # Read now: a refused change is rolled back, which expires the object.
    name, stored_language = participant.display_name, participant.preferred_language
    values, errors = _read_form(form, t, stored_language=stored_language)
    if errors:
        return _edit_page(visit, me, participant_id, name, stored_language, _kept(values), errors=errors, status=422)
    try:
        await contacts.update_participant(
            db_session, me.actor, participant_id, _details(values), now=current_time(request.app.state)
        )
    except (InvalidInput, Conflict) as refused:
        await db_session.rollback()  # nothing of the failed attempt is committed with the page
        alert = _refusal(refused, t, errors)
        return _edit_page(
            visit,
            me,
            participant_id,
            name,
            stored_language,
            _kept(values),
            errors=errors,
            alert=alert,
            status=refused.status_code,
        )
    return redirect(f"/participants/{participant_id}?done=updated", visit)


# --- one participant ---------------------------------------------------------------------------------


@dataclass(slots=True)
class ConsentState:
    kind: str
    state: str
    """``granted``, ``withdrawn`` or ``missing`` (never recorded)."""
    history: list[HistoryRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistoryRow:
    granted: bool
    when: str
    who: str
    evidence: str | None


@dataclass(frozen=True, slots=True)
class TimelineRow:
    kind: str
    when: str
    who: str
    text: str | None
    data: dict[str, Any]
    outcome: dict[str, Any] | None


async def _names(db_session: DbSession, ids: set[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    rows = await db_session.execute(select(User.id, User.display_name).where(User.id.in_(wanted)))
    return {row.id: str(row.display_name) for row in rows}


def consent_states(history: list[Consent], names: dict[uuid.UUID, str], zone: ZoneInfo, language: str) -> list[Any]:
    """Each kind's current state (its latest entry) and its history, oldest first."""
    states = {kind: ConsentState(kind.value, "missing") for kind in ConsentKind}
    for consent in history:
        state = states[consent.kind]
        state.state = "granted" if consent.granted else "withdrawn"
        state.history.append(
            HistoryRow(
                consent.granted,
                " ".join(when(consent.recorded_at, zone, language)),
                names.get(consent.recorded_by_id, "") if consent.recorded_by_id else "",
                consent.evidence,
            )
        )
    return list(states.values())


async def _case_file(db_session: DbSession, me: Any, participant_id: uuid.UUID) -> list[CaseFileEntry]:
    """Every page of the case file, oldest first (newest last), as ``GET …/case-file`` returns them."""
    entries: list[CaseFileEntry] = []
    after = None
    while True:
        page, after = await participants.case_file(db_session, me.actor, participant_id, limit=500, after=after)
        entries.extend(page)
        if after is None or len(entries) >= 5000:
            return entries


async def _participant_page(
    visit: Visit,
    db_session: DbSession,
    me: Any,
    participant_id: uuid.UUID,
    *,
    status: int = 200,
    consent_form: dict[str, Any] | None = None,
    note_form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> Response[Any]:
    participant = await participants.get_participant(db_session, me.actor, participant_id)
    history = await participants.consent_history(db_session, me.actor, participant.id)
    entries = await _case_file(db_session, me, participant.id)
    # The composition of the API's case file (telecon.outcomes.routes.case_file): the visible part only.
    with_outcome = [e.consultation_id for e in entries if e.kind is CaseFileKind.outcome_recorded and e.consultation_id]
    shown = await outcomes.visible_outcomes(db_session, me.actor, participant.id, list(set(with_outcome)))

    def outcome_of(entry: CaseFileEntry) -> dict[str, Any] | None:
        if entry.kind is not CaseFileKind.outcome_recorded or entry.consultation_id not in shown:
            return None
        return outcomes.details(shown[entry.consultation_id])

    names = await _names(
        db_session,
        {c.recorded_by_id for c in history} | {e.author_id for e in entries} | {participant.coach_id},
    )
    zone = ZoneInfo(me.timezone)
    timeline = [
        TimelineRow(
            kind=e.kind.value,
            when=" ".join(when(e.occurred_at, zone, visit.language)),
            who=names.get(e.author_id, "") if e.author_id else "",
            text=e.text,
            data=e.data,
            outcome=outcome_of(e),
        )
        for e in entries
    ]
    return visit.page(
        "staff_participant.html.j2",
        status=status,
        me=me,
        active="participants",
        participant=participant,
        coach=names.get(participant.coach_id) if participant.coach_id else None,
        consents=consent_states(history, names, zone, visit.language),
        timeline=timeline,
        outcome_texts=texts(visit.language)["outcome_form"],
        consent_form=consent_form or {"kind": "", "granted": "", "evidence": "", "errors": {}},
        note_form=note_form or {"text": "", "errors": {}},
        notice=notice,
    )


@get("/participants/{participant_id:uuid}", opt=PAGE, include_in_schema=False)
async def participant_page(
    participant_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *STAFF)
    notice = visit.t["participants"]["updated"] if request.query_params.get("done") == "updated" else None
    return await _participant_page(visit, db_session, me, participant_id, notice=notice)


@post("/participants/{participant_id:uuid}/consents", opt=PAGE, include_in_schema=False, status_code=200)
async def record_consent(
    participant_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """``POST /api/v1/participants/{id}/consents`` as a form: a grant or a withdrawal, with its evidence."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *STAFF)
    t = visit.t["participants"]
    kind, granted = str(form.get("kind", "")), str(form.get("granted", ""))
    evidence = str(form.get("evidence", "")).strip()
    errors: dict[str, str] = {}
    if kind not in {k.value for k in ConsentKind}:
        errors["kind"] = t["consent_kind_missing"]
    if granted not in ("yes", "no"):
        errors["granted"] = t["granted_missing"]
    if evidence and not _valid(evidence, Text):
        errors["evidence"] = t["evidence_invalid"]
    if errors:
        kept = {"kind": kind, "granted": granted, "evidence": evidence[:4000], "errors": errors}
        return await _participant_page(visit, db_session, me, participant_id, status=422, consent_form=kept)
    await participants.record_consent(
        db_session,
        me.actor,
        participant_id,
        kind=ConsentKind(kind),
        granted=granted == "yes",
        evidence=evidence or None,
    )
    return redirect(f"/participants/{participant_id}#consents", visit)


@post("/participants/{participant_id:uuid}/notes", opt=PAGE, include_in_schema=False, status_code=200)
async def add_note(
    participant_id: FromPath[uuid.UUID], request: Request[Any, Any, Any], db_session: DbSession
) -> Response[Any]:
    """``POST /api/v1/participants/{id}/notes`` as a form: a new note at the end of the case file."""
    visit = Visit.of(request)
    form = await request.form()
    visit.check_form(form)
    me = await require_me(db_session, visit, *STAFF)
    text = str(form.get("text", "")).strip()
    if not text or not _valid(text, Text):
        kept = {"text": text[:4000], "errors": {"text": visit.t["participants"]["note_invalid"]}}
        return await _participant_page(visit, db_session, me, participant_id, status=422, note_form=kept)
    await participants.add_note(db_session, me.actor, participant_id, text)
    return redirect(f"/participants/{participant_id}#case-file", visit)


routes = Router(
    path="/",
    route_handlers=[
        participant_list,
        new_participant_page,
        create_participant,
        edit_participant_page,
        edit_participant,
        participant_page,
        record_consent,
        add_note,
    ],
    exception_handlers=PAGE_ERRORS,
)
