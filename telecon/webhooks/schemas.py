from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from telecon.outbox.models import OutboxMessage, OutboxStatus
from telecon.schemas import SINGLE_LINE, Out, Strict
from telecon.webhooks.models import WebhookSubscription

Event = Literal[
    "consultation.booked",
    "consultation.rescheduled",
    "consultation.cancelled",
    "consultation.completed",
    "outcome.recorded",
]
Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000, pattern=SINGLE_LINE)]


class WebhookIn(Strict):
    url: Url
    """Where each event is POSTed: http(s) with a host; https only in production."""
    events: Annotated[list[Event], msgspec.Meta(min_length=1, max_length=5)]


class WebhookOut(Out):
    id: uuid.UUID
    url: str
    events: list[str]
    created_at: datetime

    @classmethod
    def of(cls, s: WebhookSubscription) -> WebhookOut:
        return cls(id=s.id, url=s.url, events=list(s.events), created_at=s.created_at)


class WebhookCreatedOut(WebhookOut):
    secret: str
    """The signing secret, shown this once: the HMAC-SHA256 key of `Telecon-Signature` is this text's bytes."""


class DeliveryOut(Out):
    id: uuid.UUID
    """Also the `Telecon-Delivery` header and the body's `id`: the same on every retry."""
    event: str
    status: OutboxStatus
    """`pending` (due or to be retried), `sent` (2xx), `failed` (refused, or given up after a day) or `void`."""
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, m: OutboxMessage) -> DeliveryOut:
        return cls(
            id=m.id,
            event=str(m.payload.get("event", "")),
            status=m.status,
            attempts=m.attempts,
            last_error=m.last_error,
            created_at=m.created_at,
            next_attempt_at=m.next_attempt_at,
            sent_at=m.sent_at,
        )
