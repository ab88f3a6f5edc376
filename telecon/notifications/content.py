"""What an email says: the facts of one outbox row, read when it is sent, rendered in the reader's language.

A message is its strings: ``templates/email/<language>/strings.json`` holds every sentence of every message
for every audience (participant, guest, specialist, coach), and one text and one HTML layout
(``templates/email/message.txt.j2`` and ``.html.j2``) render any of them, so a language cannot lack a part.
Participant-facing languages are the folders; staff (specialists, coaches) read German or English.

What goes in is chosen here and nowhere else: the recipient's own name and link, the consultation type's
neutral name, the organization, the time, the coach as contact. Never the purpose, the specialist's
profession, another attendee's name or anything of an outcome.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import aliased

from telecon.dates import local_when
from telecon.notifications import ics
from telecon.organizations.models import Organization, User
from telecon.outbox.models import OutboxMessage, OutboxStatus, Topic
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind
from telecon.scheduling.links import JoinLinks
from telecon.scheduling.models import Attendee, AttendeeKind, Consultation, ConsultationStatus, ConsultationType
from telecon.scheduling.services import may_email
from telecon.templating import TEMPLATES_DIR, environment

EMAIL_DIR = TEMPLATES_DIR / "email"
STAFF_LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
STAFF_KINDS = frozenset({AttendeeKind.specialist, AttendeeKind.coach})
WITH_CALENDAR = {
    Topic.invitation: "REQUEST",
    Topic.rescheduled: "REQUEST",
    Topic.link_reissued: "REQUEST",
    Topic.cancelled: "CANCEL",
}
"""Which messages carry a calendar entry, and its iTIP method; reminders do not (the entry is there)."""

_FIRST_STRONG_ISOLATE, _POP_ISOLATE, _RIGHT_TO_LEFT_MARK = "\u2068", "\u2069", "\u200f"


@cache
def email_languages() -> frozenset[str]:
    """The participant-facing languages: one folder each under ``templates/email``."""
    return frozenset(p.parent.name for p in EMAIL_DIR.glob("*/strings.json"))


@cache
def strings(language: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EMAIL_DIR / language / "strings.json").read_text(encoding="utf-8"))
    return loaded


def reader_language(kind: AttendeeKind, preferred: str | None) -> str:
    """The language a recipient reads: their own if we have it for their audience, else German."""
    available = STAFF_LANGUAGES if kind in STAFF_KINDS else email_languages()
    if preferred in available:
        return str(preferred)
    base = (preferred or "").split("-")[0]
    return base if base in available else DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything a message may say and the relay decides on, read as plain columns in one query when it is sent."""

    message_id: uuid.UUID
    topic: str
    status: OutboxStatus
    sequence: int | None
    """The consultation's SEQUENCE when the row was written."""
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    attendee_id: uuid.UUID | None
    """``None`` for a message to a staff member who is no attendee (an outcome's notice to the coach)."""
    kind: AttendeeKind
    name: str
    email: str | None
    language: str
    token_nonce: str | None
    revoked_at: datetime | None
    consultation_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    consultation_status: ConsultationStatus
    consultation_sequence: int
    organization: str
    contact_phone: str | None
    title: str
    """The consultation type's name: neutral by rule (see DESIGN), e.g. "Erstgespräch"."""
    coach_name: str | None
    coach_email: str | None
    timezone: str
    """The reader's: a staff member's own zone, else the organization's."""
    email_consented: bool | None
    """The participant's latest ``email_contact`` entry (asked again now: consent can be withdrawn meanwhile)."""
    payload: dict[str, Any]
    """The row's own facts: a waitlist offer's ``hold_expires_at``."""

    @property
    def may_email(self) -> bool:
        return may_email(self.kind, self.email, self.email_consented)


def _facts_query() -> Select[*tuple[Any, ...]]:
    coach, reader = aliased(User), aliased(User)
    columns = {
        "message_id": OutboxMessage.id,
        "topic": OutboxMessage.topic,
        "status": OutboxMessage.status,
        "sequence": OutboxMessage.sequence,
        "attempts": OutboxMessage.attempts,
        "created_at": OutboxMessage.created_at,
        "next_attempt_at": OutboxMessage.next_attempt_at,
        "attendee_id": Attendee.id,
        "kind": Attendee.kind,
        "name": func.coalesce(Attendee.name, reader.display_name),
        "email": func.coalesce(Attendee.email, reader.email),
        "language": Attendee.language,
        "reader_languages": reader.languages,
        "token_nonce": Attendee.token_nonce,
        "revoked_at": Attendee.revoked_at,
        "consultation_id": Consultation.id,
        "starts_at": Consultation.starts_at,
        "ends_at": Consultation.ends_at,
        "consultation_status": Consultation.status,
        "consultation_sequence": Consultation.sequence,
        "organization": Organization.name,
        "contact_phone": Organization.contact_phone,
        "title": ConsultationType.name,
        "coach_name": coach.display_name,
        "coach_email": coach.email,
        "timezone": func.coalesce(reader.timezone, Organization.timezone),
        "email_consented": participants.latest_consent(
            Consultation.participant_id, ConsentKind.email_contact
        ).correlate(Consultation),
        "payload": OutboxMessage.payload,
    }
    return (
        select(*(column.label(name) for name, column in columns.items()))
        .select_from(OutboxMessage)
        .outerjoin(Attendee, Attendee.id == OutboxMessage.attendee_id)
        .join(Consultation, Consultation.id == OutboxMessage.consultation_id)
        .join(Organization, Organization.id == Consultation.organization_id)
        .join(ConsultationType, ConsultationType.id == Consultation.consultation_type_id)
        .outerjoin(coach, coach.id == Consultation.booked_by_id)
        .outerjoin(reader, reader.id == func.coalesce(Attendee.user_id, OutboxMessage.user_id))
        .where(OutboxMessage.id == bindparam("message_id"))
    )


_FACTS = _facts_query()  # built once: every message runs it


async def load_facts(connection: AsyncConnection, message_id: uuid.UUID) -> Facts | None:
    """One round trip, no ORM objects: the relay's busiest read (measured by ``bench/mail.py``)."""
    row = (await connection.execute(_FACTS, {"message_id": message_id})).first()
    if row is None:
        return None
    values = dict(row._mapping)
    languages = values.pop("reader_languages") or []
    if values["attendee_id"] is None:  # a staff member who is no attendee (``OutboxMessage.user_id``)
        values.update(kind=AttendeeKind.coach, language=languages[0] if languages else DEFAULT_LANGUAGE)
    return Facts(**values)


def stale_reason(facts: Facts) -> str | None:
    """Why a message should not go out any more, or ``None`` when it should."""
    if not facts.may_email:
        return "the attendee has no address or no consent to email contact any more"
    if facts.topic in (Topic.cancelled, Topic.outcome_recorded):
        return None  # news of an ended consultation
    if facts.topic == Topic.waitlist_offer:
        # The hold's row is deleted when it ends; while it is there, the offer stands.
        return None if facts.consultation_status is ConsultationStatus.held else "the hold has ended"
    if facts.consultation_status is not ConsultationStatus.scheduled:
        return f"the consultation is {facts.consultation_status.value}"
    if facts.topic == Topic.reminder and facts.sequence != facts.consultation_sequence:
        return "the consultation moved; its new reminders replace this one"
    return None


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str
    calendar: bytes | None
    method: str | None
    language: str
    direction: str


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _fill(template: str, values: Mapping[str, str], *, html: bool, rtl: bool) -> str:
    """``template`` with its ``{placeholders}`` filled; in right-to-left text each value is isolated.

    A value (a date, an address, a link) keeps its own direction inside an Arabic sentence: in HTML a
    ``<bdi>``, in plain text the Unicode isolates FSI … PDI (the text part's equivalent). For HTML the
    result is ``Markup``: the template's text and the values escaped, the ``<bdi>`` not.
    """
    pieces = _PLACEHOLDER.split(template)  # text, name, text, name, …, text
    if html:
        return Markup("").join(
            Markup("<bdi>{}</bdi>").format(values[piece]) if odd else escape(piece)
            for odd, piece in ((i % 2 == 1, p) for i, p in enumerate(pieces))
        )
    filled = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            filled.append(piece)
        else:
            filled.append(f"{_FIRST_STRONG_ISOLATE}{values[piece]}{_POP_ISOLATE}" if rtl else values[piece])
    return "".join(filled)


class Composer:
    """Renders messages; holds what every message needs besides its facts."""

    def __init__(self, links: JoinLinks, *, mail_from: tuple[str, str], host: str, opens_minutes: int):
        self._links = links
        self._mail_from = mail_from
        self._host = host
        self._opens_minutes = opens_minutes

    def render(self, facts: Facts, *, now: datetime) -> Rendered:
        topic = Topic(facts.topic)
        name = topic.name
        language = reader_language(facts.kind, facts.language)
        s = strings(language)
        rtl = s["direction"] == "rtl"
        audience = "participant" if facts.kind is AttendeeKind.participant else facts.kind.value
        when = local_when(facts.starts_at, facts.timezone, language)
        join_url = self._links.url(facts.token_nonce) if facts.token_nonce and facts.revoked_at is None else None
        values = {
            "name": facts.name,
            "title": facts.title,
            "organization": facts.organization,
            "coach": facts.coach_name or facts.organization,
            "coach_email": facts.coach_email or "",
            "phone": facts.contact_phone or "",
            "date": when.date,
            "time": when.time,
            "zone": when.zone,
            "minutes": str(self._opens_minutes),
            "until": "",
            "link": f"{self._links.public_url.rstrip('/')}/waitlist",
        }
        if until := facts.payload.get("hold_expires_at"):
            held_until = local_when(datetime.fromisoformat(until), facts.timezone, language)
            values["until"] = f"{held_until.date}, {held_until.time}"

        def lines(template: str, *, html: bool) -> list[str]:
            return [_fill(line, values, html=html, rtl=rtl) for line in template.split("\n")]

        def part(*, html: bool) -> dict[str, Any]:
            return {
                "greeting": lines(s["greeting"], html=html),
                "lead": lines(s["lead"][name][audience], html=html),
                "when_label": s["when_label"],
                "when": lines(s["when"], html=html),
                "join_label": s["join_label"],
                "join_button": s["join_button"],
                "join_text": lines(s["join_text"], html=html),
                "join_opens": lines(s["join_opens"], html=html),
                "no_app": lines(s["no_app"], html=html),
                "prepare_label": s["prepare_label"],
                "prepare": [lines(item, html=html) for item in s["prepare"]],
                "personal_link": lines(s["personal_link"], html=html),
                "calendar_hint": lines(s["calendar_hint"], html=html),
                "contact_label": s["contact_label"],
                "contact": lines(s["contact"], html=html) if facts.coach_email else [],
                "contact_phone": lines(s["contact_phone"], html=html) if facts.contact_phone else [],
                "footer": lines(s["footer"], html=html),
            }

        method = WITH_CALENDAR.get(topic)
        context = {
            "language": language,
            "direction": s["direction"],
            "join_url": join_url if topic is not Topic.cancelled else None,
            "show_prepare": facts.kind not in STAFF_KINDS and topic is not Topic.cancelled,
            "with_calendar": method is not None,
        }
        text = environment().get_template("email/message.txt.j2").render(s=part(html=False), **context)
        if rtl:
            text = "\n".join(f"{_RIGHT_TO_LEFT_MARK}{line}" if line.strip() else line for line in text.split("\n"))
        subject = _fill(s["subject"][name], values, html=False, rtl=rtl)
        html = environment().get_template("email/message.html.j2").render(s=part(html=True), subject=subject, **context)
        calendar = None
        if method is not None:
            calendar = ics.itip(
                "CANCEL" if method == "CANCEL" else "REQUEST",
                ics.Event(
                    uid=ics.consultation_uid(facts.consultation_id, self._host),
                    sequence=facts.consultation_sequence,
                    starts_at=facts.starts_at,
                    ends_at=facts.ends_at,
                    summary=f"{facts.title} – {facts.organization}",
                    description="\n".join(s["no_app"].split("\n")) + (f"\n\n{join_url}" if join_url else ""),
                    url=join_url,
                    organizer=self._mail_from,
                    attendee=(facts.name, facts.email or ""),
                    cancelled=method == "CANCEL",
                    stamp=now,
                ),
            )
        return Rendered(subject, text, html, calendar, method, language, s["direction"])
