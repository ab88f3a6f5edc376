from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor
from telecon.audit import services as audit
from telecon.auth import throttle
from telecon.auth.models import KnownAddress
from telecon.db import new_id, utcnow
from telecon.errors import NotAuthenticated, TooManyRequests
from telecon.organizations import services as organizations
from telecon.organizations.models import User
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
