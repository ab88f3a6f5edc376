from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from telecon.db import utcnow
from telecon.notifications.models import OutboxMessage, OutboxStatus


def message(
    *,
    organization_id: uuid.UUID,
    topic: str,
    dedupe_key: str,
    payload: dict[str, Any],
    consultation_id: uuid.UUID | None = None,
) -> OutboxMessage:
    now = utcnow()
    return OutboxMessage(
        id=uuid.uuid4(),
        organization_id=organization_id,
        consultation_id=consultation_id,
        topic=topic,
        dedupe_key=dedupe_key,
        payload=payload,
        status=OutboxStatus.pending,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )


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
    row = message(
        organization_id=organization_id,
        topic=topic,
        dedupe_key=dedupe_key,
        payload=payload,
        consultation_id=consultation_id,
    )
    session.add(row)
    return row
