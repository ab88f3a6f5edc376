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
import logging
import os
import re
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Protocol

import aiosmtplib

from telecon.notifications.content import Rendered

log = logging.getLogger("telecon.mail")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


UTF8 = Charset("utf-8")
UTF8.header_encoding = QP  # =?utf-8?q?…?= : names and subjects stay half readable in a raw message
UTF8.body_encoding = QP


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
) -> Message:
    """The message as MIME (the tree of the module docstring).

    Built with ``email.mime`` and the ``compat32`` policy rather than ``EmailMessage``: the modern policy parses
    and refolds every header it is given, which took half of the relay's CPU per message (``bench/mail.py``);
    the values here are ours and already safe (``header_safe``), so there is nothing to parse.
    """
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText(rendered.text, "plain", UTF8))  # type: ignore[arg-type]  # a Charset is accepted
    alternative.attach(MIMEText(rendered.html, "html", UTF8))  # type: ignore[arg-type]
    message: Message = alternative
    if rendered.calendar is not None and rendered.method is not None:
        calendar = MIMEText(rendered.calendar.decode("utf-8"), "calendar", UTF8)  # type: ignore[arg-type]
        calendar.set_param("method", rendered.method)
        alternative.attach(calendar)
        attachment = MIMEBase("application", "ics", name="invite.ics")
        attachment.set_payload(rendered.calendar)
        encoders.encode_base64(attachment)
        attachment.add_header("Content-Disposition", "attachment", filename="invite.ics")
        message = MIMEMultipart("mixed", _subparts=[alternative, attachment])
    message["Subject"] = Header(header_safe(rendered.subject), UTF8).encode()
    message["From"] = _address(sender)
    message["To"] = _address(recipient)
    if reply_to is not None and reply_to[1]:
        message["Reply-To"] = _address(reply_to)
    message["Message-ID"] = message_id(outbox_id, host)
    message["Date"] = format_datetime(now)
    message["Content-Language"] = rendered.language
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    return message


def _address(person: tuple[str, str]) -> str:
    """``"Name" <address>``, the name encoded when it is not ASCII; no line break can get in."""
    name, address = person
    return formataddr((header_safe(name), header_safe(address)), charset=UTF8)


class Transport(Protocol):
    async def send(self, message: Message, *, sender: str, recipient: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    """SMTP through aiosmtplib: ``tls`` is ``none``, ``starttls`` or ``tls`` (implicit)."""

    host: str
    port: int
    tls: str = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: float = 30

    async def send(self, message: Message, *, sender: str, recipient: str) -> None:
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

    async def send(self, message: Message, *, sender: str, recipient: str) -> None:
        await asyncio.to_thread(self._write, message)

    def _write(self, message: Message) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = str(message["Message-ID"]).strip("<>").split("@")[0]
        path = self.directory / f"{name}.eml"
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(bytes(message))
        os.replace(partial, path)  # a reader never sees half a message
        log.info("mail written to %s", path.resolve())
