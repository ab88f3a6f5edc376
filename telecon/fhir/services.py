"""What the FHIR export reads: the scheduling service's own functions, with the actor of the bearer token.

``get_consultation`` and ``list_consultations`` decide what the caller sees (another organization's consultation
is not found, a specialist sees only their own), exactly as for ``/api/v1/consultations``; this module only adds
what an Appointment names besides: the consultation type's name, and the case reference where the participants'
own rules let the caller read it.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor
from telecon.fhir.mapping import Export
from telecon.fhir.search import PatientQuery, StartRange
from telecon.organizations.models import Organization
from telecon.participants import services as participants
from telecon.scheduling import services as scheduling
from telecon.scheduling.models import Attendee, AttendeeKind, ConsultationType
from telecon.scheduling.services import ConsultationView


async def read_appointment(session: AsyncSession, actor: Actor, consultation_id: uuid.UUID) -> Export:
    view = await scheduling.get_consultation(session, actor, consultation_id)
    [export] = await _exports(session, actor, [view])
    return export


async def search_appointments(
    session: AsyncSession, actor: Actor, *, patient: PatientQuery | None, starts: StartRange, limit: int
) -> tuple[list[Export], bool]:
    """The appointments found, soonest first, at most ``limit``; and whether more matched."""
    participant_id: uuid.UUID | None = None
    if patient is not None:
        if patient.case_reference is not None:
            found = await participants.find_by_case_reference(session, actor, patient.case_reference)
            participant_id = found.id if found is not None else None
        else:
            participant_id = patient.participant_id
        if participant_id is None:
            return [], False
    if starts.empty:
        return [], False
    rows = await scheduling.list_consultations(
        session,
        actor,
        starts_from=starts.lower,
        end=starts.upper,
        participant_id=participant_id,
        limit=limit + 1,
    )
    shown = rows[:limit]
    ids = [c.id for c, _ in shown]
    attendees: dict[uuid.UUID, list[Attendee]] = defaultdict(list)
    if ids:
        # Of the consultations the service has just shown the caller; the two the Appointment names.
        found_attendees = await session.scalars(
            select(Attendee).where(
                Attendee.consultation_id.in_(ids),
                Attendee.kind.in_([AttendeeKind.participant, AttendeeKind.specialist]),
            )
        )
        for attendee in found_attendees:
            attendees[attendee.consultation_id].append(attendee)
    views = [ConsultationView(c, attendees[c.id], specialist_available=available) for c, available in shown]
    return await _exports(session, actor, views), len(rows) > limit


async def _exports(session: AsyncSession, actor: Actor, views: Sequence[ConsultationView]) -> list[Export]:
    type_ids = {v.consultation.consultation_type_id for v in views}
    names: dict[uuid.UUID, str] = {}
    if type_ids:
        rows = await session.execute(
            select(ConsultationType.id, ConsultationType.name).where(ConsultationType.id.in_(type_ids))
        )
        for type_id, name in rows:
            names[type_id] = name
    references = await participants.case_references(session, actor, (v.consultation.participant_id for v in views))
    return [
        Export(
            view=v,
            type_name=names[v.consultation.consultation_type_id],
            case_reference=references.get(v.consultation.participant_id),
        )
        for v in views
    ]


async def organization_zone(session: AsyncSession, actor: Actor) -> ZoneInfo:
    """Where a date without a time (``date=2027-03-01``) begins and ends: the organization's time zone."""
    name = await session.scalar(select(Organization.timezone).where(Organization.id == actor.organization_id))
    return ZoneInfo(name or "Europe/Berlin")
