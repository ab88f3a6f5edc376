"""RFC 9457 problem details: how every error leaves the service, with the field it is about.

Services raise ``telecon.errors.DomainError``s; Litestar raises its own for validation, routing and
authentication; anything else is a 500 that says nothing was saved and logs the route template only.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from telecon.errors import DomainError, InvalidInput, TooManyRequests
from telecon.schemas import PATTERN_HINTS

log = logging.getLogger("telecon.http")
PROBLEM_JSON = "application/problem+json"
FHIR_JSON = "application/fhir+json"
FHIR_MEDIA_TYPE = f"{FHIR_JSON}; fhirVersion=4.0"
"""Every answer of ``/fhir``, errors included (FHIR R4 3.1.0.1.8: the MIME-type parameter ``fhirVersion``)."""
PROBLEM_BASE = "https://telecon.invalid/problems/"


def problem(
    status: int, title: str, detail: str | None = None, *, kind: str | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + kind if kind else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(extra.pop("retry_after"))
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")
_AT_PATH = re.compile(r"- at `\$(?:\.)?([^`]*)`")


def field_of(error: dict[str, Any]) -> str | None:
    message = str(error.get("message", ""))
    if match := _NAMED_FIELD.search(message):
        prefix = _AT_PATH.search(message)
        parent = prefix.group(1) if prefix and prefix.group(1) else ""
        return f"{parent}.{match.group(1)}" if parent else match.group(1)
    key = error.get("key")
    if key and key != "data":
        return str(key)
    if match := _AT_PATH.search(message):
        return match.group(1) or None
    return None


_REGEX = re.compile(r"Expected `str` matching regex '(.*)'")


def _readable(message: str) -> str:
    """msgspec's message without the JSON path, and a pattern said in words rather than as a regex."""
    message = _AT_PATH.sub("", message).strip(" -")
    if (match := _REGEX.fullmatch(message)) and (hint := _HINTS.get(match.group(1))):
        return hint
    return message


_HINTS = {repr(pattern)[1:-1]: hint for pattern, hint in PATTERN_HINTS.items()}  # as msgspec prints them


def _on_validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append(
                {
                    "field": field_of(item),
                    "source": item.get("source", "body"),
                    "message": _readable(str(item.get("message", "invalid value"))),
                }
            )
    if not errors:
        errors.append({"field": None, "source": "body", "message": exc.detail})
    names = ", ".join(e["field"] for e in errors if e["field"]) or "the request"
    return problem(422, "Invalid request", f"check {names}", kind="validation", errors=errors)


def _on_domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    extra: dict[str, Any] = {}
    if exc.field:
        extra["field"] = exc.field
        if isinstance(exc, InvalidInput):
            extra["errors"] = [{"field": exc.field, "source": exc.source, "message": exc.detail}]
    if isinstance(exc, TooManyRequests):
        extra["retry_after"] = exc.retry_after
    kind = re.sub(r"(?<!^)(?=[A-Z])", "-", type(exc).__name__).lower()
    return problem(exc.status_code, exc.title, exc.detail, kind=kind, **extra)


def _on_http_exception(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    title = exc.detail if exc.detail else "Error"
    response = problem(exc.status_code, title)
    response.headers.update(exc.headers or {})  # e.g. Allow on 405 (RFC 9110), Retry-After on 429
    return response


DATABASE_RETRY_SECONDS = 5


def database_unreachable(exc: BaseException) -> bool:
    """Whether an error means the database cannot be reached now (down, restarting, a cut connection), or not
    in time: every pooled connection stayed busy past the pool's timeout (overload, seen in bench/network.py)."""
    if isinstance(exc, ConnectionError | TimeoutError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError):
            return True
        # PostgreSQL's answers while it starts or stops (57P01–57P03) and connection errors (class 08), as
        # asyncpg raises them inside a generic DBAPIError.
        code = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
        return code.startswith("08") or code in ("57P01", "57P02", "57P03")
    return False


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Logged with the path template, not the URL or the body: both can carry personal data.
    route = request.scope.get("path_template", "?")
    if database_unreachable(exc):
        # Not a bug: the transaction was rolled back, and the same request can simply be sent again.
        log.warning("the database is unreachable (%s) on %s %s", type(exc).__name__, request.method, route)
        return problem(
            503,
            "Service unavailable",
            "the database cannot be reached right now, or is too busy; nothing was saved, please try again shortly",
            retry_after=DATABASE_RETRY_SECONDS,
        )
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route, exc_info=exc)
    return problem(500, "Internal server error", "something went wrong on our side; nothing was saved")


exception_handlers: dict[int | type[Exception], Any] = {
    ValidationException: _on_validation,
    DomainError: _on_domain_error,
    HTTPException: _on_http_exception,
    Exception: _on_unexpected,
}
