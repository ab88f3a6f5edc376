"""A real SMTP server for the tests: aiosmtpd on a loopback port, collecting what it accepts.

``replies`` scripts the server: each incoming DATA takes the next reply (``"451 …"``, ``"550 …"``) until the
list is empty, then accepts with 250. ``stop()`` and ``start()`` take it off the network and back.
"""

from __future__ import annotations

import email
import email.policy
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


class Collector:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.replies: list[str] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self.replies:
                reply = self.replies.pop(0)
                self.refused.append(reply)
                return reply
            self.raw.append(envelope.content)
            parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self.messages.append(parsed)
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.collector = Collector()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.collector.messages

    def start(self) -> None:
        self._controller = Controller(self.collector, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait_for(self, predicate: Callable[[list[EmailMessage]], bool], timeout: float = 30) -> list[EmailMessage]:
        """Wait until ``predicate(messages)`` holds; fail with what arrived if it does not within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.messages)):
                return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(
            f"the mail server got {len(self.messages)} messages: {[m['Subject'] for m in self.messages]}"
        )

    def count(self, n: int, timeout: float = 30) -> list[EmailMessage]:
        return self.wait_for(lambda messages: len(messages) >= n, timeout)


def parts(message: EmailMessage) -> dict[str, EmailMessage]:
    """The message's leaf parts by content type (the last of each type)."""
    found = {}
    for part in message.walk():
        if not part.is_multipart():
            found[part.get_content_type()] = part
    return found  # type: ignore[return-value]
