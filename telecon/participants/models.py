from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow


class ConsentKind(enum.StrEnum):
    video_consultation = "video_consultation"
    email_contact = "email_contact"
    share_outcome_with_coach = "share_outcome_with_coach"


class CaseFileKind(enum.StrEnum):
    note = "note"
    consent_recorded = "consent_recorded"
    consultation_booked = "consultation_booked"
    consultation_rescheduled = "consultation_rescheduled"
    consultation_cancelled = "consultation_cancelled"
    outcome_recorded = "outcome_recorded"
    recommendation = "recommendation"


class Participant(IdMixin, Base):
    __tablename__ = "participant"
    __table_args__ = (UniqueConstraint("organization_id", "case_reference"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    preferred_language: Mapped[str] = mapped_column(String(16), default="de")
    case_reference: Mapped[str | None] = mapped_column(String(64))
    coach_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    interpreter_language: Mapped[str | None] = mapped_column(String(16))
    easy_language: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(IdMixin, Base):
    """One entry of the consent history; withdrawing is a new entry, never an update."""

    __tablename__ = "consent"
    __table_args__ = (Index("ix_consent_participant_kind", "participant_id", "kind", "recorded_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[ConsentKind] = mapped_column(enum_column(ConsentKind, "consent_kind"))
    granted: Mapped[bool]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    evidence: Mapped[str | None] = mapped_column(Text)


class CaseFileEntry(IdMixin, Base):
    """The participant's timeline; services append, nobody edits."""

    __tablename__ = "case_file_entry"
    __table_args__ = (Index("ix_case_file_entry_participant", "participant_id", "occurred_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"))
    kind: Mapped[CaseFileKind] = mapped_column(enum_column(CaseFileKind, "case_file_kind"))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultation.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
