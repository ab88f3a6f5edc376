from __future__ import annotations

import uuid
from typing import Any

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
    """A message for the outbox; the caller adds it in the transaction of the change that caused it."""
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
