"""Each specialist's agenda as a calendar feed: a private, revocable ``webcal`` URL for their own calendar.

One feed per user, over every organization in which they are a bookable specialist now: upcoming
consultations, and those of the last 30 days (cancelled ones with STATUS:CANCELLED, so that a subscribed
calendar removes them). An entry carries the consultation type's neutral name, the organization's name and
the specialist's own join link; nothing about the participant (no name, no purpose, no case reference).
Its UID and SEQUENCE are those of the emailed invitation (``ics.consultation_uid``), so a calendar that got
both sees one event.

The token works like a join link's (``telecon.scheduling.links``): the row keeps a random nonce and the
SHA-256 of the token, the token is HMAC-SHA256(feed key, nonce) with a key of its own. So the server can show
the URL again while a copy of the database alone yields none. Regenerating means a new nonce: the old URL
stops working at once; revoking deletes the row.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import ForeignKey, String, and_, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.db import Base, IdMixin, utcnow
from telecon.errors import Conflict, NotFound
from telecon.notifications import ics
from telecon.organizations import eligibility
from telecon.organizations.models import Organization, User
from telecon.scheduling.links import JoinLinks, SignedLinks, derive_key, hash_join_token
from telecon.scheduling.models import (
    BOOKED,
    LONGEST_CONSULTATION,
    Attendee,
    AttendeeKind,
    Consultation,
    ConsultationStatus,
    ConsultationType,
)

HISTORY = timedelta(days=30)
"""How long past and cancelled consultations stay in the feed."""
MAX_EVENTS = 1000
"""The most entries one feed answer holds (the soonest first); a busy specialist has a few hundred a year."""
FEED_NAME = "telecon"


class CalendarFeed(IdMixin, Base):
    """A user's calendar feed; the URL's token is never stored, only its nonce and its hash."""

    __tablename__ = "calendar_feed"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    token_nonce: Mapped[str] = mapped_column(String(64))
    """Random input of the token; useless without the server key."""
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """SHA-256 of the token: how a request's token is looked up."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    """When the current URL was made (a regenerated feed counts from then)."""


def derive_feed_key(secret_key: str) -> bytes:
    return derive_key(secret_key, b"telecon calendar feeds v1")


@dataclass(frozen=True, slots=True)
class FeedLinks(SignedLinks):
    """Feed URLs: ``<public url>/calendar/<token>.ics``."""

    path: ClassVar[str] = "calendar"
    suffix: ClassVar[str] = ".ics"

    def webcal_url(self, nonce: str) -> str:
        """The same URL with the ``webcal`` scheme, which calendar apps open as a subscription."""
        _, _, rest = self.url(nonce).partition("://")
        return f"webcal://{rest}"


@dataclass(frozen=True, slots=True)
class FeedPolicy:
    links: FeedLinks
    join_links: JoinLinks
    """For each entry's URL: the specialist's own join link."""
    host: str
    """For the events' UIDs: the same as the emailed invitations'."""
    organizer: tuple[str, str]
    """``(name, address)``: the sender of the emails."""


# --- the specialist's own feed ---------------------------------------------------------------------------


async def get_feed(session: AsyncSession, actor: Actor) -> CalendarFeed:
    """The caller's feed; 404 when they have none."""
    actor.require(Role.specialist)
    feed = await session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == actor.user_id))
    if feed is None:
        raise NotFound("there is no calendar feed yet; create one with POST")
    return feed


async def regenerate_feed(session: AsyncSession, actor: Actor, links: FeedLinks, *, now: datetime) -> CalendarFeed:
    """Create the caller's feed, or give it a new URL: the old one stops working at once. Audited."""
    actor.require(Role.specialist)
    nonce, token_hash = links.issue()
    feed = await session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == actor.user_id).with_for_update())
    if feed is None:
        feed = CalendarFeed(user_id=actor.user_id, token_nonce=nonce, token_hash=token_hash, created_at=now)
        session.add(feed)
        action = "calendar_feed.created"
    else:
        feed.token_nonce, feed.token_hash, feed.created_at = nonce, token_hash, now
        action = "calendar_feed.regenerated"
    try:
        await session.flush()
    except IntegrityError:
        # Two first requests at the same moment: the other one made the feed; the caller may ask again.
        raise Conflict("the calendar feed was created at the same moment; ask again") from None
    audit.record(session, actor, action, "user", actor.user_id)
    return feed


async def revoke_feed(session: AsyncSession, actor: Actor) -> None:
    """Delete the caller's feed, if any: its URL stops working. Any role may revoke its own; audited if one existed."""
    deleted = await session.scalar(
        delete(CalendarFeed).where(CalendarFeed.user_id == actor.user_id).returning(CalendarFeed.id)
    )
    if deleted is not None:
        audit.record(session, actor, "calendar_feed.revoked", "user", actor.user_id)


# --- the feed itself ---------------------------------------------------------------------------------------


async def feed_events(
    session: AsyncSession, token: str, policy: FeedPolicy, *, now: datetime
) -> list[ics.Event] | None:
    """The entries behind a feed token; ``None`` when the token is unknown, revoked or its account switched off.

    Only organizations in which the user is a bookable specialist now: one that ended or deactivated the
    membership (where the join link would not open either) drops out of the feed.
    """
    user_id = await session.scalar(
        select(CalendarFeed.user_id)
        .join(User, User.id == CalendarFeed.user_id)
        .where(CalendarFeed.token_hash == hash_join_token(token), User.is_active.is_(True))
    )
    if user_id is None:
        return None
    since = now - HISTORY
    rows = await session.execute(
        select(
            Consultation.id,
            Consultation.sequence,
            Consultation.starts_at,
            Consultation.ends_at,
            Consultation.status,
            ConsultationType.name,
            Organization.name,
            Attendee.token_nonce,
            Attendee.revoked_at,
        )
        .join(ConsultationType, ConsultationType.id == Consultation.consultation_type_id)
        .join(Organization, Organization.id == Consultation.organization_id)
        .outerjoin(
            Attendee,
            and_(
                Attendee.consultation_id == Consultation.id,
                Attendee.kind == AttendeeKind.specialist,
                Attendee.user_id == Consultation.specialist_id,
            ),
        )
        .where(
            Consultation.specialist_id == user_id,
            BOOKED,
            # The range on ix_consultation_specialist_time; the end makes "ended less than 30 days ago" exact.
            Consultation.starts_at >= since - LONGEST_CONSULTATION,
            Consultation.ends_at >= since,
            eligibility.specialist_available(user_id, Consultation.organization_id),
        )
        .order_by(Consultation.starts_at, Consultation.id)
        .limit(MAX_EVENTS)
    )
    events = []
    for consultation_id, sequence, starts_at, ends_at, status, type_name, organization_name, nonce, revoked in rows:
        cancelled = status is ConsultationStatus.cancelled
        join_url = policy.join_links.url(nonce) if nonce is not None and revoked is None and not cancelled else None
        events.append(
            ics.Event(
                uid=ics.consultation_uid(consultation_id, policy.host),
                sequence=sequence,
                starts_at=starts_at,
                ends_at=ends_at,
                summary=f"{type_name} – {organization_name}",
                description=join_url or "",
                url=join_url,
                organizer=policy.organizer,
                attendee=None,
                cancelled=cancelled,
                stamp=now,
            )
        )
    return events
