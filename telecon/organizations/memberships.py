"""An admin switches a user off (and on again) in their own organization, or ends the membership.

Per organization on purpose: a specialist shared by a network stays bookable by the other job centres,
and no admin can reach beyond their own organization. Switching a whole account off (``users.is_active``)
is an operator's act on the command line. What "switched off" means for logins, tokens, lists, slots,
bookings and join links is defined once, in ``telecon.organizations.eligibility``.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.db import utcnow
from telecon.errors import Conflict, NotFound
from telecon.organizations.models import Membership, User, WebSession
from telecon.organizations.services import normalise_email


async def _managed_membership(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> Membership:
    """The user's membership in the admin's organization; another organization's user is not found.

    An admin cannot act on their own membership, so every organization keeps at least the admin who acted.
    """
    actor.require(Role.admin)
    membership = await session.scalar(
        select(Membership)
        .where(Membership.user_id == user_id, Membership.organization_id == actor.organization_id)
        .with_for_update()
    )
    if membership is None:
        raise NotFound("no such user in this organization", field="user_id")
    if user_id == actor.user_id:
        raise Conflict("an admin cannot switch off their own membership; ask another admin", field="user_id")
    return membership


async def deactivate_membership(
    session: AsyncSession, actor: Actor, user_id: uuid.UUID, *, now: datetime | None = None
) -> Membership:
    """Switch the user off here at once: their tokens stop working, as a specialist they stop being bookable.

    Consultations already booked stay; the coach sees them as needing a new specialist. Repeating it changes
    nothing.
    """
    membership = await _managed_membership(session, actor, user_id)
    if membership.deactivated_at is None:
        membership.deactivated_at = now or utcnow()
        audit.record(session, actor, "membership.deactivated", "user", user_id, role=membership.role.value)
        await session.flush()
    return membership


async def reactivate_membership(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> Membership:
    membership = await _managed_membership(session, actor, user_id)
    if membership.deactivated_at is not None:
        membership.deactivated_at = None
        audit.record(session, actor, "membership.reactivated", "user", user_id, role=membership.role.value)
        await session.flush()
    return membership


async def end_membership(session: AsyncSession, actor: Actor, user_id: uuid.UUID) -> None:
    """Remove the user from the organization for good; the account and other memberships stay.

    The row is deleted rather than marked: nothing points at a membership, an admin may later add the
    person again with a new role, and the audit trail keeps who ended it and when.
    """
    membership = await _managed_membership(session, actor, user_id)
    audit.record(session, actor, "membership.ended", "user", user_id, role=membership.role.value)
    await session.delete(membership)
    await session.flush()


async def set_account_active(session: AsyncSession, email: str, *, active: bool) -> User:
    """The operator's switch for a whole account, in every organization (``telecon deactivate-user``).

    Switching off also ends the account's web sessions, so that switching on again later does not bring a
    browser left signed in (or a copied cookie) back to life.
    """
    user = await session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound("no user with this email", field="email")
    if user.is_active != active:
        user.is_active = active
        if not active:
            await session.execute(delete(WebSession).where(WebSession.user_id == user.id))
        action = "account.reactivated" if active else "account.deactivated"
        # In the trail of every organization the user belongs to, so that each admin sees why.
        organization_ids = await session.scalars(
            select(Membership.organization_id).where(Membership.user_id == user.id)
        )
        for organization_id in organization_ids:
            audit.record(session, None, action, "user", user.id, organization_id=organization_id)
        await session.flush()
    return user
