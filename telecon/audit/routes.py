from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import get
from litestar.params import FromQuery

from telecon.access import Role
from telecon.audit import services
from telecon.schemas import AwareDatetime, Out
from telecon.web import CurrentActor, DbSession, NameQuery


class AuditEventOut(Out):
    id: uuid.UUID
    occurred_at: datetime
    actor_id: uuid.UUID | None
    action: str
    object_type: str
    object_id: uuid.UUID | None
    remote_address: str | None
    details: dict[str, Any]


@get("/api/v1/audit-events", opt={"roles": (Role.admin,)})
async def list_audit_events(
    db_session: DbSession,
    actor: CurrentActor,
    object_id: FromQuery[uuid.UUID | None] = None,
    action: NameQuery = None,
    actor_id: FromQuery[uuid.UUID | None] = None,
    object_type: NameQuery = None,
    before: FromQuery[AwareDatetime | None] = None,
    since: FromQuery[AwareDatetime | None] = None,
    limit: FromQuery[int] = 100,
) -> list[AuditEventOut]:
    """The organization's audit trail, newest first.

    Who did what to which object, when and from which address; never health data. Filter by `object_id`,
    `object_type` (`participant`, `consultation`, `user`, …), `action`, `actor_id` or `since` (an instant with an
    offset: from then on), page with `before` (an instant with an offset) and `limit` (at most 1000).
    """
    events = await services.list_events(
        db_session,
        actor,
        object_id=object_id,
        action=action,
        actor_id=actor_id,
        object_type=object_type,
        before=before,
        since=since,
        limit=max(1, min(limit, 1000)),
    )
    return [
        AuditEventOut(
            id=e.id,
            occurred_at=e.occurred_at,
            actor_id=e.actor_id,
            action=e.action,
            object_type=e.object_type,
            object_id=e.object_id,
            remote_address=e.remote_address,
            details=e.details,
        )
        for e in events
    ]
