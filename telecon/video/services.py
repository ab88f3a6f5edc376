"""Joining a consultation through a personal link: window, Jitsi token, attendance, reissue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.auth import throttle
from telecon.db import utcnow
from telecon.errors import Conflict, NotFound
from telecon.organizations import eligibility
from telecon.organizations.models import Organization, User
from telecon.outbox import messages as outbox
from telecon.outbox.models import Topic
from telecon.outcomes.models import Outcome
from telecon.participants import services as participants
from telecon.participants.models import ConsentKind
from telecon.scheduling.links import JoinLinks, hash_join_token
from telecon.scheduling.models import Attendee, AttendeeKind, Consultation, ConsultationStatus, JitsiRole
from telecon.scheduling.services import may_email
from telecon.video import jitsi


@dataclass(frozen=True, slots=True)
class VideoPolicy:
    links: JoinLinks
    jitsi: jitsi.JitsiConfig
    opens_before: timedelta = timedelta(minutes=15)
    closes_after: timedelta = timedelta(minutes=30)
    max_misses_per_address: int = 30
    miss_window: timedelta = timedelta(minutes=15)


_SPECIALIST_AVAILABLE = eligibility.specialist_available(Consultation.specialist_id, Consultation.organization_id)


@dataclass(frozen=True, slots=True)
class JoinInfo:
    status: jitsi.WindowStatus
    opens_at: datetime
    closes_at: datetime
    starts_at: datetime
    ends_at: datetime
    kind: AttendeeKind
    role: JitsiRole
    display_name: str
    language: str
    domain: str
    room: str
    """The name the IFrame API joins: the room, or ``<app id>/<room>`` on 8x8 JaaS."""
    jwt: str | None
    coach_name: str | None
    coach_email: str | None
    timezone: str
    """The organization's zone, in which the page shows times."""
    withdrawn: bool = False
    """This person's link was revoked while the consultation itself still goes ahead."""
    outcome_version: int | None = None
    """The current version of the consultation's outcome, on the specialist's page only (they may amend it)."""


async def open_join(
    session: AsyncSession, policy: VideoPolicy, token: str, *, remote_address: str | None, now: datetime | None = None
) -> JoinInfo | None:
    """What a join link shows now; ``None`` for an unknown link, after counting the miss.

    The token is looked up first, and only a miss is throttled: a valid link always opens, even from an
    address (a job centre's NAT, say) from which someone keeps trying unknown ones. The lookup is by the
    token's hash, so its timing tells a guesser nothing about how close a guess came. The caller commits
    either way, so that misses count.
    """
    now = now or utcnow()
    row = (
        await session.execute(
            select(Attendee, Consultation, _SPECIALIST_AVAILABLE)
            .join(Consultation, Consultation.id == Attendee.consultation_id)
            .where(Attendee.token_hash == hash_join_token(token))
        )
    ).first()
    if row is None:
        address_key = throttle.key("join-address", remote_address or "unknown")
        await throttle.refuse_if_exceeded(
            session,
            address_key,
            limit=policy.max_misses_per_address,
            window=policy.miss_window,
            message="too many unknown join links from this address; try again later",
            now=now,
        )
        throttle.record_failure(session, address_key, at=now)
        return None
    attendee, consultation, specialist_available = row
    opens_at = consultation.starts_at - policy.opens_before
    closes_at = consultation.ends_at + policy.closes_after
    revoked = attendee.revoked_at is not None
    # A specialist switched off or gone from the organization no longer enters its rooms.
    switched_off = attendee.kind is AttendeeKind.specialist and not specialist_available
    cancelled = consultation.status is ConsultationStatus.cancelled or switched_off
    status = jitsi.window_status(now, opens_at, closes_at, cancelled or revoked)
    token_jwt = None
    if status == "open":
        token_jwt = jitsi.mint_token(
            policy.jitsi,
            room=consultation.room_name,
            user_id=str(attendee.id),
            display_name=attendee.name,
            moderator=attendee.jitsi_role is JitsiRole.moderator,
            not_before=opens_at,
            expires_at=closes_at,
        )
        attendee.first_joined_at = attendee.first_joined_at or now
        attendee.last_joined_at = now
        attendee.join_count += 1
    coach = await session.get(User, consultation.booked_by_id) if consultation.booked_by_id else None
    organization = await session.get_one(Organization, consultation.organization_id)
    outcome_version = None
    if attendee.kind is AttendeeKind.specialist:
        outcome_version = await session.scalar(
            select(Outcome.version).where(Outcome.consultation_id == consultation.id)
        )
    return JoinInfo(
        status=status,
        opens_at=opens_at,
        closes_at=closes_at,
        starts_at=consultation.starts_at,
        ends_at=consultation.ends_at,
        kind=attendee.kind,
        role=attendee.jitsi_role,
        display_name=attendee.name,
        language=attendee.language,
        domain=policy.jitsi.domain,
        room=jitsi.iframe_room_name(policy.jitsi, consultation.room_name),
        jwt=token_jwt,
        coach_name=coach.display_name if coach else None,
        coach_email=coach.email if coach else None,
        timezone=organization.timezone,
        withdrawn=revoked and not cancelled,
        outcome_version=outcome_version,
    )


async def reissue_link(
    session: AsyncSession,
    actor: Actor,
    links: JoinLinks,
    consultation_id: uuid.UUID,
    attendee_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> Attendee:
    """Give one attendee a new link (say, an invitation was forwarded); the old one stops working.

    The new link goes to the attendee by email (when they may be emailed), in the same transaction.
    """
    actor.require(Role.admin, Role.coach)
    row = (
        await session.execute(
            select(Attendee, Consultation)
            .join(Consultation, Consultation.id == Attendee.consultation_id)
            .where(
                Attendee.id == attendee_id,
                Consultation.id == consultation_id,
                Consultation.organization_id == actor.organization_id,
            )
            .with_for_update()
        )
    ).first()
    if row is None:
        raise NotFound("no such attendee", field="attendee_id")
    attendee, consultation = row
    if consultation.status is not ConsultationStatus.scheduled:
        raise Conflict(f"the consultation is {consultation.status.value}", field="consultation_id")
    attendee.token_nonce, attendee.token_hash = links.issue()
    consents = await participants.active_consents(session, consultation.participant_id)
    if may_email(attendee.kind, attendee.email, ConsentKind.email_contact in consents):
        session.add(
            outbox.single(
                Topic.link_reissued,
                organization_id=consultation.organization_id,
                consultation_id=consultation.id,
                attendee_id=attendee.id,
                now=now or utcnow(),
            )
        )
    await session.flush()
    audit.record(
        session, actor, "attendee.link_reissued", "consultation", consultation.id, attendee_id=str(attendee.id)
    )
    return attendee
