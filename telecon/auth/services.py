from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.audit import services as audit
from telecon.auth import throttle
from telecon.auth.actor import Actor
from telecon.auth.passwords import verify_password
from telecon.db import utcnow
from telecon.errors import NotAuthenticated
from telecon.organizations import services as organizations
from telecon.organizations.models import User


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    remote_address: str | None,
    policy: LoginPolicy,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Actor | None:
    """Check a staff login; ``None`` for any wrong combination, after recording the failure.

    The caller commits even on ``None``, so that failures count. An account or address with too many
    recent failures is refused before the password is looked at, so guessing stays slow even when the
    guess is right.
    """
    now = now or utcnow()
    email = organizations.normalise_email(email)
    account_key = throttle.key("login-account", email)
    address_key = throttle.key("login-address", remote_address or "unknown")
    await throttle.refuse_if_exceeded(
        session,
        account_key,
        limit=policy.max_failures_per_account,
        window=policy.window,
        message="too many failed logins for this account; try again later",
        now=now,
    )
    await throttle.refuse_if_exceeded(
        session,
        address_key,
        limit=policy.max_failures_per_address,
        window=policy.window,
        message="too many failed logins from this address; try again later",
        now=now,
    )

    user = await session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password) and user is not None and user.is_active
    membership = None
    if ok and user is not None:
        memberships = await organizations.memberships_of(session, user.id)
        chosen = [m for m, _ in memberships if organization_id is None or m.organization_id == organization_id]
        membership = chosen[0] if chosen else None
    if user is None or membership is None:
        throttle.record_failure(session, account_key, address_key, now=now)
        return None
    actor = Actor(user.id, membership.organization_id, membership.role, remote_address)
    audit.record(session, actor, "auth.login", "user", user.id)
    return actor


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("email or password is wrong")
    return actor
