from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from telecon.outcomes.models import Attendance, RecommendationCode, WorkCapacity
from telecon.outcomes.services import OutcomeData, OutcomeView, Recommendation
from telecon.schemas import Out, Strict, Text


class RecommendationIn(Strict):
    code: RecommendationCode
    text: Text | None = None


class OutcomeIn(Strict):
    """What the specialist records. `summary_for_coach` and the recommendations reach the coach only with the
    participant's `share_outcome_with_coach` consent; `clinical_notes` reach nobody but their author."""

    attendance: Attendance
    summary_for_coach: Text | None = None
    recommendations: Annotated[list[RecommendationIn], msgspec.Meta(max_length=20)] = []
    work_capacity: WorkCapacity = WorkCapacity.not_assessed
    follow_up_weeks: Annotated[int, msgspec.Meta(ge=0, le=104)] | None = None
    clinical_notes: Text | None = None

    def data(self) -> OutcomeData:
        return OutcomeData(
            attendance=self.attendance,
            summary_for_coach=self.summary_for_coach,
            recommendations=[Recommendation(r.code.value, r.text) for r in self.recommendations],
            work_capacity=self.work_capacity,
            follow_up_weeks=self.follow_up_weeks,
            clinical_notes=self.clinical_notes,
        )


class RecommendationOut(Out):
    code: str
    text: str | None


class OutcomeOut(Out):
    """An outcome as the caller may see it: fields the caller may not see are `null`, never empty values."""

    consultation_id: uuid.UUID
    version: int
    recorded_at: datetime
    attendance: Attendance
    release_missing: bool
    """`true`: the participant has not released the outcome to the coach (`share_outcome_with_coach`)."""
    summary_for_coach: str | None
    recommendations: list[RecommendationOut] | None
    work_capacity: WorkCapacity | None
    follow_up_weeks: int | None
    clinical_notes: str | None
    """Only for the specialist who wrote them."""

    @classmethod
    def of(cls, view: OutcomeView) -> OutcomeOut:
        return cls(
            consultation_id=view.consultation_id,
            version=view.version,
            recorded_at=view.recorded_at,
            attendance=view.attendance,
            release_missing=view.release_missing,
            summary_for_coach=view.summary_for_coach,
            recommendations=None
            if view.recommendations is None
            else [RecommendationOut(code=r.code, text=r.text) for r in view.recommendations],
            work_capacity=view.work_capacity,
            follow_up_weeks=view.follow_up_weeks,
            clinical_notes=view.clinical_notes,
        )
