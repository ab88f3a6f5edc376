from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from telecon.participants.schemas import CaseFileEntryOut, ConsentOut, ParticipantOut
from telecon.rights.services import Export, ExportedConsultation
from telecon.scheduling.models import Attendee, AttendeeKind, ConsultationStatus
from telecon.schemas import Out


class JoinRecordOut(Out):
    """One attendee of a consultation: which kind, and when their link was opened (never the link)."""

    kind: AttendeeKind
    first_joined_at: datetime | None
    last_joined_at: datetime | None
    join_count: int
    revoked_at: datetime | None

    @classmethod
    def of(cls, attendee: Attendee) -> JoinRecordOut:
        return cls(
            kind=attendee.kind,
            first_joined_at=attendee.first_joined_at,
            last_joined_at=attendee.last_joined_at,
            join_count=attendee.join_count,
            revoked_at=attendee.revoked_at,
        )


class ExportedConsultationOut(Out):
    id: uuid.UUID
    status: ConsultationStatus
    start: datetime
    end: datetime
    consultation_type: str
    specialist_id: uuid.UUID
    specialist_name: str
    attendees: list[JoinRecordOut]
    outcome: dict[str, Any] | None
    """As the admin sees it: attendance; the rest only with the participant's release; never clinical notes."""

    @classmethod
    def of(cls, exported: ExportedConsultation) -> ExportedConsultationOut:
        c = exported.consultation
        return cls(
            id=c.id,
            status=c.status,
            start=c.starts_at,
            end=c.ends_at,
            consultation_type=exported.type_name,
            specialist_id=c.specialist_id,
            specialist_name=exported.specialist_name,
            attendees=[JoinRecordOut.of(a) for a in exported.attendees],
            outcome=exported.outcome,
        )


class AuditEventRefOut(Out):
    """An audit event about the participant: what happened when, by whom (ids only; no details, no address)."""

    id: uuid.UUID
    occurred_at: datetime
    action: str
    actor_id: uuid.UUID | None
    object_type: str
    object_id: uuid.UUID | None


class ExportOut(Out):
    exported_at: datetime
    participant: ParticipantOut
    consents: list[ConsentOut]
    case_file: list[CaseFileEntryOut]
    consultations: list[ExportedConsultationOut]
    audit_events: list[AuditEventRefOut]

    @classmethod
    def of(cls, export: Export, exported_at: datetime) -> ExportOut:
        return cls(
            exported_at=exported_at,
            participant=ParticipantOut.of(export.participant, export.consents),
            consents=[ConsentOut.of(c) for c in export.consent_history],
            case_file=[CaseFileEntryOut.of(e) for e in export.case_file],
            consultations=[ExportedConsultationOut.of(c) for c in export.consultations],
            audit_events=[
                AuditEventRefOut(
                    id=e.id,
                    occurred_at=e.occurred_at,
                    action=e.action,
                    actor_id=e.actor_id,
                    object_type=e.object_type,
                    object_id=e.object_id,
                )
                for e in export.audit_events
            ],
        )


class ErasureOut(Out):
    """How many rows the erasure changed, by kind."""

    participant_id: uuid.UUID
    cancelled_consultations: int
    consents: int
    case_file_entries: int
    consultations: int
    attendees: int
    outcome_versions: int
