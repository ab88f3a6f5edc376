from __future__ import annotations

import uuid

from litestar import delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody

from telecon.access import Role
from telecon.crypto import KeyRing
from telecon.settings import Settings
from telecon.web import CurrentActor, DbSession, current_time
from telecon.webhooks import services
from telecon.webhooks.schemas import DeliveryOut, WebhookCreatedOut, WebhookIn, WebhookOut

ADMINS = {"roles": (Role.admin,)}


def _keys(state: State) -> KeyRing:
    keys: KeyRing = state.key_ring
    return keys


@post("/api/v1/webhooks", opt=ADMINS)
async def create_webhook(
    data: JSONBody[WebhookIn], db_session: DbSession, actor: CurrentActor, state: State
) -> WebhookCreatedOut:
    """Register a webhook for the admin's organization; the answer holds its signing secret, this once.

    Each event is POSTed as JSON with `Telecon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
    "<t>.<raw body>")>`, `Telecon-Event` and `Telecon-Delivery` (the same on every retry: dedupe on it). A 2xx
    answer is a success; 408, 429, 5xx and broken connections are retried with backoff for a day; any other
    answer is final. The body carries identifiers, times and status, and an outcome only as far as the
    participant's consent lets the coach see it when it is sent. Audited.
    """
    settings: Settings = state.settings
    created = await services.create_subscription(
        db_session,
        actor,
        _keys(state),
        url=data.url,
        events=data.events,
        https_only=settings.env == "production",
        allowed_private_networks=settings.allowed_private_networks,
        now=current_time(state),
    )
    s = created.subscription
    return WebhookCreatedOut(id=s.id, url=s.url, events=list(s.events), created_at=s.created_at, secret=created.secret)


@get("/api/v1/webhooks", opt=ADMINS)
async def list_webhooks(db_session: DbSession, actor: CurrentActor) -> list[WebhookOut]:
    """The organization's active webhooks, without their secrets.

    A lost secret cannot be shown again: delete the webhook and register it anew. Audited.
    """
    return [WebhookOut.of(s) for s in await services.list_subscriptions(db_session, actor)]


@delete("/api/v1/webhooks/{webhook_id:uuid}", status_code=204, opt=ADMINS)
async def delete_webhook(webhook_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """Delete one of the organization's webhooks.

    Nothing more is sent to it; deliveries still pending are dropped. Audited.
    """
    await services.delete_subscription(db_session, actor, webhook_id)


@get("/api/v1/webhooks/{webhook_id:uuid}/deliveries", opt=ADMINS)
async def webhook_deliveries(
    webhook_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> list[DeliveryOut]:
    """The webhook's last 50 deliveries, newest first, with their status, attempts and last error.

    What the receiver answered (`HTTP 503`, a timeout, …) is the error; a delivery is retried for a day. Audited.
    """
    return [DeliveryOut.of(m) for m in await services.deliveries(db_session, actor, webhook_id)]
