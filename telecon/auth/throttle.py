"""Counting failed attempts in the database, so that every app process sees the same count."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.auth.models import FailedAttempt
from telecon.db import utcnow
from telecon.errors import TooManyRequests


def key(kind: str, value: str) -> str:
    # Hashed: the table counts attempts; it is no list of who tried which address.
    return f"{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:64]


async def recent_failures(
    session: AsyncSession, attempt_key: str, window: timedelta, *, now: datetime | None = None
) -> int:
    count, _ = await failures_since(session, attempt_key, (now or utcnow()) - window)
    return count


async def failures_since(session: AsyncSession, attempt_key: str, since: datetime) -> tuple[int, datetime | None]:
    """How many failures the key has had after ``since``, and when the latest was."""
    count, latest = (
        await session.execute(
            select(func.count(), func.max(FailedAttempt.attempted_at)).where(
                FailedAttempt.key == attempt_key, FailedAttempt.attempted_at > since
            )
        )
    ).one()
    return int(count or 0), latest


async def refuse_if_exceeded(
    session: AsyncSession,
    attempt_key: str,
    *,
    limit: int,
    window: timedelta,
    message: str,
    now: datetime | None = None,
) -> None:
    if await recent_failures(session, attempt_key, window, now=now) >= limit:
        raise TooManyRequests(message, retry_after=int(window.total_seconds()))


def record_failure(session: AsyncSession, *attempt_keys: str, at: datetime | None = None) -> None:
    session.add_all(FailedAttempt(key=k, attempted_at=at or utcnow()) for k in attempt_keys)


async def forget(session: AsyncSession, attempt_key: str) -> None:
    """Drop a key's failures, e.g. those of an account and address once the right password came from there."""
    await session.execute(delete(FailedAttempt).where(FailedAttempt.key == attempt_key))


async def purge(session: AsyncSession, older_than: timedelta, *, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - older_than
    result = await session.execute(delete(FailedAttempt).where(FailedAttempt.attempted_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
