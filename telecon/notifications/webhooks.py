"""Webhook deliveries: the fan-out of an event row, and what one request to one subscription carries.

An event row (``webhook.<event>``, written with the change, ``telecon.outbox.messages``) becomes one
``webhook.delivery`` row per active subscription of its organization to that event, in one transaction that
also marks the event row sent. Each delivery row is then sent like an email (claim, lease, backoff, give up
after a day): an HTTP POST whose body is built when it is sent, so it shows the consultation as it is then and
an outcome only as far as the participant's consent lets the coach see it then (``visible_part``, the one
rule). Never clinical notes, never the purpose, never a name or an address.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.crypto import KeyRing, UnknownKey
from telecon.egress import IPNetwork, NotPublic, public_client
from telecon.outbox import messages as outbox
from telecon.outbox.models import WEBHOOK_PREFIX, OutboxMessage, OutboxStatus, Topic
from telecon.outcomes import services as outcomes
from telecon.outcomes.models import Outcome, OutcomeVersion
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind, Participant
from telecon.scheduling.models import Consultation
from telecon.webhooks import services as subscriptions
from telecon.webhooks.models import WebhookSubscription
from telecon.webhooks.signing import HEADER, sign

TIMEOUT_SECONDS = 10.0
RETRIED_STATUSES = frozenset({408, 429})
"""Besides 5xx: the receiver asks to be tried again later. Any other answer outside 2xx is final."""
NOT_PUBLIC = (
    "the receiver's address is not on the public internet; telecon posts there only where the operator allows "
    "its network (TELECON_ALLOWED_PRIVATE_NETWORKS)"
)


def is_event(topic: str) -> bool:
    return topic.startswith(WEBHOOK_PREFIX) and topic != Topic.webhook_delivery


async def fan_out(session: AsyncSession, message_id: uuid.UUID, *, now: datetime) -> int | None:
    """One delivery row per matching active subscription, and the event row marked sent; the caller commits.

    ``None`` when the row is no longer pending (another relay did it). Returns how many deliveries it wrote.
    """
    row = await session.get(OutboxMessage, message_id, with_for_update=True)
    if row is None or row.status is not OutboxStatus.pending:
        return None
    event = row.topic.removeprefix(WEBHOOK_PREFIX)
    found = await session.scalars(
        select(WebhookSubscription).where(
            WebhookSubscription.organization_id == row.organization_id, WebhookSubscription.active
        )
    )
    written = 0
    for subscription in found:
        if event not in subscription.events:
            continue
        session.add(
            outbox.message(
                organization_id=row.organization_id,
                consultation_id=row.consultation_id,
                topic=Topic.webhook_delivery,
                dedupe_key=f"webhook:{row.id}:{subscription.id}",
                payload={
                    "subscription_id": str(subscription.id),
                    "event": event,
                    "occurred_at": row.created_at.isoformat(),
                },
                now=now,
            )
        )
        written += 1
    row.status, row.sent_at, row.attempts, row.last_error = OutboxStatus.sent, now, row.attempts + 1, None
    return written


@dataclass(frozen=True, slots=True)
class Request:
    url: str
    event: str
    body: bytes
    secret: bytes

    def headers(self, delivery_id: uuid.UUID, *, now: datetime) -> dict[str, str]:
        return {
            "Content-Type": "application/json",
            "User-Agent": "telecon-webhooks",
            "Telecon-Event": self.event,
            "Telecon-Delivery": str(delivery_id),
            HEADER: sign(self.secret, int(now.timestamp()), self.body),
        }


async def prepare(session: AsyncSession, keys: KeyRing, message_id: uuid.UUID) -> Request | str:
    """The request of one delivery row, built now; or why it is not to be sent any more."""
    row = await session.get(OutboxMessage, message_id)
    if row is None or row.consultation_id is None:
        return "the consultation no longer exists"
    subscription = await session.get(WebhookSubscription, uuid.UUID(str(row.payload["subscription_id"])))
    if subscription is None or not subscription.active:
        return "the webhook was deleted"
    event = str(row.payload["event"])
    body = await build_body(
        session, row.id, event=event, occurred_at=str(row.payload.get("occurred_at") or row.created_at.isoformat()),
        consultation_id=row.consultation_id,
    )  # fmt: skip
    if body is None:
        return "the consultation no longer exists"
    try:
        secret = subscriptions.secret_of(keys, subscription)
    except (UnknownKey, InvalidTag):
        # Retrying cannot help: its key left TELECON_ENCRYPTION_OLD_KEYS before `telecon reencrypt-notes` ran.
        return "the webhook's secret cannot be decrypted: register the webhook again"
    return Request(subscription.url, event, encode(body), secret)


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


async def build_body(
    session: AsyncSession, delivery_id: uuid.UUID, *, event: str, occurred_at: str, consultation_id: uuid.UUID
) -> dict[str, Any] | None:
    """The body: identifiers, times and status; an outcome as the coach may see it now (``visible_part``)."""
    found = (
        await session.execute(
            select(Consultation, Participant.case_reference)
            .join(Participant, Participant.id == Consultation.participant_id)
            .where(Consultation.id == consultation_id)
        )
    ).first()
    if found is None:
        return None
    consultation, case_reference = found
    latest = await session.scalar(
        select(OutcomeVersion)
        .join(Outcome, (Outcome.id == OutcomeVersion.outcome_id) & (OutcomeVersion.version == Outcome.version))
        .where(Outcome.consultation_id == consultation.id)
    )
    outcome = None
    if latest is not None:
        consents = await participants.active_consents(session, consultation.participant_id)
        released = ConsentKind.share_outcome_with_coach in consents
        outcome = outcomes.details(outcomes.visible_part(latest, consultation.id, is_author=False, released=released))
    return {
        "id": str(delivery_id),
        "event": event,
        "occurred_at": occurred_at,
        "organization_id": str(consultation.organization_id),
        "consultation": {
            "id": str(consultation.id),
            "status": consultation.status.value,
            "start": consultation.starts_at.isoformat(),
            "end": consultation.ends_at.isoformat(),
            "participant_id": str(consultation.participant_id),
            "participant_case_reference": case_reference,
            "specialist_id": str(consultation.specialist_id),
        },
        "outcome": outcome,
    }


@dataclass(frozen=True, slots=True)
class Answer:
    """How a POST went: ``sent``, ``retry`` or ``failed``, and what to record."""

    status: str
    detail: str | None = None


async def post(
    request: Request, delivery_id: uuid.UUID, *, now: datetime, private_networks: Sequence[IPNetwork] = ()
) -> Answer:
    """POST once; no redirects followed (a receiver that moved must be registered anew). Only to a public address
    or one in ``private_networks`` (``telecon.egress``): an organization's admin must not reach into the operator's
    network."""
    headers = request.headers(delivery_id, now=now)
    try:
        async with public_client(private_networks, timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
            response = await client.post(request.url, content=request.body, headers=headers)
    except NotPublic:
        return Answer("failed", NOT_PUBLIC)
    except httpx.HTTPError as error:
        return Answer("retry", f"{type(error).__name__}: {error}"[:300] if str(error) else type(error).__name__)
    reason = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    if 200 <= response.status_code < 300:
        return Answer("sent")
    if response.status_code >= 500 or response.status_code in RETRIED_STATUSES:
        return Answer("retry", reason)
    return Answer("failed", reason)
