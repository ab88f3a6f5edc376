"""What a booking hands out to reach its video room: the room's name and a personal join link per attendee.

Here, below the video package, because booking writes both in its own statement; ``telecon.video`` reads
them back when a link is opened and mints the Jitsi token.

Each attendee row keeps a random nonce (256 bits from ``secrets``) and the SHA-256 of its token; the
token itself is HMAC-SHA256(link key, nonce). So a copy of the database alone yields no usable link,
while the server can show a coach the participant's link again (and the relay can put it in an email)
without ever storing it. Reissuing a link means a new nonce: the old token stops resolving.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import ClassVar

ROOM_PREFIX = "tc-"


def new_room_name() -> str:
    """A fresh 128-bit room name: unguessable, URL- and JID-safe, free of personal data."""
    # The prefix keeps the name from ever being all digits: Prosody reads JSON numbers as floats.
    random_part = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return ROOM_PREFIX + random_part


def hash_join_token(token: str) -> str:
    """The stored form of a join token, so a database leak yields no usable links."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def derive_key(secret_key: str, purpose: bytes) -> bytes:
    """A key of its own per kind of link, so that one kind's token is never also another's (or anything signed)."""
    return hmac.new(secret_key.encode(), purpose, hashlib.sha256).digest()


def derive_link_key(secret_key: str) -> bytes:
    return derive_key(secret_key, b"telecon join links v1")


@dataclass(frozen=True, slots=True)
class SignedLinks:
    """Secret links ``<public url>/<path>/<token><suffix>``: the token is HMAC-SHA256(key, a stored nonce)."""

    key: bytes = field(repr=False)
    public_url: str
    path: ClassVar[str] = "join"
    suffix: ClassVar[str] = ""

    def token(self, nonce: str) -> str:
        digest = hmac.new(self.key, nonce.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def url(self, nonce: str) -> str:
        return f"{self.public_url.rstrip('/')}/{self.path}/{self.token(nonce)}{self.suffix}"

    def issue(self) -> tuple[str, str]:
        """A fresh ``(nonce, token_hash)`` pair for a row."""
        nonce = secrets.token_urlsafe(32)
        return nonce, hash_join_token(self.token(nonce))


@dataclass(frozen=True, slots=True)
class JoinLinks(SignedLinks):
    """Join links: ``<public url>/join/<token>``."""
