from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, utcnow


class WebhookSubscription(IdMixin, Base):
    """An organization's endpoint told of its consultations' events, each request signed with ``secret``.

    The secret is encrypted (``telecon.crypto``, associated data ``webhook:<id>``) and shown only once, in the
    answer that created it. A deleted subscription stays, inactive, so its deliveries' history keeps its name.
    """

    __tablename__ = "webhook_subscription"

    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]]
    secret_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    secret_key_id: Mapped[str] = mapped_column(String(32))
    """Which key of the ring encrypted the secret, so that keys can rotate."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)
