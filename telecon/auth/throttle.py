"""Counting failed attempts in the database, so that every app process sees the same count.

Every function takes ``now`` from the caller's clock: attempts are stamped with it and windows end at it, so
that counting stays coherent whatever clock the app runs on.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.auth.models import FailedAttempt
from telecon.errors import TooManyRequests


def key(kind: str, value: str) -> str:
    # Hashed: the table counts attempts; it is no list of who tried which address.
    return f"{kind}:" + hashlib.sha256(value.encode()).hexdigest()[:64]


async def recent_failures(session: AsyncSession, attempt_key: str, window: timedelta, *, now: datetime) -> int:
    count = await session.scalar(
        select(func.count()).where(FailedAttempt.key == attempt_key, FailedAttempt.attempted_at > now - window)
    )
    return count or 0


async def refuse_if_exceeded(
    session: AsyncSession, attempt_key: str, *, limit: int, window: timedelta, message: str, now: datetime
) -> None:
    if await recent_failures(session, attempt_key, window, now=now) >= limit:
        raise TooManyRequests(message, retry_after=int(window.total_seconds()))


def record_failure(session: AsyncSession, *attempt_keys: str, now: datetime) -> None:
    session.add_all(FailedAttempt(key=k, attempted_at=now) for k in attempt_keys)


async def purge(session: AsyncSession, older_than: timedelta, *, now: datetime) -> int:
    result = await session.execute(delete(FailedAttempt).where(FailedAttempt.attempted_at < now - older_than))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
