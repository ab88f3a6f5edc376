from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, utcnow


class FailedAttempt(IdMixin, Base):
    """A failed login or an unknown join link, keyed by a hash of the account or address, to throttle guessing."""

    __tablename__ = "failed_attempt"
    __table_args__ = (Index("ix_failed_attempt_key_time", "key", "attempted_at"),)

    key: Mapped[str] = mapped_column(String(80))
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnownAddress(IdMixin, Base):
    """An address an account has logged in from, kept as a salted hash, never as the address itself.

    Failures for the account from elsewhere do not lock the account holder out at such an address.
    """

    __tablename__ = "known_login_address"
    __table_args__ = (UniqueConstraint("user_id", "address_hash"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    address_hash: Mapped[str] = mapped_column(String(64))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
