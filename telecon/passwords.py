"""Argon2id password hashes (argon2-cffi's defaults follow RFC 9106), computed off the event loop."""

from __future__ import annotations

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("telecon-no-such-user")


def hash_password(password: str, hasher: PasswordHasher = _hasher) -> str:
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str, hasher: PasswordHasher = _hasher) -> bool:
    try:
        return hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class Passwords:
    """Hash and verify in worker threads, at most ``concurrency`` at once.

    One argon2 call takes 64 MiB and tens of milliseconds of CPU. On the event loop it stalls every other
    request of the process (eight concurrent logins pushed ``/health`` from 3 ms to 440 ms); in unbounded
    threads a burst of logins would take 64 MiB each and starve the loop of CPU. argon2-cffi releases the
    GIL while hashing, so the loop keeps serving while at most ``concurrency`` hashes run and the rest wait
    in line. One instance per application (its limiter belongs to the event loop that first uses it).
    """

    def __init__(self, concurrency: int = 2, hasher: PasswordHasher = _hasher) -> None:
        self.concurrency = concurrency
        self._hasher = hasher
        self._limiter = anyio.CapacityLimiter(concurrency)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(hash_password, password, self._hasher, limiter=self._limiter)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await anyio.to_thread.run_sync(
            verify_password, password_hash, password, self._hasher, limiter=self._limiter
        )
