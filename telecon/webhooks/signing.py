"""The webhook signature: ``Telecon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

Pure functions, no I/O. The timestamp is inside the signed text, so a receiver that checks it against its own
clock (``verify``'s ``tolerance``) refuses a captured request replayed later; the body is signed as sent, byte
for byte, so the receiver must verify the raw body before parsing it.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "Telecon-Signature"
TOLERANCE_SECONDS = 300


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, header: str, body: bytes, *, now: float, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and was made within ``tolerance`` seconds of ``now``.

    Constant-time comparison; any ``v1`` in the header may match (a sender rotating secrets may send two).
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1":
            signatures.append(value)
    if timestamp is None or not signatures or abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures)
