"""A participant's rights under the GDPR: the export (Art. 15), erasure (Art. 17) and the retention limits.

Above participants, scheduling and outcomes, because the export and the erasure reach into all three.

Erasure keeps the facts a job centre must count (that a consultation took place, its status and times,
attendance, recommendation codes, work capacity) and removes what names or describes the person: names,
addresses, case reference, free texts (notes, consent evidence, the consultation's purpose, outcome summaries,
recommendation texts) and the clinical notes. Ids stay, so that the audit trail still adds up.

An erased participant gets no cancellation email: their address is removed in the same transaction, and
the participant's pending mails are voided. The other attendees (specialist, guests, coach) are told as on
any cancellation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.audit.models import AuditEvent
from telecon.organizations.models import User
from telecon.outbox.models import OutboxMessage, OutboxStatus
from telecon.outcomes import services as outcomes
from telecon.outcomes.models import Outcome, OutcomeVersion
from telecon.participants import services as participants
from telecon.participants.models import CaseFileEntry, Consent, Participant
from telecon.scheduling import services as scheduling
from telecon.scheduling.models import BOOKED, Attendee, Consultation, ConsultationStatus, ConsultationType

ERASED = "erased"
"""What an erased name reads as (the column is not nullable)."""
JOIN_RECORDS_KEPT = timedelta(days=90)
"""Who opened their join link and when is kept this long after the consultation's end."""


# --- export ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportedConsultation:
    consultation: Consultation
    type_name: str
    specialist_name: str
    attendees: list[Attendee]
    outcome: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Export:
    participant: Participant
    consents: set[Any]
    consent_history: list[Consent]
    case_file: list[CaseFileEntry]
    consultations: list[ExportedConsultation]
    audit_events: list[AuditEvent]


async def export_participant(session: AsyncSession, actor: Actor, participant_id: uuid.UUID) -> Export:
    """Everything telecon holds about a participant, as the organization's admin may see it.

    Outcomes appear as ``outcomes.visible_part`` shows them to an admin: never the clinical notes (only their
    author reads those, and exports them on their own). Audit events appear without details or addresses.
    """
    actor.require(Role.admin)
    participant = await participants.get_participant(session, actor, participant_id)
    history = await participants.consent_history(session, actor, participant.id)
    entries = list(
        await session.scalars(
            select(CaseFileEntry)
            .where(CaseFileEntry.participant_id == participant.id)
            .order_by(CaseFileEntry.occurred_at, CaseFileEntry.id)
        )
    )
    rows = (
        await session.execute(
            select(Consultation, ConsultationType.name, User.display_name)
            .join(ConsultationType, ConsultationType.id == Consultation.consultation_type_id)
            .join(User, User.id == Consultation.specialist_id)
            .where(
                Consultation.participant_id == participant.id,
                Consultation.organization_id == actor.organization_id,
                BOOKED,
            )
            .order_by(Consultation.starts_at, Consultation.id)
        )
    ).all()
    ids = [c.id for c, _, _ in rows]
    attendees: dict[uuid.UUID, list[Attendee]] = {i: [] for i in ids}
    for attendee in await session.scalars(
        select(Attendee).where(Attendee.consultation_id.in_(ids)).order_by(Attendee.kind, Attendee.id)
    ):
        attendees[attendee.consultation_id].append(attendee)
    shown = await outcomes.visible_outcomes(session, actor, participant.id, ids)
    events = list(
        await session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.organization_id == actor.organization_id,
                or_(
                    and_(AuditEvent.object_type == "participant", AuditEvent.object_id == participant.id),
                    and_(AuditEvent.object_type == "consultation", AuditEvent.object_id.in_(ids)),
                ),
            )
            .order_by(AuditEvent.occurred_at, AuditEvent.id)
        )
    )
    audit.record(session, actor, "participant.exported", "participant", participant.id)
    return Export(
        participant=participant,
        consents=await participants.active_consents(session, participant.id),
        consent_history=history,
        case_file=entries,
        consultations=[
            ExportedConsultation(c, type_name, specialist_name, attendees[c.id], _outcome(shown.get(c.id)))
            for c, type_name, specialist_name in rows
        ],
        audit_events=events,
    )


def _outcome(view: outcomes.OutcomeView | None) -> dict[str, Any] | None:
    return None if view is None else outcomes.details(view)


# --- erasure -----------------------------------------------------------------------------------------------


async def erase_participant(
    session: AsyncSession, actor: Actor, participant_id: uuid.UUID, *, now: datetime
) -> dict[str, int]:
    """Cancel the participant's future consultations (the normal cancel), then erase their personal data."""
    actor.require(Role.admin)
    participant = await participants.get_participant(session, actor, participant_id)
    upcoming = list(
        await session.scalars(
            select(Consultation.id).where(
                Consultation.participant_id == participant.id,
                Consultation.status == ConsultationStatus.scheduled,
                Consultation.starts_at > now,
            )
        )
    )
    for consultation_id in upcoming:
        await scheduling.cancel_consultation(session, actor, consultation_id, reason=None, now=now)
    counts = {"cancelled_consultations": len(upcoming), **await erase(session, participant)}
    audit.record(session, actor, "participant.erased", "participant", participant.id, rows=counts)
    return counts


async def erase(session: AsyncSession, participant: Participant) -> dict[str, int]:
    """Remove or pseudonymise a participant's personal data (the module docstring); the one erasure of
    the API and of the retention limit. Returns how many rows of each kind were changed."""
    participant.display_name = ERASED
    participant.email = None
    participant.case_reference = None
    participant.interpreter_language = None
    consents = await session.execute(
        update(Consent).where(Consent.participant_id == participant.id).values(evidence=None)
    )
    entries = await session.execute(
        update(CaseFileEntry).where(CaseFileEntry.participant_id == participant.id).values(text=None)
    )
    consultation_ids = select(Consultation.id).where(Consultation.participant_id == participant.id)
    consultations = await session.execute(
        update(Consultation)
        .where(Consultation.participant_id == participant.id)
        .values(purpose=None, cancel_reason=None)
    )
    attendee_ids = select(Attendee.id).where(Attendee.participant_id == participant.id)
    # Their mail would be rendered from the address removed below: not sent, and no error quoting it kept.
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.attendee_id.in_(attendee_ids), OutboxMessage.status == OutboxStatus.pending)
        .values(status=OutboxStatus.void)
    )
    await session.execute(
        update(OutboxMessage).where(OutboxMessage.attendee_id.in_(attendee_ids)).values(last_error="participant erased")
    )
    attendees = await session.execute(
        update(Attendee).where(Attendee.participant_id == participant.id).values(name=ERASED, email=None)
    )
    versions = list(
        await session.scalars(
            select(OutcomeVersion)
            .join(Outcome, Outcome.id == OutcomeVersion.outcome_id)
            .where(Outcome.consultation_id.in_(consultation_ids))
        )
    )
    for version in versions:
        version.summary_for_coach = None
        version.recommendations = [{"code": r["code"], "text": None} for r in version.recommendations]
        version.clinical_notes = None
        version.notes_key_id = None
    await session.flush()
    return {
        "consents": _count(consents),
        "case_file_entries": _count(entries),
        "consultations": _count(consultations),
        "attendees": _count(attendees),
        "outcome_versions": len(versions),
    }


def _count(result: Any) -> int:
    return int(result.rowcount or 0)


# --- retention ---------------------------------------------------------------------------------------------


async def forget_join_records(session: AsyncSession, *, now: datetime) -> int:
    """Who opened which link and when: kept for ``JOIN_RECORDS_KEPT`` after the consultation's end."""
    ended = select(Consultation.id).where(Consultation.ends_at < now - JOIN_RECORDS_KEPT)
    result = await session.execute(
        update(Attendee)
        .where(
            Attendee.consultation_id.in_(ended),
            or_(Attendee.first_joined_at.is_not(None), Attendee.join_count != 0),
        )
        .values(first_joined_at=None, last_joined_at=None, join_count=0)
    )
    return _count(result)


async def erase_expired_participants(session: AsyncSession, *, now: datetime, retention: timedelta) -> int:
    """Erase participants whose participation ended ``retention`` ago: registered before then, no consultation
    ending since (none ahead either), and not erased already."""
    cutoff = now - retention
    recent = exists().where(Consultation.participant_id == Participant.id, Consultation.ends_at >= cutoff)
    expired = list(
        await session.scalars(
            select(Participant).where(
                Participant.created_at < cutoff,
                ~recent,
                or_(Participant.display_name != ERASED, Participant.email.is_not(None)),
            )
        )
    )
    for participant in expired:
        counts = await erase(session, participant)
        audit.record(
            session,
            None,
            "participant.erased",
            "participant",
            participant.id,
            organization_id=participant.organization_id,
            reason="retention",
            rows=counts,
        )
    return len(expired)
