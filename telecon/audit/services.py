from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit.models import AuditEvent
from telecon.db import utcnow


def event(
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    *,
    organization_id: uuid.UUID | None = None,
    **details: Any,
) -> AuditEvent:
    return AuditEvent(
        id=uuid.uuid4(),
        organization_id=organization_id or (actor.organization_id if actor else None),
        actor_id=actor.user_id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        occurred_at=utcnow(),
        remote_address=actor.remote_address if actor else None,
        details=details,
    )


def record(
    session: AsyncSession,
    actor: Actor | None,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    *,
    organization_id: uuid.UUID | None = None,
    **details: Any,
) -> AuditEvent:
    """Append an audit event to the current transaction; ``details`` carry identifiers, never health data."""
    row = event(actor, action, object_type, object_id, organization_id=organization_id, **details)
    session.add(row)
    return row


async def list_events(
    session: AsyncSession,
    actor: Actor,
    *,
    object_id: uuid.UUID | None = None,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    object_type: str | None = None,
    limit: int = 100,
    before: Any = None,
    since: Any = None,
) -> list[AuditEvent]:
    """The organization's events, newest first: ``before`` is exclusive (the next page), ``since`` inclusive."""
    actor.require(Role.admin)
    query = select(AuditEvent).where(AuditEvent.organization_id == actor.organization_id)
    if object_id is not None:
        query = query.where(AuditEvent.object_id == object_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    if actor_id is not None:
        query = query.where(AuditEvent.actor_id == actor_id)
    if object_type is not None:
        query = query.where(AuditEvent.object_type == object_type)
    if before is not None:
        query = query.where(AuditEvent.occurred_at < before)
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    result = await session.scalars(query.order_by(AuditEvent.occurred_at.desc()).limit(limit))
    return list(result)
