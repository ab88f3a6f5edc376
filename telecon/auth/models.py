from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, utcnow


class LoginFailure(IdMixin, Base):
    """A failed login, keyed by a hash of the account or the address, counted to throttle guessing."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key_time", "key", "attempted_at"),)

    key: Mapped[str] = mapped_column(String(80))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
