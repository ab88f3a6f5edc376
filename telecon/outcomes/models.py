from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow


class Attendance(enum.StrEnum):
    attended = "attended"
    participant_no_show = "participant_no_show"
    specialist_no_show = "specialist_no_show"
    technical_failure = "technical_failure"


class WorkCapacity(enum.StrEnum):
    """Hours a day the participant can work, as the specialist judges it (the functional limit, not a diagnosis)."""

    six_hours_or_more = "six_hours_or_more"
    three_to_six_hours = "three_to_six_hours"
    under_three_hours = "under_three_hours"
    not_assessed = "not_assessed"


class RecommendationCode(enum.StrEnum):
    prevention_course = "prevention_course"
    physiotherapy = "physiotherapy"
    psychotherapy = "psychotherapy"
    addiction_counselling = "addiction_counselling"
    medical_rehabilitation = "medical_rehabilitation"
    vocational_rehabilitation = "vocational_rehabilitation"
    specialist_referral = "specialist_referral"
    work_capacity_assessment = "work_capacity_assessment"
    follow_up_consultation = "follow_up_consultation"
    other = "other"


class Outcome(IdMixin, Base):
    """One per consultation; its content is in versions, every one kept (an amendment adds one)."""

    __tablename__ = "outcome"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation.id", ondelete="CASCADE"), unique=True)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    """The specialist who recorded it: the only one who may amend it or read its clinical notes."""
    version: Mapped[int] = mapped_column(default=1)
    """The current version's number."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutcomeVersion(IdMixin, Base):
    __tablename__ = "outcome_version"
    __table_args__ = (UniqueConstraint("outcome_id", "version"),)

    outcome_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("outcome.id", ondelete="CASCADE"))
    version: Mapped[int]
    attendance: Mapped[Attendance] = mapped_column(enum_column(Attendance, "attendance"))
    summary_for_coach: Mapped[str | None] = mapped_column(Text)
    recommendations: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    """``[{"code": RecommendationCode, "text": str}]``."""
    work_capacity: Mapped[WorkCapacity] = mapped_column(
        enum_column(WorkCapacity, "work_capacity"), default=WorkCapacity.not_assessed
    )
    follow_up_weeks: Mapped[int | None] = mapped_column(SmallInteger)
    clinical_notes: Mapped[bytes | None] = mapped_column(LargeBinary)
    """AES-256-GCM ciphertext (nonce first) of the specialist's own notes; never stored in clear."""
    notes_key_id: Mapped[str | None] = mapped_column(String(32))
    """Which key encrypted ``clinical_notes`` (``telecon.crypto``), so that keys can rotate."""
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(16), default="account")
    """``account`` (signed in) or ``join_link`` (the specialist's link alone)."""
