from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.auth import throttle
from telecon.auth.models import KnownAddress
from telecon.db import json_rows, new_id, utcnow
from telecon.errors import NotAuthenticated, NotFound, TooManyRequests
from telecon.organizations import eligibility
from telecon.organizations import services as organizations
from telecon.organizations.models import Membership, Organization, User, WebSession
from telecon.passwords import Passwords
from telecon.settings import Settings


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How failed logins are slowed down, without letting a stranger lock the account holder out.

    - one account from one address: ``free_failures`` tries, then each further try waits twice as long as
      the one before (2 s, 4 s, 8 s, … up to ``max_delay``); failures count for ``memory``, and the right
      password from that address forgets them;
    - one address across all accounts: ``max_failures_per_address`` within ``window``;
    - one account across all addresses: ``max_failures_per_account`` within ``window``.

    The two caps do not apply to an address the account has logged in from within ``known_address_for``:
    guessing from elsewhere cannot keep the real person out at their usual desk, and a job centre's NAT
    (one address for all its staff) is not closed for everyone by one person's typos. Such a pair is still
    slowed by its own growing delay. The price: someone at the same address can slow the account holder
    there down, up to ``max_delay`` per try; and the exemption shows a guesser at a known address that the
    account exists.
    """

    free_failures: int = 3
    max_delay: timedelta = timedelta(minutes=15)
    max_failures_per_address: int = 20
    max_failures_per_account: int = 10
    window: timedelta = timedelta(minutes=15)
    known_address_for: timedelta = timedelta(days=90)
    memory: timedelta = timedelta(hours=24)

    @classmethod
    def of(cls, settings: Settings) -> LoginPolicy:
        return cls(
            free_failures=settings.login_free_failures,
            max_delay=timedelta(seconds=settings.login_max_delay_seconds),
            max_failures_per_address=settings.login_max_failures_per_address,
            max_failures_per_account=settings.login_max_failures_per_account,
            window=timedelta(minutes=settings.login_failure_window_minutes),
            known_address_for=timedelta(days=settings.login_known_address_days),
        )

    def delay(self, failures: int) -> timedelta:
        """How long one account and address wait after their ``failures``-th failure."""
        if failures < self.free_failures:
            return timedelta(0)
        exponent = min(failures - self.free_failures + 1, 32)
        return min(self.max_delay, timedelta(seconds=2**exponent))

    @property
    def longest_memory(self) -> timedelta:
        """How long failed attempts must be kept for this policy to see them."""
        return max(self.memory, self.window)


async def authenticate(
    session: AsyncSession,
    *,
    email: str,
    password: str,
    remote_address: str | None,
    policy: LoginPolicy,
    passwords: Passwords,
    organization_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Actor | None:
    """Check a staff login; ``None`` for any wrong combination, after recording the failure.

    The caller commits even on ``None``, so that failures count. A throttled try is refused with 429
    before the password is looked at, so guessing stays slow even when the guess is right, and a refused
    try is no failure: waiting out the delay is all it takes. See ``LoginPolicy`` for the rules.
    """
    now = now or utcnow()
    email = organizations.normalise_email(email)
    address = remote_address or "unknown"
    pair_key = throttle.key("login-pair", f"{email} {address}")
    account_key = throttle.key("login-account", email)
    address_key = throttle.key("login-address", address)

    user = await session.scalar(select(User).where(User.email == email))
    known = (
        user is not None
        and remote_address is not None
        and await _is_known_address(session, user.id, remote_address, since=now - policy.known_address_for)
    )
    failures, latest = await throttle.failures_since(session, pair_key, now - policy.memory)
    if latest is not None and (wait := latest + policy.delay(failures) - now) > timedelta(0):
        raise TooManyRequests(
            "too many failed logins for this account from this address; try again later",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )
    if not known:
        await throttle.refuse_if_exceeded(
            session,
            address_key,
            limit=policy.max_failures_per_address,
            window=policy.window,
            message="too many failed logins from this address; try again later",
            now=now,
        )
        await throttle.refuse_if_exceeded(
            session,
            account_key,
            limit=policy.max_failures_per_account,
            window=policy.window,
            message="too many failed logins for this account; try again later",
            now=now,
        )

    ok = await passwords.verify(user.password_hash if user else None, password)
    membership = None
    if ok and user is not None and user.is_active:
        memberships = await organizations.memberships_of(session, user.id)
        chosen = [m for m, _ in memberships if organization_id is None or m.organization_id == organization_id]
        membership = chosen[0] if chosen else None
    if user is None or membership is None:
        throttle.record_failure(session, pair_key, account_key, address_key, at=now)
        return None
    await throttle.forget(session, pair_key)
    if remote_address is not None:
        await _remember_address(session, user.id, remote_address, now)
    actor = Actor(user.id, membership.organization_id, membership.role, remote_address)
    audit.record(session, actor, "auth.login", "user", user.id)
    return actor


async def switch_organization(session: AsyncSession, actor: Actor, organization_id: uuid.UUID) -> Actor:
    """The same person acting in another organization where the account is an active member now.

    The choice ``authenticate`` makes with ``organization_id``, for someone already signed in: any other
    organization (unknown, foreign, or where the membership ended or was switched off) is refused with one
    and the same answer, so the refusal tells nothing about other organizations.
    """
    memberships = await organizations.memberships_of(session, actor.user_id)
    membership = next((m for m, _ in memberships if m.organization_id == organization_id), None)
    if membership is None:
        raise NotFound("no such organization among yours", field="organization_id")
    chosen = Actor(actor.user_id, membership.organization_id, membership.role, actor.remote_address)
    if chosen.organization_id != actor.organization_id:
        audit.record(session, chosen, "auth.organization_chosen", "user", actor.user_id)
    return chosen


def require_actor(actor: Actor | None) -> Actor:
    if actor is None:
        raise NotAuthenticated("email or password is wrong")
    return actor


def _address_hash(user_id: uuid.UUID, address: str) -> str:
    # Salted with the account, so the table cannot be joined across accounts to find who shares an address.
    return hashlib.sha256(f"{user_id}:{address}".encode()).hexdigest()


async def _is_known_address(session: AsyncSession, user_id: uuid.UUID, address: str, *, since: datetime) -> bool:
    seen = await session.scalar(
        select(KnownAddress.last_seen_at).where(
            KnownAddress.user_id == user_id, KnownAddress.address_hash == _address_hash(user_id, address)
        )
    )
    return seen is not None and seen > since


async def _remember_address(session: AsyncSession, user_id: uuid.UUID, address: str, now: datetime) -> None:
    # An upsert: two logins from a new address at the same moment must not collide on the unique key.
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(KnownAddress).values(
        id=new_id(), user_id=user_id, address_hash=_address_hash(user_id, address), last_seen_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["user_id", "address_hash"], set_={"last_seen_at": now})
    )


# --- web sessions: the server's half of the staff session cookie ---------------------------------------

SEEN_EVERY = timedelta(minutes=5)
"""How stale ``last_seen_at`` may get: a write per page would cost more than the column is worth."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """What a page needs of a live session: the role now, the names, and where else the account may act."""

    role: Role
    display_name: str
    organization_name: str
    timezone: str
    organizations: list[tuple[uuid.UUID, str]]
    """Every organization the account may act in now (this one included), by name."""


def web_session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


async def start_web_session(
    session: AsyncSession,
    *,
    session_id: str,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    now: datetime,
    lifetime: timedelta,
) -> None:
    session.add(
        WebSession(
            token_hash=web_session_hash(session_id),
            user_id=user_id,
            organization_id=organization_id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()


def _signed_in_query() -> Any:
    """One statement for every page: the session row, the membership as it counts now, names and the other
    organizations, so a page pays one round trip for "who is this"."""
    other, other_user = aliased(Membership), aliased(User)
    elsewhere = (
        select(json_rows(Organization.id, Organization.name))
        .select_from(other)
        .join(Organization, Organization.id == other.organization_id)
        .join(other_user, eligibility.active_member_of(Organization.id, other, other_user))
        .where(other.user_id == WebSession.user_id)
        .scalar_subquery()
    )
    return (
        select(
            Membership.role,
            User.display_name,
            Organization.name,
            Organization.timezone,
            WebSession.id,
            WebSession.last_seen_at,
            elsewhere,
        )
        .select_from(WebSession)
        .join(User, User.id == WebSession.user_id)
        .join(Organization, Organization.id == WebSession.organization_id)
        .join(Membership, eligibility.active_member_of(WebSession.organization_id))
        .where(
            WebSession.token_hash == bindparam("token_hash"),
            WebSession.user_id == bindparam("user_id"),
            WebSession.organization_id == bindparam("organization_id"),
            WebSession.expires_at > bindparam("now"),
        )
    )


_SIGNED_IN = _signed_in_query()


async def web_session_user(
    session: AsyncSession, *, session_id: str, user_id: uuid.UUID, organization_id: uuid.UUID, now: datetime
) -> SignedIn | None:
    """The live session's user in its organization, or ``None``: signed out, expired, or no longer a member.

    The membership is checked with ``eligibility.active_member_of``, as for every bearer token.
    """
    row = (
        await session.execute(
            _SIGNED_IN,
            {
                "token_hash": web_session_hash(session_id),
                "user_id": user_id,
                "organization_id": organization_id,
                "now": now,
            },
        )
    ).first()
    if row is None:
        return None
    role, display_name, organization_name, timezone, row_id, last_seen_at, elsewhere = row
    if last_seen_at < now - SEEN_EVERY:
        await session.execute(update(WebSession).where(WebSession.id == row_id).values(last_seen_at=now))
    found = sorted(((uuid.UUID(str(i)), str(n)) for i, n in elsewhere or []), key=lambda o: o[1].casefold())
    return SignedIn(Role(role), display_name, organization_name, timezone, found)


async def end_web_session(session: AsyncSession, session_id: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == web_session_hash(session_id)))


async def end_web_sessions(session: AsyncSession, user_id: uuid.UUID) -> int:
    """Sign the user out in every browser and organization ("sign out everywhere")."""
    result = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_web_sessions(session: AsyncSession, *, now: datetime) -> int:
    """Housekeeping: expired sessions are worth nothing, their rows are removed."""
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
