from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import msgspec

from telecon.participants.models import CaseFileEntry, CaseFileKind, Consent, ConsentKind, Participant
from telecon.schemas import SINGLE_LINE, Email, Language, Name, Out, Strict, Text

if TYPE_CHECKING:
    from telecon.participants.services import ParticipantChanges

# The job centre's own number; as long as its column, so that a longer one is refused, not a database error.
CaseReference = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=SINGLE_LINE)]


class ParticipantCreate(Strict):
    display_name: Name
    email: Email | None = None
    preferred_language: Language = "de"
    case_reference: CaseReference | None = None
    coach_id: uuid.UUID | None = None
    interpreter_language: Language | None = None
    easy_language: bool = False


class ParticipantUpdate(Strict):
    """A correction of a participant's details: a field left out stays as it is; ``null`` clears an optional one.

    Consultations already booked keep the name, address and language they were booked with.
    """

    display_name: Name | msgspec.UnsetType = msgspec.UNSET
    email: Email | msgspec.UnsetType | None = msgspec.UNSET
    preferred_language: Language | msgspec.UnsetType = msgspec.UNSET
    case_reference: CaseReference | msgspec.UnsetType | None = msgspec.UNSET
    coach_id: uuid.UUID | msgspec.UnsetType | None = msgspec.UNSET
    interpreter_language: Language | msgspec.UnsetType | None = msgspec.UNSET
    easy_language: bool | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> ParticipantChanges:
        sent = {f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not msgspec.UNSET}
        return cast("ParticipantChanges", sent)


class ParticipantOut(Out):
    id: uuid.UUID
    display_name: str
    email: str | None
    preferred_language: str
    case_reference: str | None
    coach_id: uuid.UUID | None
    interpreter_language: str | None
    easy_language: bool
    consents: list[ConsentKind]
    created_at: datetime

    @classmethod
    def of(cls, participant: Participant, consents: set[ConsentKind]) -> ParticipantOut:
        return cls(
            id=participant.id,
            display_name=participant.display_name,
            email=participant.email,
            preferred_language=participant.preferred_language,
            case_reference=participant.case_reference,
            coach_id=participant.coach_id,
            interpreter_language=participant.interpreter_language,
            easy_language=participant.easy_language,
            consents=sorted(consents),
            created_at=participant.created_at,
        )


class ConsentCreate(Strict):
    kind: ConsentKind
    granted: bool
    evidence: Text | None = None


class ConsentOut(Out):
    id: uuid.UUID
    kind: ConsentKind
    granted: bool
    recorded_at: datetime
    recorded_by_id: uuid.UUID | None
    evidence: str | None

    @classmethod
    def of(cls, consent: Consent) -> ConsentOut:
        return cls(
            id=consent.id,
            kind=consent.kind,
            granted=consent.granted,
            recorded_at=consent.recorded_at,
            recorded_by_id=consent.recorded_by_id,
            evidence=consent.evidence,
        )


class NoteCreate(Strict):
    text: Text


class CaseFileEntryOut(Out):
    id: uuid.UUID
    kind: CaseFileKind
    occurred_at: datetime
    author_id: uuid.UUID | None
    consultation_id: uuid.UUID | None
    text: str | None
    data: dict[str, Any]
    outcome: dict[str, Any] | None = None
    """On `outcome_recorded` entries: the consultation's current outcome as the caller may see it (attendance
    always; summary, recommendations, work capacity and follow-up only with the participant's release)."""

    @classmethod
    def of(cls, entry: CaseFileEntry, outcome: dict[str, Any] | None = None) -> CaseFileEntryOut:
        return cls(
            id=entry.id,
            kind=entry.kind,
            occurred_at=entry.occurred_at,
            author_id=entry.author_id,
            consultation_id=entry.consultation_id,
            text=entry.text,
            data=entry.data,
            outcome=outcome,
        )


class CaseFileOut(Out):
    participant_id: uuid.UUID
    entries: list[CaseFileEntryOut]
    next: str | None = None
    """The `after` of the next page; `null` on the last one."""
