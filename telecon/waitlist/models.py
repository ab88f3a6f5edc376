from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow
from telecon.organizations.models import Profession


class WaitlistStatus(enum.StrEnum):
    waiting = "waiting"
    held = "held"
    """A slot is held for the entry (``hold_id``) until ``hold_expires_at``: its coach confirms or lets it go."""
    booked = "booked"
    withdrawn = "withdrawn"
    expired = "expired"
    """The hold ran out unconfirmed, or the latest date passed without a slot."""


OPEN_STATUSES = (WaitlistStatus.waiting, WaitlistStatus.held)


class WaitlistEntry(IdMixin, Base):
    """A participant waiting for a consultation of a type with a specialist of a profession.

    The hold itself is a ``consultation`` row with status ``held``: slot search, booking and, on PostgreSQL, the
    exclusion constraint see it like any booking, so nobody books through a hold.
    """

    __tablename__ = "waitlist_entry"
    __table_args__ = (Index("ix_waitlist_entry_queue", "status", "created_at"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("participant.id", ondelete="CASCADE"), index=True)
    consultation_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultation_type.id", ondelete="CASCADE"))
    profession: Mapped[Profession] = mapped_column(enum_column(Profession, "waitlist_profession"))
    language: Mapped[str | None] = mapped_column(String(16))
    """Only specialists who speak it."""
    latest_date: Mapped[date | None]
    """The last day (in the organization's zone) a slot may fall on; the entry expires after it."""
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    """The coach who put the participant on the list: they are told of a hold."""
    status: Mapped[WaitlistStatus] = mapped_column(
        enum_column(WaitlistStatus, "waitlist_status"), default=WaitlistStatus.waiting
    )
    hold_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultation.id", ondelete="SET NULL"))
    hold_expires_at: Mapped[datetime | None]
    consultation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("consultation.id", ondelete="SET NULL"))
    """The consultation the hold became once confirmed."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
