"""Webhook subscriptions: an admin registers their organization's endpoints; the relay delivers the events.

Which events exist and when they are written is ``telecon.outbox.messages``; what a request carries and how it
is signed, ``telecon.notifications.webhooks`` and ``telecon.webhooks.signing``. The secret is shown once, in the
answer to its creation, and kept encrypted (``telecon.crypto``): it is never logged, listed or audited.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.crypto import KeyRing
from telecon.egress import IPNetwork, addressable, refused_before_lookup
from telecon.errors import InvalidInput, NotFound
from telecon.outbox.models import WEBHOOK_EVENTS, OutboxMessage, Topic
from telecon.rotation import Sealed
from telecon.webhooks.models import WebhookSubscription

SHOWN_DELIVERIES = 50


def associated(subscription_id: uuid.UUID) -> bytes:
    """Binds the secret's ciphertext to its subscription: copied onto another row it does not decrypt."""
    return f"webhook:{subscription_id}".encode()


SEALED_SECRETS = Sealed(WebhookSubscription, "secret_ciphertext", "secret_key_id", associated)
"""For key rotation (``telecon reencrypt-notes``): the secrets move to the current key like clinical notes."""


def new_secret() -> str:
    """32 random bytes, base64url without padding; the HMAC key is this text itself (its ASCII bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def secret_of(keys: KeyRing, subscription: WebhookSubscription) -> bytes:
    """The key that signs the subscription's requests."""
    plain = keys.decrypt(
        subscription.secret_key_id, subscription.secret_ciphertext, associated=associated(subscription.id)
    )
    return plain.encode("ascii")


def check_url(url: str, *, https_only: bool, allowed: Sequence[IPNetwork] = ()) -> str:
    """An http(s) URL with a valid host; https only in production (the body is personal data).

    In production a host that is plainly outside the public internet and the ``allowed`` networks is refused here
    already (``telecon.egress``); every delivery checks the address it connects to anyway.
    """
    parts = urlsplit(url)
    allowed_schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme not in allowed_schemes:
        schemes = " or ".join(f"{s}://" for s in allowed_schemes)
        raise InvalidInput(f"the URL must start with {schemes}", field="url")
    if not parts.hostname or not addressable(url):
        raise InvalidInput("the URL needs a valid host", field="url")
    if parts.username or parts.password:
        raise InvalidInput("the URL must not carry credentials; the signature authenticates", field="url")
    if https_only and refused_before_lookup(parts.hostname, allowed):
        # In production an admin's URL must not make the server call into its own network (SSRF).
        raise InvalidInput("the URL must name a public host, not a local or private address", field="url")
    return url


@dataclass(frozen=True, slots=True)
class Created:
    subscription: WebhookSubscription
    secret: str
    """Shown once, in the creation's answer."""


async def create_subscription(
    session: AsyncSession,
    actor: Actor,
    keys: KeyRing,
    *,
    url: str,
    events: Sequence[str],
    https_only: bool,
    now: datetime,
    allowed_private_networks: Sequence[IPNetwork] = (),
) -> Created:
    actor.require(Role.admin)
    check_url(url, https_only=https_only, allowed=allowed_private_networks)
    unknown = set(events) - set(WEBHOOK_EVENTS)
    if unknown or not events:
        raise InvalidInput(f"events must be some of {', '.join(WEBHOOK_EVENTS)}", field="events")
    secret = new_secret()
    subscription_id = uuid.uuid4()
    key_id, ciphertext = keys.encrypt(secret, associated=associated(subscription_id))
    subscription = WebhookSubscription(
        id=subscription_id,
        organization_id=actor.organization_id,
        url=url,
        events=[e for e in WEBHOOK_EVENTS if e in events],
        secret_ciphertext=ciphertext,
        secret_key_id=key_id,
        created_at=now,
        active=True,
    )
    session.add(subscription)
    audit.record(session, actor, "webhook.created", "webhook_subscription", subscription.id, events=subscription.events)
    await session.flush()
    return Created(subscription, secret)


async def list_subscriptions(session: AsyncSession, actor: Actor) -> list[WebhookSubscription]:
    actor.require(Role.admin)
    found = await session.scalars(
        select(WebhookSubscription)
        .where(WebhookSubscription.organization_id == actor.organization_id, WebhookSubscription.active)
        .order_by(WebhookSubscription.created_at, WebhookSubscription.id)
    )
    audit.record(session, actor, "webhook.listed", "webhook_subscription", None)
    return list(found)


async def _own(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID) -> WebhookSubscription:
    """An active subscription of the actor's organization; another organization's does not exist (404)."""
    actor.require(Role.admin)
    subscription = await session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.organization_id == actor.organization_id,
            WebhookSubscription.active,
        )
    )
    if subscription is None:
        raise NotFound("no such webhook subscription", field="webhook_id")
    return subscription


async def delete_subscription(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID) -> None:
    """Stop the subscription: nothing more is sent to it, its pending deliveries are voided when their turn comes."""
    subscription = await _own(session, actor, subscription_id)
    subscription.active = False
    audit.record(session, actor, "webhook.deleted", "webhook_subscription", subscription.id)


async def deliveries(session: AsyncSession, actor: Actor, subscription_id: uuid.UUID) -> list[OutboxMessage]:
    """The subscription's last ``SHOWN_DELIVERIES`` deliveries, newest first."""
    subscription = await _own(session, actor, subscription_id)
    found = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.organization_id == subscription.organization_id,
            OutboxMessage.topic == Topic.webhook_delivery,
            OutboxMessage.payload["subscription_id"].as_string() == str(subscription.id),
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id)
        .limit(SHOWN_DELIVERIES)
    )
    audit.record(session, actor, "webhook.deliveries_read", "webhook_subscription", subscription.id)
    return list(found)
