"""Putting a rendered message on the wire: MIME with a stable Message-ID, and the two transports.

The MIME tree is the one calendar clients (Outlook, Gmail, Apple Calendar, Thunderbird) expect of an
iMIP invitation (RFC 6047)::

    multipart/mixed
    ├── multipart/alternative
    │   ├── text/plain
    │   ├── text/html
    │   └── text/calendar; method=REQUEST (or CANCEL)
    └── application/ics  invite.ics  (the same entry, for clients that only look at attachments)

A failed delivery is ``Temporary`` (a 4xx, a refused or broken connection: tried again later) or
``Permanent`` (a 5xx for the sender, the recipient or the data: failed at once, shown to the coach).
"""

from __future__ import annotations

import asyncio
import email.policy
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from telecon.notifications.content import Rendered

log = logging.getLogger("telecon.mail")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class _HeaderClasses(HeaderRegistry):
    """The standard header registry, but each header class is made once, not at every header set.

    ``HeaderRegistry.__getitem__`` builds a new class with ``type()`` each time a header is set or read: about
    50 times per invitation, a third of the time ``build`` takes (measured with ``bench/mail.py``).
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type] = {}

    def __getitem__(self, name: str) -> type:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = super().__getitem__(name)
        return made


POLICY = email.policy.default.clone(header_factory=_HeaderClasses())
"""``email.policy.default`` (what ``EmailMessage()`` uses) with the cached header classes."""

_LOCAL_HOSTNAME: list[str] = []


async def local_hostname() -> str:
    """This host's name for EHLO, looked up once (aiosmtplib otherwise asks a thread for it at every send)."""
    if not _LOCAL_HOSTNAME:
        _LOCAL_HOSTNAME.append(await asyncio.to_thread(socket.getfqdn))
    return _LOCAL_HOSTNAME[0]


class DeliveryError(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Temporary(DeliveryError):
    """Try again later: the server said 4xx, or could not be reached."""


class Permanent(DeliveryError):
    """Do not try again: the server refused the message (5xx)."""


def header_safe(text: str) -> str:
    """A header value without line breaks or other control characters: no header can be injected."""
    return _CONTROL.sub(" ", text).strip()


def parse_sender(mail_from: str) -> tuple[str, str]:
    """``"telecon <no-reply@example.org>"`` → ``("telecon", "no-reply@example.org")``."""
    name, address = parseaddr(mail_from)
    return name or "telecon", address or mail_from


def message_id(outbox_id: uuid.UUID, host: str) -> str:
    """Stable per outbox row: a redelivery carries the same Message-ID, so it can be recognised."""
    return f"<{outbox_id}@{host}>"


def build(
    rendered: Rendered,
    *,
    outbox_id: uuid.UUID,
    host: str,
    sender: tuple[str, str],
    recipient: tuple[str, str],
    reply_to: tuple[str, str] | None,
    now: datetime,
) -> EmailMessage:
    message = EmailMessage(policy=POLICY)
    message["Subject"] = header_safe(rendered.subject)
    message["From"] = Address(header_safe(sender[0]), addr_spec=sender[1])
    message["To"] = Address(header_safe(recipient[0]), addr_spec=recipient[1])
    if reply_to is not None and reply_to[1]:
        message["Reply-To"] = Address(header_safe(reply_to[0]), addr_spec=reply_to[1])
    message["Message-ID"] = message_id(outbox_id, host)
    message["Date"] = format_datetime(now)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if rendered.calendar is not None and rendered.method is not None:
        calendar = rendered.calendar.decode("utf-8")
        message.add_alternative(calendar, subtype="calendar", charset="utf-8", params={"method": rendered.method})
        message.add_attachment(rendered.calendar, maintype="application", subtype="ics", filename="invite.ics")
    message["Content-Language"] = rendered.language  # last: building the parts moves Content-* headers
    return message


class Transport(Protocol):
    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    """SMTP through aiosmtplib: ``tls`` is ``none``, ``starttls`` or ``tls`` (implicit)."""

    host: str
    port: int
    tls: str = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        try:
            await aiosmtplib.send(
                message,
                sender=sender,
                recipients=[recipient],
                hostname=self.host,
                port=self.port,
                use_tls=self.tls == "tls",
                start_tls=self.tls == "starttls",
                username=self.username,
                password=self.password,
                timeout=self.timeout,
                local_hostname=await local_hostname(),
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            refusals = error.recipients
            code = refusals[0].code if refusals else 550
            raise _by_code(code, refusals[0].message if refusals else str(error)) from None
        except aiosmtplib.SMTPAuthenticationError as error:
            # Our configuration is wrong, not the message: keep it until someone fixes the credentials.
            raise Temporary(f"{error.code} authentication failed: {error.message}") from None
        except aiosmtplib.SMTPResponseException as error:
            raise _by_code(error.code, error.message) from None
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as error:
            raise Temporary(f"mail server not reachable: {type(error).__name__}: {error}") from None


def _by_code(code: int, text: str) -> DeliveryError:
    reason = f"{code} {text}".strip()
    return Permanent(reason) if 500 <= code < 600 else Temporary(reason)


@dataclass(frozen=True, slots=True)
class FileTransport:
    """The embedded default: every message an ``.eml`` file under ``directory``, its path logged."""

    directory: Path

    async def send(self, message: EmailMessage, *, sender: str, recipient: str) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: EmailMessage) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").split("@")[0]
        path = self.directory / f"{name}.eml"
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(bytes(message))
        os.replace(partial, path)  # a reader never sees half a message
        log.info("mail written to %s", path.resolve())
