from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, utcnow


class FailedAttempt(IdMixin, Base):
    """A failed login or an unknown join link, keyed by a hash of the account or address, to throttle guessing."""

    __tablename__ = "failed_attempt"
    __table_args__ = (Index("ix_failed_attempt_key_time", "key", "attempted_at"),)

    key: Mapped[str] = mapped_column(String(80))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
