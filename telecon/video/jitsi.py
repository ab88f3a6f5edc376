"""Join windows and the JWTs Prosody checks (room names and join links: ``telecon.scheduling.links``).

Pure and I/O-free so the claim rules can be tested without a Jitsi server.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import jwt

WindowStatus = Literal["early", "open", "ended", "cancelled"]

_ROOM_RE = re.compile(r"[a-z0-9][a-z0-9-]*")


@dataclass(frozen=True, slots=True)
class JitsiConfig:
    """How to sign tokens: HS256 for a self-hosted Prosody, RS256 when a private key (8x8 JaaS) is set."""

    domain: str
    app_id: str
    app_secret: str | None = field(default=None, repr=False)
    sub: str | None = None
    """The XMPP domain Prosody verifies ``sub`` against; not always the public host, hence its own setting."""
    private_key_pem: str | None = field(default=None, repr=False)
    kid: str | None = None
    """JaaS key id, used as given: ``vpaas-magic-cookie-<app>/<key id>``."""

    def __post_init__(self) -> None:
        if self.is_jaas:
            # The Jitsi client rejects a JaaS token whose kid does not start with "<sub>/".
            if not self.kid or not self.kid.startswith(f"{self.app_id}/"):
                raise ValueError("JaaS needs a kid of the form '<app id>/<key id>'")
        elif not self.app_secret:
            raise ValueError("self-hosted Jitsi needs an app secret (or a private key for JaaS)")

    @property
    def is_jaas(self) -> bool:
        return self.private_key_pem is not None


def iframe_room_name(config: JitsiConfig, room: str) -> str:
    """The room name the IFrame API joins: JaaS puts the app id (tenant) in front."""
    return f"{config.app_id}/{room}" if config.is_jaas else room


def mint_token(
    config: JitsiConfig,
    *,
    room: str,
    user_id: str,
    display_name: str,
    moderator: bool,
    not_before: datetime,
    expires_at: datetime,
) -> str:
    """A JWT admitting one attendee to one room between ``not_before`` and ``expires_at``."""
    _require_aware(not_before=not_before, expires_at=expires_at)
    if expires_at <= not_before:
        raise ValueError("expires_at must be after not_before")
    # Prosody compares the claim lowercased with the joined room; "*" or "app/room" would widen or break it.
    room = room.lower()
    if not _ROOM_RE.fullmatch(room):
        raise ValueError(f"not a telecon room name: {room!r}")

    jaas = config.is_jaas
    if jaas:
        claims: dict[str, Any] = {"iss": "chat", "aud": "jitsi", "sub": config.app_id}
    else:
        # aud must be a plain string: Prosody compares it with ==, so an array never matches.
        claims = {"iss": config.app_id, "aud": config.app_id, "sub": config.sub or config.domain}
    claims |= {
        "room": room,
        # Prosody allows no clock skew and rejects exp equal to the current second, so round outward:
        # the token is valid in every second of the join window.
        "nbf": math.floor(not_before.timestamp()),
        "exp": math.ceil(expires_at.timestamp()),
        "context": {
            # No email and no avatar: Jitsi would show or fetch them, leaking addresses to third parties.
            "user": {"id": user_id, "name": display_name, "moderator": _flag(moderator, jaas)},
            # A feature left out counts as allowed, so switch each one off explicitly.
            "features": {name: _flag(False, jaas) for name in ("recording", "livestreaming", "transcription")},
        },
    }

    if config.private_key_pem is not None:
        headers = {"typ": "JWT", "kid": config.kid}
        return jwt.encode(claims, config.private_key_pem, algorithm="RS256", headers=headers)
    if config.app_secret is not None:
        return jwt.encode(claims, config.app_secret, algorithm="HS256", headers={"typ": "JWT"})
    raise ValueError("no signing key configured")  # unreachable: JitsiConfig checks this


def _flag(value: bool, jaas: bool) -> bool | str:
    # 8x8 documents the strings "true"/"false" for JaaS; Prosody and the Jitsi client accept both forms.
    if jaas:
        return "true" if value else "false"
    return value


def window_status(now: datetime, opens_at: datetime, closes_at: datetime, cancelled: bool) -> WindowStatus:
    """Whether a join link works right now; the window is half-open, ``[opens_at, closes_at)``."""
    _require_aware(now=now, opens_at=opens_at, closes_at=closes_at)
    if cancelled:
        return "cancelled"
    if now < opens_at:
        return "early"
    if now < closes_at:
        return "open"
    return "ended"


def _require_aware(**values: datetime) -> None:
    for name, value in values.items():
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
