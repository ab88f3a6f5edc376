"""HTTP plumbing shared by every domain's routes: sessions, the acting user, problem details."""

from __future__ import annotations

import ipaddress
import logging
import re
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Annotated, Any, get_args

import msgspec
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.middleware import AuthenticationResult
from litestar.openapi.spec import OpenAPIFormat, OpenAPIType, Schema
from litestar.params import QueryParameter, SkipValidation
from litestar.plugins import OpenAPISchemaPlugin
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.types import Message, Scope
from litestar.typing import FieldDefinition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Caller
from telecon.clock import Clock
from telecon.errors import BadRequest, DomainError, InvalidInput, TooManyRequests
from telecon.organizations import services as organizations
from telecon.schemas import PATTERN_HINTS, AwareDatetime, Language, Name
from telecon.settings import Settings

log = logging.getLogger("telecon.http")
PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://telecon.invalid/problems/"


# --- problem details (RFC 9457) ---------------------------------------------------------------------


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


def _field_of(error: dict[str, Any]) -> str | None:
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
                    "field": _field_of(item),
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


def _on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    # Logged with the path template, not the URL or the body: both can carry personal data.
    route = request.scope.get("path_template", "?")
    log.error("unhandled %s on %s %s", type(exc).__name__, request.method, route, exc_info=exc)
    return problem(500, "Internal server error", "something went wrong on our side; nothing was saved")


# --- what every request and answer gets --------------------------------------------------------------

MAX_BODY_BYTES = 256 * 1024
"""The largest request body read (Litestar answers 413 beyond it); real bodies are a few kB."""
MAX_JSON_DEPTH = 32
"""The deepest JSON nesting accepted; real bodies nest three levels, msgspec's own limit is the stack."""
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]')  # a string (skipped whole) or a bracket


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether a JSON text nests deeper than ``limit``: free for ordinary bodies, linear for the rest."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    depth = 0
    for token in _JSON_TOKEN.finditer(body):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


class TeleconRequest(Request[Any, Any, Any]):
    """Every JSON body is decoded here: refused when nested deeper than ``MAX_JSON_DEPTH``.

    Without the bound a body nested a thousand deep makes the decoder raise RecursionError (a 500).
    """

    async def json(self) -> Any:
        if json_too_deep(await self.body()):
            raise BadRequest(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
        return await super().json()


DEFAULT_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))
"""On every answer, problems and pages included: answers carry personal data and Jitsi tokens. A route
whose answer may be cached sets its own ``Cache-Control``."""


async def add_default_headers(message: Message, _: Scope) -> None:
    if message["type"] == "http.response.start":
        present = {name.lower() for name, _value in message.get("headers", ())}
        missing = [(name, value) for name, value in DEFAULT_HEADERS if name not in present]
        if missing:
            message["headers"] = [*message.get("headers", ()), *missing]


class AwareDatetimeSchema(OpenAPISchemaPlugin):
    """Documents ``AwareDatetime`` (a ``datetime`` subclass Litestar does not know) as a date-time string."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is AwareDatetime

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(
            type=OpenAPIType.STRING,
            format=OpenAPIFormat.DATE_TIME,
            description="ISO 8601 with an offset, between 1970 and 2200",
        )


exception_handlers: dict[int | type[Exception], Any] = {
    ValidationException: _on_validation,
    DomainError: _on_domain_error,
    HTTPException: _on_http_exception,
    Exception: _on_unexpected,
}


# --- sessions and the acting user -------------------------------------------------------------------


async def provide_session(state: State) -> AsyncGenerator[AsyncSession, None]:
    """One transaction per request: committed after the handler returns, rolled back if it raises."""
    sessionmaker: async_sessionmaker[AsyncSession] = state.sessionmaker
    async with sessionmaker() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


async def _token_caller(token: Token, connection: ASGIConnection[Any, Any, Any, Any]) -> Caller | None:
    """What the bearer token claims; the membership is checked again in the request's own transaction."""
    try:
        user_id, organization_id = uuid.UUID(token.sub), uuid.UUID(str(token.extras["org"]))
    except (KeyError, ValueError):
        return None
    return Caller(user_id, organization_id, client_address(connection))


class BearerOnly(JWTAuthenticationMiddleware):
    """Litestar's JWT middleware reads whatever follows the first space; we accept only ``Bearer <jwt>``.

    A token sent as ``Basic <jwt>`` (or with no scheme) is a client mistake that must not silently work:
    proxies and logs treat ``Basic`` credentials differently from bearer tokens (RFC 6750, RFC 7235).
    """

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        scheme, _, token = connection.headers.get(self.auth_header, "").strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():  # the scheme word is case-insensitive (RFC 7235)
            raise NotAuthorizedException("send the token as 'Authorization: Bearer <token>'")
        return await self.authenticate_token(encoded_token=token.strip(), connection=connection)


def make_jwt_auth(settings: Settings) -> JWTAuth[Caller, Token]:
    return JWTAuth[Caller, Token](
        retrieve_user_handler=_token_caller,
        authentication_middleware_class=BearerOnly,
        token_secret=settings.secret_key.get_secret_value(),
        default_token_expiration=timedelta(minutes=settings.access_token_minutes),
        exclude=["^/schema"],
        exclude_opt_key="public",
    )


class RedactJoinTokens(logging.Filter):
    """Keeps join-link tokens out of access logs: a token in a log file is a key to a consultation."""

    _token = re.compile(r"(/join/)[A-Za-z0-9_-]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._token.sub(r"\1…", a) if isinstance(a, str) else a for a in record.args)
        record.msg = self._token.sub(r"\1…", str(record.msg))
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactJoinTokens) for f in access.filters):
        access.addFilter(RedactJoinTokens())


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The address of whoever sent the request, for throttles and the audit trail (see ``forwarded_client``)."""
    settings: Settings = connection.app.state.settings
    return forwarded_client(
        connection.client.host if connection.client else None,
        connection.headers.getall("x-forwarded-for", []),
        settings.trusted_proxies,
    )


def forwarded_client(peer: str | None, forwarded_for: list[str], trusted: list[IPNetwork]) -> str | None:
    """The TCP peer, unless the peer is a trusted proxy: then the right-most ``X-Forwarded-For`` address
    that is not a trusted proxy itself.

    Each proxy appends the address it saw, so only the entries from the right up to the first untrusted one
    are vouched for; whatever lies further left, the client wrote itself. An entry that is not an address
    stops the walk at the last trusted hop. Nobody is trusted by default (``TELECON_TRUSTED_PROXIES``), and
    uvicorn's own header handling is off (``telecon serve``), so this is the only place that reads the header.
    """
    if not trusted or peer is None:
        return peer  # the common case, on every authenticated request: nothing to parse
    peer_address = _parse_address(peer)
    if peer_address is None:
        return peer
    client = peer_address
    if _is_trusted(client, trusted):
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            address = _parse_address(hop)
            if address is None:
                break
            client = address
            if not _is_trusted(address, trusted):
                break
    return str(client)


def _parse_address(value: str) -> IPAddress | None:
    """An address as proxies write it: bare, or with a port (``192.0.2.1:4711``, ``[2001:db8::1]:4711``)."""
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: list[IPNetwork]) -> bool:
    return any(address in network for network in trusted)


def current_time(state: State) -> datetime:
    """Now, from the clock ``create_app`` was given."""
    clock: Clock = state.clock
    return clock()


def token_caller(request: Request[Any, Any, Any]) -> Caller:
    """The caller the bearer token names (the auth middleware has checked the token); 401 without one."""
    caller = request.user
    if not isinstance(caller, Caller):
        raise NotAuthorizedException()
    return caller


async def provide_actor(request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Actor:
    """The acting user, with the membership checked again in the request's own transaction."""
    caller = token_caller(request)
    return caller.verified(await organizations.role_in(db_session, caller.user_id, caller.organization_id))


def query_constraints(wire: Any) -> Any:
    """A body string type's constraints for a query parameter: ``FromQuery`` drops msgspec's ``Meta``."""
    meta = next(m for m in get_args(wire) if isinstance(m, msgspec.Meta))
    return QueryParameter(min_length=meta.min_length, max_length=meta.max_length, pattern=meta.pattern)


# Query-string filters: the same rules as in bodies (instants: ``FromQuery[AwareDatetime]`` suffices).
NameQuery = Annotated[str | None, query_constraints(Name)]
LanguageQuery = Annotated[str | None, query_constraints(Language)]

# Dependency markers for handlers; SkipValidation: these are our own objects, not input to check.
DbSession = NamedDependency[AsyncSession]
CurrentActor = NamedDependency[SkipValidation[Actor]]
