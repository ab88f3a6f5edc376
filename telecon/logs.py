"""Logging: one JSON object a line in production, plain text in development, a request id on every line.

- ``configure(settings)`` sets up the root logger once per process (``telecon serve``, ``telecon worker`` and
  the other commands): JSON when ``TELECON_LOG_FORMAT=json`` or, unless that says ``text``, in production.
- ``request_id`` is a context variable. ``RequestIdMiddleware`` sets it for each HTTP request (an incoming
  ``X-Request-ID`` if it is a short safe token, else a new one) and echoes it in the answer; the worker sets it
  to the job id for each arq job. A log record factory stamps every record with it when the record is made,
  so app lines, library lines (SQLAlchemy, arq) and uvicorn's access line of that request all carry it, even
  when a handler formats them later on another thread.
- Nothing personal is logged: the code logs ids, never names, addresses, purposes or notes; statement
  parameters are hidden (``telecon.db``); the access line drops the client address and query values and
  masks join and calendar-feed tokens (``AccessLogFilter``); any email address left in a message is masked.
  The JSON formatter writes only the fields below and the ``LOGGED_EXTRAS`` a call passes with ``extra=``.
  Tracebacks are Python's standard ones: file, line, function and source line, never local variables.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import traceback
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message

from telecon.settings import Settings

request_id: ContextVar[str | None] = ContextVar("telecon_request_id", default=None)
"""The id of the request (or arq job) whose work is running; ``None`` outside any."""

REQUEST_ID_HEADER = "x-request-id"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:@-]{8,64}")
"""An incoming id is kept only if it is a short token of these characters: it goes into every log line."""

LOGGED_EXTRAS = frozenset({"method", "path", "status", "duration_ms", "job", "job_try", "outbox_id"})
"""The only ``extra=`` fields the JSON formatter writes; anything else passed that way is left out."""

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_emails(text: str) -> str:
    """Every email address in ``text`` as ``…@…``: a mail server's reply may quote the recipient."""
    return _EMAIL.sub("…@…", text)


def new_request_id() -> str:
    return secrets.token_hex(8)


def accepted_request_id(value: str | None) -> str:
    """The incoming id if it is safe to log, else a new one."""
    if value and _SAFE_ID.fullmatch(value):
        return value
    return new_request_id()


# --- records ------------------------------------------------------------------------------------------

_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    record.request_id = request_id.get()
    return record


def install_record_factory() -> None:
    """Stamp every record with the current request id when it is made (idempotent)."""
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request_id, allowed extras,
    and for an exception its type and standard traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask_emails(record.getMessage()),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in record.__dict__.items():
            if key in LOGGED_EXTRAS and key not in _STANDARD:
                line[key] = value if isinstance(value, int | float | bool | None) else mask_emails(str(value))
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line["exception"] = type(error).__name__
            trace = traceback.TracebackException.from_exception(error, capture_locals=False)
            line["traceback"] = mask_emails("".join(trace.format()))
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Development: ``time level logger [request id] message``, email addresses masked as in JSON."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Outside a request (start-up, shutdown) the request id shows as ``-``; the record keeps its own."""
        own = getattr(record, "request_id", None)
        record.request_id = own or "-"
        try:
            return mask_emails(super().format(record))
        finally:
            record.request_id = own


def use_json(settings: Settings) -> bool:
    if settings.log_format is not None:
        return settings.log_format == "json"
    return settings.env == "production"


def formatter_for(settings: Settings) -> logging.Formatter:
    return JsonFormatter() if use_json(settings) else TextFormatter()


def configure(settings: Settings, *, level: int = logging.INFO) -> None:
    """The root logger writes to stderr in the configured format; uvicorn's and arq's loggers propagate to it."""
    install_record_factory()
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(settings))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # SQLAlchemy's and others' warnings become lines with a request id too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "arq"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    redact_access_log()


# --- the access log ------------------------------------------------------------------------------------

_TOKEN_PATH = re.compile(r"(/join/|/calendar/)[A-Za-z0-9_.~%-]+")
_QUERY_VALUE = re.compile(r"=[^&]*")


def redact_path(path: str) -> str:
    """A path fit for a log: join and feed tokens masked, query values dropped (names kept)."""
    path, question, query = path.partition("?")
    path = _TOKEN_PATH.sub(r"\1…", path)
    if question:
        path += "?" + _QUERY_VALUE.sub("=…", query)
    return path


class AccessLogFilter(logging.Filter):
    """uvicorn's access line without the client address, query values or join and calendar-feed tokens.

    A token in a log file is a key to a consultation or to a specialist's agenda; a query may carry a name
    (``?name=``); an address is personal data. uvicorn logs ``(client, method, path, http version, status)``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:  # uvicorn's access record
            _client, method, path, version, status = args
            record.args = ("-", method, redact_path(str(path)), version, status)
            record.method, record.path, record.status = method, redact_path(str(path)), status
        else:
            if isinstance(args, tuple):
                record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in args)
            record.msg = redact_path(str(record.msg))
        return True


def redact_access_log() -> None:
    """Install ``AccessLogFilter`` on uvicorn's access logger (idempotent; after uvicorn configured logging)."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLogFilter) for f in access.filters):
        access.addFilter(AccessLogFilter())


# --- the request id ------------------------------------------------------------------------------------


async def with_request_id(app: Callable[..., Awaitable[None]], scope: Any, receive: Any, send: Any) -> None:
    """Run ``app`` for one connection with ``request_id`` set, answering with ``X-Request-ID``.

    ``telecon.app.TeleconApp`` calls it around everything Litestar does (routing, authentication, exception
    handlers, 404s), and uvicorn writes its access line from within the app's ``send``, so that line carries
    the id too.
    """
    if scope["type"] not in ("http", "websocket"):
        await app(scope, receive, send)
        return
    incoming = next((v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-request-id"), None)
    rid = accepted_request_id(incoming)
    token = request_id.set(rid)

    async def send_with_id(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableScopeHeaders.from_message(message)[REQUEST_ID_HEADER] = rid
        await send(message)

    try:
        await app(scope, receive, send_with_id)
    finally:
        request_id.reset(token)
