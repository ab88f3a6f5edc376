from __future__ import annotations

import uuid
from datetime import date, datetime

from telecon.organizations.models import Profession
from telecon.schemas import Language, Out, Strict, Text
from telecon.waitlist.models import WaitlistStatus
from telecon.waitlist.services import EntryView


class WaitlistIn(Strict):
    participant_id: uuid.UUID
    consultation_type_id: uuid.UUID
    profession: Profession
    language: Language | None = None
    """Only specialists who speak this language, e.g. `tr`."""
    latest_date: date | None = None
    """The last day (in the organization's time zone) a slot may fall on; after it the entry expires."""


class ConfirmIn(Strict):
    purpose: Text | None = None
    """For the specialist only, as when booking."""
    invite_coach: bool = False


class HoldOut(Out):
    specialist_id: uuid.UUID
    start: datetime
    end: datetime
    expires_at: datetime
    """Confirm before this; afterwards the slot goes to the next entry."""


class WaitlistOut(Out):
    id: uuid.UUID
    participant_id: uuid.UUID
    consultation_type_id: uuid.UUID
    profession: Profession
    language: str | None
    latest_date: date | None
    status: WaitlistStatus
    """`waiting`, `held` (see `hold`), `booked` (see `consultation_id`), `withdrawn` or `expired` (a hold ran out
    unconfirmed, or the latest date passed)."""
    hold: HoldOut | None
    consultation_id: uuid.UUID | None
    created_by_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, view: EntryView) -> WaitlistOut:
        entry, hold = view.entry, view.hold
        held = None
        if hold is not None and entry.hold_expires_at is not None:
            held = HoldOut(
                specialist_id=hold.specialist_id,
                start=hold.starts_at,
                end=hold.ends_at,
                expires_at=entry.hold_expires_at,
            )
        return cls(
            id=entry.id,
            participant_id=entry.participant_id,
            consultation_type_id=entry.consultation_type_id,
            profession=entry.profession,
            language=entry.language,
            latest_date=entry.latest_date,
            status=entry.status,
            hold=held,
            consultation_id=entry.consultation_id,
            created_by_id=entry.created_by_id,
            created_at=entry.created_at,
        )
