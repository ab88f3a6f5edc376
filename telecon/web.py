"""HTTP plumbing shared by every domain's routes: request limits, default headers, sessions, bearer tokens and
the acting user. Problem details are in ``telecon.problems``, client addresses in ``telecon.addresses``."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Annotated, Any, get_args

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AuthenticationResult
from litestar.params import QueryParameter, SkipValidation
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.types import Message, Scope
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Caller
from telecon.addresses import client_address
from telecon.clock import Clock
from telecon.errors import BadRequest
from telecon.schemas import Language, Name
from telecon.settings import Settings

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
