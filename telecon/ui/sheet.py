"""The printable instruction sheet: one A4 page for a participant without email, in the participant's language.

It says what an invitation email says to a participant, and nothing more (``telecon.notifications.content``
decides that): the consultation type's neutral name, the organization, the time in the organization's zone,
the coach as contact, and the participant's own join link, written out and as a QR code. Never the purpose,
the specialist (name or profession) or another attendee. The link is the one the consultation page shows the
coach (``scheduling.visible_join_url``); handing it out on paper is recorded in the audit log.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import segno
from litestar import Request, Response, Router, get
from litestar.datastructures import State
from litestar.params import FromPath
from markupsafe import Markup, escape

from telecon.audit import services as audit
from telecon.dates import local_when
from telecon.organizations.models import Organization, User
from telecon.scheduling import services as scheduling
from telecon.scheduling.models import AttendeeKind, ConsultationStatus, ConsultationType
from telecon.scheduling.services import SchedulingPolicy, visible_join_url
from telecon.templating import DEFAULT_LANGUAGE, pick_language, texts
from telecon.ui.routes import PAGE_ERRORS, Visit, require_me
from telecon.web import DbSession, current_time

BOOKERS = scheduling.BOOKERS
EARLY_MINUTES = 5
"""How long before the start the sheet asks the participant to open the link (the room opens earlier)."""
QR_ERROR_LEVEL = "m"
"""15 % of the code may be damaged (a crease, a stain) and it still reads."""
QR_SCALE = 4


def qr_svg(link: str, title: str) -> Markup:
    """The link as a QR code, an inline SVG that scales with CSS (no fixed size) and prints sharp."""
    code = segno.make(link, error=QR_ERROR_LEVEL, micro=False)
    svg = code.svg_inline(scale=QR_SCALE, border=4, dark="#000", light="#fff", omitsize=True, title=title)
    return Markup(svg)  # noqa: S704 - segno writes the SVG; the title is escaped by segno, the link is data


def fill(template: str, **values: str) -> Markup:
    """A sentence with its ``{placeholders}`` filled, each value escaped and isolated in ``<bdi>`` (a phone number
    or a Latin name keeps its direction inside Arabic text)."""
    isolated = {name: Markup("<bdi>{}</bdi>").format(value) for name, value in values.items()}
    return escape(template).format(**isolated)


def sheet_language(attendee_language: str | None) -> str:
    """The language of the participant's invitations and join page, if the sheet exists in it; else German."""
    language = pick_language(attendee_language)
    return language if "sheet" in texts(language) else DEFAULT_LANGUAGE


@get(
    "/consultations/{consultation_id:uuid}/sheet",
    opt={"public": True, "roles": BOOKERS},
    include_in_schema=False,
)
async def instruction_sheet(
    request: Request[Any, Any, Any], consultation_id: FromPath[uuid.UUID], db_session: DbSession, state: State
) -> Response[Any]:
    """A one-page instruction sheet with the participant's join link and its QR code, to print and hand over."""
    visit = Visit.of(request)
    me = await require_me(db_session, visit, *BOOKERS)
    policy: SchedulingPolicy = state.scheduling_policy
    view = await scheduling.get_consultation(db_session, me.actor, consultation_id)
    consultation = view.consultation
    attendee = next((a for a in view.attendees if a.kind is AttendeeKind.participant), None)
    organization = await db_session.get_one(Organization, consultation.organization_id)
    consultation_type = await db_session.get(ConsultationType, consultation.consultation_type_id)
    coach = await db_session.get(User, consultation.booked_by_id) if consultation.booked_by_id else None
    language = sheet_language(attendee.language if attendee else None)
    p = texts(language)
    now = current_time(state)
    if consultation.status is ConsultationStatus.cancelled:
        state_value = "cancelled"
    elif consultation.status is not ConsultationStatus.scheduled or consultation.ends_at <= now:
        state_value = "ended"
    else:
        state_value = "open"
    link = None
    if attendee is not None and state_value == "open":
        link = visible_join_url(policy.links, me.actor, attendee)
        if link is not None:  # a credential handed out on paper: who printed whose link, and when
            audit.record(
                db_session,
                me.actor,
                "attendee.sheet_opened",
                "consultation",
                consultation.id,
                attendee_id=str(attendee.id),
            )
    if link is None and state_value == "open":
        state_value = "no_link"
    zone = organization.timezone
    start = local_when(consultation.starts_at, zone, language)
    early = local_when(consultation.starts_at - timedelta(minutes=EARLY_MINUTES), zone, language)
    contact = coach.display_name if coach else organization.name
    values = {"coach": contact, "organization": organization.name}
    s = p["sheet"]
    return visit.page(
        "staff_sheet.html.j2",
        headers={"Cache-Control": "no-store"},
        me=me,
        active="book",
        id=str(consultation.id),
        state_value=state_value,
        sheet_lang=language,
        direction=p["direction"],
        p=p,
        s=s,
        language_name=visit.t["participants"]["languages"].get(language, language),
        name=attendee.name if attendee else "",
        intro=fill(s["intro"], title=consultation_type.name if consultation_type else "", **values),
        when=fill(p["when"], date=start.date, time=start.time, zone=start.zone),
        link=link,
        qr=qr_svg(link, s["qr_title"]) if link else None,
        steps=[fill(step, minutes=str(EARLY_MINUTES), early=early.time) for step in s["steps"]],
        trouble=(
            fill(s["trouble_phone"], phone=organization.contact_phone, **values)
            if organization.contact_phone
            else fill(s["trouble"], **values)
        ),
        coach_email=fill(p["contact_email"], email=coach.email) if coach else None,
        cancelled_contact=fill(s["cancelled_contact"], **values),
    )


routes = Router(path="/", route_handlers=[instruction_sheet], exception_handlers=PAGE_ERRORS)
