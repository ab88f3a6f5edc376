from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telecon.notifications.models import OutboxMessage


def enqueue(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    topic: str,
    dedupe_key: str,
    payload: dict[str, Any],
    consultation_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction: it commits, or vanishes, with the change."""
    message = OutboxMessage(
        organization_id=organization_id,
        consultation_id=consultation_id,
        topic=topic,
        dedupe_key=dedupe_key,
        payload=payload,
    )
    session.add(message)
    return message
