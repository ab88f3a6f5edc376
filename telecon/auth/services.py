from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.audit import services as audit
from telecon.auth.actor import Actor
from telecon.auth.models import LoginFailure
from telecon.auth.passwords import verify_password
from telecon.db import utcnow
from telecon.errors import NotAuthenticated, TooManyRequests
from telecon.organizations import services as organizations
from telecon.organizations.models import User


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    max_failures_per_account: int = 5
    max_failures_per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def _key(kind: str, value: str) -> str:
    # Hashed: the table counts attempts, it is no list of who tried which address.
    return f"{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:64]


async def _failures(session: AsyncSession, key: str, policy: LoginPolicy) -> int:
    since = utcnow() - policy.window
    count = await session.scalar(select(func.count()).where(LoginFailure.key == key, LoginFailure.attempted_at > since))
    return count or 0


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    remote_address: str | None,
    policy: LoginPolicy,
    organization_id: uuid.UUID | None = None,
) -> Actor | None:
    """Check a staff login; ``None`` for any wrong combination, after recording the failure.

    The caller commits even on ``None``, so that failures count. An account or address with too many
    recent failures is refused before the password is looked at, so guessing stays slow even when the
    guess is right.
    """
    email = organizations.normalise_email(email)
    account_key = _key("account", email)
    address_key = _key("address", remote_address or "unknown")
    retry_after = int(policy.window.total_seconds())
    if await _failures(session, account_key, policy) >= policy.max_failures_per_account:
        raise TooManyRequests("too many failed logins for this account; try again later", retry_after=retry_after)
    if await _failures(session, address_key, policy) >= policy.max_failures_per_address:
        raise TooManyRequests("too many failed logins from this address; try again later", retry_after=retry_after)

    user = await session.scalar(select(User).where(User.email == email))
    ok = verify_password(user.password_hash if user else None, password) and user is not None and user.is_active
    membership = None
    if ok and user is not None:
        memberships = await organizations.memberships_of(session, user.id)
        chosen = [m for m, _ in memberships if organization_id is None or m.organization_id == organization_id]
        membership = chosen[0] if chosen else None
    if user is None or membership is None:
        session.add_all([LoginFailure(key=account_key), LoginFailure(key=address_key)])
        return None
    actor = Actor(user.id, membership.organization_id, membership.role, remote_address)
    audit.record(session, actor, "auth.login", "user", user.id)
    return actor


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("email or password is wrong")
    return actor


async def purge_login_failures(session: AsyncSession, policy: LoginPolicy) -> int:
    result = await session.execute(delete(LoginFailure).where(LoginFailure.attempted_at < utcnow() - policy.window))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
