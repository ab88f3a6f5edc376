"""Signed-in staff in the browser: a session cookie holding a signed token, and CSRF tokens bound to it.

The session token is a JWT like the API's bearer token, but signed with a key of its own (derived from
``TELECON_SECRET_KEY``) and with its own audience, so a bearer token is never a session and a session cookie
never a bearer token. Its expiry is checked against the app's clock, like every other rule about now.

The token alone is not enough: its ``jti`` names a ``web_session`` row (stored as a hash, see
``telecon.auth.services.start_web_session``), and signing out deletes the row. The signature only spares the
database the lookups of forged cookies.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt

from telecon.scheduling.links import derive_key
from telecon.settings import Settings

SESSION_COOKIE = "telecon_session"
CSRF_COOKIE = "telecon_csrf"
"""A random value per browser; every form's token is an HMAC of it (and of the session, once signed in)."""
LANGUAGE_COOKIE = "telecon_lang"
CSRF_FIELD = "csrf_token"
AUDIENCE = "telecon-web-session"
ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class WebSession:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    session_id: str


@dataclass(frozen=True, slots=True)
class Sessions:
    session_key: bytes = field(repr=False)
    csrf_key: bytes = field(repr=False)
    lifetime: timedelta
    secure: bool
    """Cookies only over https: in production."""

    @classmethod
    def of(cls, settings: Settings) -> Sessions:
        secret = settings.secret_key.get_secret_value()
        return cls(
            session_key=derive_key(secret, b"telecon web sessions v1"),
            csrf_key=derive_key(secret, b"telecon web csrf v1"),
            lifetime=timedelta(minutes=settings.session_minutes),
            secure=settings.env == "production",
        )

    def issue(self, user_id: uuid.UUID, organization_id: uuid.UUID, now: datetime) -> tuple[str, WebSession]:
        """A new cookie value and the session it names; the caller stores the session (``start_web_session``)."""
        session = WebSession(user_id, organization_id, secrets.token_urlsafe(16))
        claims = {
            "sub": str(user_id),
            "org": str(organization_id),
            "aud": AUDIENCE,
            "iat": int(now.timestamp()),
            "exp": int((now + self.lifetime).timestamp()),
            "jti": session.session_id,
        }
        return jwt.encode(claims, self.session_key, algorithm=ALGORITHM), session

    def read(self, token: str | None, now: datetime) -> WebSession | None:
        """The session a cookie names, or ``None`` when it is missing, forged, for another audience or expired."""
        if not token or len(token) > 2048:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.session_key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                # Expiry against the app's clock below, not the machine's.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "jti"]},
            )
            if not isinstance(claims["exp"], int) or claims["exp"] <= now.timestamp():
                return None
            return WebSession(uuid.UUID(claims["sub"]), uuid.UUID(claims["org"]), str(claims["jti"]))
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            return None

    def csrf_token(self, browser: str, session: WebSession | None) -> str:
        """The token every form of this browser (and sign-in) carries in ``csrf_token``."""
        binding = f"{browser}:{session.session_id if session else ''}"
        return hmac.new(self.csrf_key, binding.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, browser: str | None, session: WebSession | None, sent: str | None) -> bool:
        if not browser or not sent:
            return False
        return hmac.compare_digest(self.csrf_token(browser, session), sent)


def new_browser_value() -> str:
    return secrets.token_urlsafe(24)
