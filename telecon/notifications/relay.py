"""The outbox relay: claims due rows and delivers each at least once.

The same two steps run in the arq worker (``telecon worker``, with Redis) and in the loop inside
``telecon serve`` (without Redis); only what connects them differs (``telecon.worker``):

1. ``claim_due`` takes up to *n* due rows and leases them: their ``next_attempt_at`` moves a lease ahead,
   so no other relay takes them meanwhile (on PostgreSQL ``FOR UPDATE SKIP LOCKED``: several relays never
   wait for each other, nor claim the same row)::

       UPDATE outbox_message SET next_attempt_at = :now + :lease
        WHERE id IN (SELECT id FROM outbox_message
                      WHERE status = 'pending' AND next_attempt_at <= :now
                      ORDER BY next_attempt_at LIMIT :n FOR UPDATE SKIP LOCKED)
       RETURNING id

2. ``Relay.deliver`` sends one row: it reads the row's facts (and voids it if the consultation moved on),
   renders, sends outside any transaction, then marks it ``sent``, or ``failed`` at once on a 5xx, or
   leaves it ``pending`` with ``next_attempt_at`` after an exponential backoff on a 4xx or a broken
   connection, until a day (``outbox_give_up_hours``) after it was written (a reminder: until the start).

The relay dispatches on the row's topic: ``email.*`` as above; a webhook event (``webhook.<event>``) is fanned
out, in one transaction, into one ``webhook.delivery`` row per matching subscription; a ``webhook.delivery``
is an HTTP POST (``telecon.notifications.webhooks``): 2xx sent, 408/429/5xx/no connection retried with the
same backoff and deadline, any other answer failed at once.

A relay that dies mid-send leaves its rows leased; when the lease ends another relay takes them. So a
message is sent at least once, twice only if a relay died between the server's accept and the commit:
the second copy has the same Message-ID.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Update, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from telecon.crypto import KeyRing
from telecon.notifications import content, mail, webhooks
from telecon.outbox.models import WEBHOOK_PREFIX, OutboxMessage, OutboxStatus, Topic
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.settings import Settings

log = logging.getLogger("telecon.relay")

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=2)


def backoff(attempts: int) -> timedelta:
    """The wait before the next try: 30 s, 1 min, 2 min, … doubling, at most 2 h between two tries."""
    wait: timedelta = FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 16)
    return min(wait, LONGEST_WAIT)


async def claim_due(session: AsyncSession, *, now: datetime, limit: int, lease: timedelta) -> list[uuid.UUID]:
    """Lease up to ``limit`` due rows (the statement of the module docstring); the caller commits."""
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == OutboxStatus.pending, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=now + lease)
        .returning(OutboxMessage.id)
    )
    return list(claimed)


async def purge_sent(session: AsyncSession, *, now: datetime, retention: timedelta) -> int:
    """Delete sent and void rows older than ``retention``; pending and failed ones stay, whatever their age."""
    result = await session.execute(
        delete(OutboxMessage).where(
            OutboxMessage.status.in_([OutboxStatus.sent, OutboxStatus.void]),
            func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < now - retention,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def transport_of(settings: Settings) -> mail.Transport:
    if settings.smtp_host:
        return mail.SmtpTransport(
            host=settings.smtp_host,
            port=settings.smtp_port,
            tls=settings.smtp_tls,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            timeout=settings.smtp_timeout_seconds,
        )
    return mail.FileTransport(settings.mail_dir)


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    """``sent``, ``failed``, ``retry``, ``void``, ``skipped`` (not pending any more: someone else sent it) or
    ``fanned_out`` (a webhook event, now one delivery row per subscription)."""
    detail: str | None = None


class Relay:
    """Delivers outbox rows; one per process, shared by its concurrent deliveries."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        transport: mail.Transport | None = None,
        keys: KeyRing | None = None,
    ):
        self.sessionmaker = sessionmaker
        self.engine: AsyncEngine = sessionmaker.kw["bind"]
        """Deliveries use plain connections: no ORM session per message (measured with ``bench/mail.py``)."""
        self.settings = settings
        self.transport = transport or transport_of(settings)
        self.keys = keys or KeyRing.from_settings(settings)
        """Decrypts the webhooks' signing secrets."""
        self.lease = timedelta(seconds=settings.outbox_lease_seconds)
        self.give_up_after = timedelta(hours=settings.outbox_give_up_hours)
        self.host = urlsplit(settings.public_url).hostname or "telecon.invalid"
        self.sender = mail.parse_sender(settings.mail_from)
        links = JoinLinks(derive_link_key(settings.secret_key.get_secret_value()), settings.public_url)
        self.composer = content.Composer(
            links, mail_from=self.sender, host=self.host, opens_minutes=settings.join_opens_minutes
        )

    async def claim(self, *, now: datetime, limit: int) -> list[uuid.UUID]:
        async with self.sessionmaker() as session, session.begin():
            return await claim_due(session, now=now, limit=limit, lease=self.lease)

    async def deliver(self, message_id: uuid.UUID, *, now: datetime, lease_until: datetime | None = None) -> Outcome:
        """Send one row; with ``lease_until`` (a queued job's claim) only while that claim still holds it."""
        async with self.engine.connect() as connection:
            facts = await content.load_facts(connection, message_id)
            if facts is None or facts.status is not OutboxStatus.pending:
                return Outcome("skipped")
            if lease_until is not None and facts.next_attempt_at != lease_until:
                return Outcome("skipped")  # its lease ended and a newer claim (with a job of its own) took over
            if facts.topic.startswith(WEBHOOK_PREFIX):
                await connection.rollback()
                return await self._deliver_webhook(facts, now=now)
            stale = content.stale_reason(facts)
            if stale is not None:
                await connection.execute(_finish(message_id, status=OutboxStatus.void, last_error=stale))
                await connection.commit()
                return Outcome("void", stale)
            rendered = self.composer.render(facts, now=now)
            email = mail.build(
                rendered,
                outbox_id=message_id,
                host=self.host,
                sender=self.sender,
                recipient=(facts.name, facts.email or ""),
                reply_to=(facts.coach_name or "", facts.coach_email) if facts.coach_email else None,
                now=now,
            )
            attempts, recipient = facts.attempts, facts.email or ""
            deadline = self.deadline(facts)
        # Here the connection is back in the pool: none is held while the mail server talks.
        try:
            await self.transport.send(email, sender=self.sender[1], recipient=recipient)
        except mail.Permanent as error:
            return await self._settle(message_id, "failed", error.reason, attempts=attempts, deadline=deadline, now=now)
        except mail.Temporary as error:
            return await self._settle(message_id, "retry", error.reason, attempts=attempts, deadline=deadline, now=now)
        return await self._settle(message_id, "sent", None, attempts=attempts, deadline=deadline, now=now)

    async def _settle(
        self,
        message_id: uuid.UUID,
        status: str,
        reason: str | None,
        *,
        attempts: int,
        deadline: datetime,
        now: datetime,
    ) -> Outcome:
        """Record a try: ``sent``; ``failed`` for good; ``retry`` after a backoff, or ``failed`` past the deadline."""
        if status == "sent":
            # The mail server took it: that is the truth even when a change voided the row meanwhile.
            await self._update(
                message_id, status=OutboxStatus.sent, error=None, attempts=attempts + 1, sent_at=now, over_void=True
            )
            return Outcome("sent")
        if status == "failed":
            await self._update(message_id, status=OutboxStatus.failed, error=reason, attempts=attempts + 1)
            log.warning("outbox %s refused for good: %s", message_id, reason)
            return Outcome("failed", reason)
        if now >= deadline:
            reason = f"gave up at {deadline:%Y-%m-%d %H:%M} UTC: {reason}"
            await self._update(message_id, status=OutboxStatus.failed, error=reason, attempts=attempts + 1)
            return Outcome("failed", reason)
        retry_at = now + backoff(attempts + 1)
        await self._update(message_id, status=OutboxStatus.pending, error=reason, attempts=attempts + 1, due=retry_at)
        log.info("outbox %s not delivered (%s); next try at %s", message_id, reason, retry_at)
        return Outcome("retry", reason)

    async def _deliver_webhook(self, facts: content.Facts, *, now: datetime) -> Outcome:
        """A webhook event: fanned out to its subscriptions; a delivery: POSTed (``telecon.notifications.webhooks``)."""
        message_id = facts.message_id
        if webhooks.is_event(facts.topic):
            try:
                async with self.sessionmaker() as session, session.begin():
                    written = await webhooks.fan_out(session, message_id, now=now)
            except IntegrityError:
                return Outcome("skipped")  # another relay fanned it out meanwhile (the dedupe keys)
            if written is None:
                return Outcome("skipped")
            return Outcome("fanned_out", f"{written} deliveries")
        async with self.sessionmaker() as session:
            request = await webhooks.prepare(session, self.keys, message_id)
        if isinstance(request, str):
            await self._update(message_id, status=OutboxStatus.void, error=request, attempts=facts.attempts)
            return Outcome("void", request)
        # No connection is held while the receiver answers (up to ``webhooks.TIMEOUT_SECONDS``).
        answer = await webhooks.post(
            request, message_id, now=now, private_networks=self.settings.allowed_private_networks
        )
        return await self._settle(
            message_id, answer.status, answer.detail, attempts=facts.attempts, deadline=self.deadline(facts), now=now
        )

    def deadline(self, facts: content.Facts) -> datetime:
        """Until when a message is worth retrying: a day after it was written, a reminder until the start."""
        if facts.topic == Topic.reminder:
            return facts.starts_at
        return facts.created_at + self.give_up_after

    async def _update(
        self,
        message_id: uuid.UUID,
        *,
        status: OutboxStatus,
        error: str | None,
        attempts: int,
        due: datetime | None = None,
        sent_at: datetime | None = None,
        over_void: bool = False,
    ) -> None:
        values: dict[str, object] = {"status": status, "last_error": error, "attempts": attempts}
        if due is not None:
            values["next_attempt_at"] = due
        if sent_at is not None:
            values["sent_at"] = sent_at
        async with self.engine.begin() as connection:
            await connection.execute(_finish(message_id, over_void=over_void, **values))


def _finish(message_id: uuid.UUID, *, over_void: bool = False, **values: object) -> Update:
    """The row's new state; only of a row still pending: a cancel may have voided it meanwhile, and that stands,
    except over a message the mail server accepted (``over_void``): the outbox says what was sent."""
    from_statuses = (OutboxStatus.pending, OutboxStatus.void) if over_void else (OutboxStatus.pending,)
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status.in_(from_statuses))
        .values(**values)
    )
