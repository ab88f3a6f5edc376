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

ROOM_PREFIX = "tc-"


def new_room_name() -> str:
    """A fresh 128-bit room name: unguessable, URL- and JID-safe, free of personal data."""
    # The prefix keeps the name from ever being all digits: Prosody reads JSON numbers as floats.
    random_part = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return ROOM_PREFIX + random_part


def hash_join_token(token: str) -> str:
    """The stored form of a join token, so a database leak yields no usable links."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def derive_link_key(secret_key: str) -> bytes:
    """A key of its own for join links, so that they cannot be confused with anything else signed."""
    return hmac.new(secret_key.encode(), b"telecon join links v1", hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class JoinLinks:
    key: bytes = field(repr=False)
    public_url: str

    def token(self, nonce: str) -> str:
        digest = hmac.new(self.key, nonce.encode("ascii"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def url(self, nonce: str) -> str:
        return f"{self.public_url.rstrip('/')}/join/{self.token(nonce)}"

    def issue(self) -> tuple[str, str]:
        """A fresh ``(nonce, token_hash)`` pair for an attendee row."""
        nonce = secrets.token_urlsafe(32)
        return nonce, hash_join_token(self.token(nonce))
