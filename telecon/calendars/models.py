"""A specialist's own calendar (CalDAV or an ICS URL) and the busy times last read from it."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, enum_column, utcnow


class CalendarKind(enum.StrEnum):
    caldav = "caldav"
    ics = "ics"


class CalendarSource(IdMixin, Base):
    """The one calendar a specialist connected; its busy times remove slots in every organization they serve.

    The URL and the password are encrypted (``telecon.crypto``, associated data ``calendar_source:<id>:url`` and
    ``calendar_source:<id>``): an ICS link carries a private token that opens the whole calendar, so it counts as
    a password. ``shown_url`` is what may be shown: scheme, host and port only. The password is never shown.
    Replacing the calendar makes a new row (a new id), so a sync still reading the old one writes nothing.
    ``last_synced_at`` is the last successful read; ``last_error`` the last failed one's reason, cleared by success.
    """

    __tablename__ = "calendar_source"

    specialist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    kind: Mapped[CalendarKind] = mapped_column(enum_column(CalendarKind, "calendar_kind"))
    shown_url: Mapped[str] = mapped_column(String(2000))
    url_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    url_key_id: Mapped[str] = mapped_column(String(32))
    username: Mapped[str | None] = mapped_column(String(200))
    password_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    password_key_id: Mapped[str | None] = mapped_column(String(32))
    """Which key of the ring encrypted the password (``url_key_id``: the URL), so that keys can rotate."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_synced_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    last_error_at: Mapped[datetime | None]


class BusyPeriod(IdMixin, Base):
    """A time the specialist is busy in their own calendar: only the interval, never what the event was."""

    __tablename__ = "busy_period"
    __table_args__ = (Index("ix_busy_period_specialist", "specialist_id", "starts_at"),)

    source_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("calendar_source.id", ondelete="CASCADE"), index=True)
    specialist_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
