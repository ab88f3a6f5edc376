"""The API description at ``/schema``: each operation's errors, security, texts and tags, derived in one place.

A route declares only what cannot be read off the route table:

- ``opt={"public": True}``: no bearer token (the same key exempts the route from the token check);
- ``opt={"roles": (...)}``: the roles that may call it, passed the same tuple the service enforces;
- ``responses=problems({409: "why"})``: errors particular to the route, and their reasons;
- a docstring: its first line is the summary, the rest the description.

Everything else follows from the route: 401 wherever a token is needed, 403 where roles are named, 404 for
the objects named in the path, 400 where a JSON body is read, 422 where a body or parameters are validated,
and 500 everywhere. Every error is RFC 9457 ``application/problem+json`` with the ``ProblemDetails`` schema,
except on the FHIR routes (``opt={"fhir": True}``): there errors are ``OperationOutcome`` resources in
``application/fhir+json`` and a bad parameter is a 400, as FHIR clients expect.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Router
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar._openapi.schema_generation.schema import SchemaCreator
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIFormat,
    OpenAPIHeader,
    OpenAPIResponse,
    Operation,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.typing import FieldDefinition

from telecon.problems import FHIR_JSON, FHIR_MEDIA_TYPE, PROBLEM_JSON
from telecon.schemas import AwareDatetime

BEARER = "BearerToken"
STATIC_DIR = Path(__file__).parent / "static"
STATIC_PATH = "/static"
SWAGGER_UI = f"{STATIC_PATH}/vendor/swagger-ui"

# Handler parameters that are not read from the request's query, path or headers.
_NOT_PARAMETERS = frozenset({"request", "state", "data", "scope", "headers", "cookies", "query", "body"})
# The part of the route's module path that names its tag in the viewer.
_TAGS = {"telecon.app": "service"}


class FieldError(msgspec.Struct):
    field: str | None
    """The field's name, dotted into nested objects; null when the request as a whole is wrong."""
    source: str
    """Where the field was read from: body, query, path or header."""
    message: str


class ProblemDetails(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details: the body of every error this API answers."""

    type: str
    """``about:blank`` or a URI naming the kind of problem."""
    title: str
    status: int
    detail: str | msgspec.UnsetType = msgspec.UNSET
    """What went wrong, for a person."""
    field: str | msgspec.UnsetType = msgspec.UNSET
    """The one field the problem is about, when there is one."""
    errors: list[FieldError] | msgspec.UnsetType = msgspec.UNSET
    """Every invalid field of a validation problem."""


class OutcomeIssue(msgspec.Struct, omit_defaults=True):
    severity: str
    """``fatal`` or ``error``; ``warning`` inside a search Bundle."""
    code: str
    """The R4 IssueType code: ``invalid``, ``login``, ``forbidden``, ``not-found``, ``exception``, …"""
    diagnostics: str | msgspec.UnsetType = msgspec.UNSET
    expression: list[str] | msgspec.UnsetType = msgspec.UNSET
    """The search parameter at fault, e.g. ``date``."""


class OperationOutcome(msgspec.Struct, rename={"resource_type": "resourceType"}):
    """A FHIR R4 OperationOutcome: the body of every error of ``/fhir``."""

    resource_type: str
    """Always ``OperationOutcome``."""
    issue: list[OutcomeIssue]


def outcomes(reasons: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """Error responses of a FHIR route: status to the reason it happens."""
    return {
        status: ResponseSpec(
            data_container=OperationOutcome, description=reason, media_type=FHIR_MEDIA_TYPE, generate_examples=False
        )
        for status, reason in reasons.items()
    }


def problems(reasons: Mapping[int, str]) -> dict[int, ResponseSpec]:
    """Problem responses for a route decorator's ``responses=``: status to the reason it happens."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails, description=reason, media_type=PROBLEM_JSON, generate_examples=False
        )
        for status, reason in reasons.items()
    }


RETRY_AFTER = OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="Seconds to wait before retrying.")


@dataclass
class ProblemOperation(Operation):
    """Drops the error responses Litestar adds on its own (a JSON body this API never sends); sorts by status.

    A 429 also documents its ``Retry-After`` header, which ``ResponseSpec`` cannot state.
    """

    def __post_init__(self) -> None:
        if self.responses:
            self.responses = {
                status: response
                for status, response in sorted(self.responses.items())
                if int(status) < 400 or _documented_error(response)
            }
            too_many = self.responses.get("429")
            if isinstance(too_many, OpenAPIResponse):
                too_many.headers = {"Retry-After": RETRY_AFTER}


def _documented_error(response: Any) -> bool:
    content = getattr(response, "content", None) or {}
    return PROBLEM_JSON in content or any(media.startswith(FHIR_JSON) for media in content)


class ClosedStructs(StructSchemaPlugin):
    """Request bodies document what they refuse: unknown fields, and constraints on the strings of a list.

    Litestar documents every msgspec Struct as open (``forbid_unknown_fields`` becomes
    ``additionalProperties: false`` here) and drops the constraints of ``list[Annotated[str, Meta(...)]]``
    items (``list[Language]`` would accept any string on paper).
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            getattr(msgspec.inspect.type_info(field_definition.type_), "forbid_unknown_fields", False)
        )

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        info = msgspec.inspect.type_info(field_definition.type_)
        for field in getattr(info, "fields", ()):
            item = getattr(field.type, "item_type", None)
            target = (schema.properties or {}).get(field.encode_name)
            if (
                isinstance(item, msgspec.inspect.StrType)
                and isinstance(target, Schema)
                and isinstance(target.items, Schema)
            ):
                target.items.pattern = target.items.pattern or item.pattern
                target.items.min_length = target.items.min_length or item.min_length
                target.items.max_length = target.items.max_length or item.max_length
        return schema


def openapi_config() -> OpenAPIConfig:
    """The document at /schema/openapi.json and the Swagger UI at /schema, its assets served by the app."""
    return OpenAPIConfig(
        title="telecon",
        version="1",
        description=(
            "Video consultations for the health-and-work projects of German job centres. Staff log in with "
            "`POST /api/v1/auth/login` and send the token as `Authorization: Bearer <token>`; participants and "
            "specialists open their consultation through their personal join link, without an account. Every "
            "error is RFC 9457 `application/problem+json`; another organization's objects answer 404."
        ),
        path="/schema",
        components=Components(
            security_schemes={BEARER: SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
        ),
        render_plugins=[
            SwaggerRenderPlugin(
                js_url=f"{SWAGGER_UI}/swagger-ui-bundle.js",
                css_url=f"{SWAGGER_UI}/swagger-ui.css",
                standalone_preset_js_url=f"{SWAGGER_UI}/swagger-ui-standalone-preset.js",
                favicon=f"<link rel='icon' type='image/png' href='{SWAGGER_UI}/favicon-32x32.png'>",
            )
        ],
    )


def static_files() -> Router:
    """The app's own assets (the viewer's scripts and styles): no CDN, so a job centre's proxy cannot break them."""
    return create_static_files_router(
        path=STATIC_PATH, directories=[STATIC_DIR], opt={"public": True}, include_in_schema=False
    )


def describe(app: Litestar) -> None:
    """Complete every documented operation of ``app`` from its route; call once, before the first request.

    Works on the app's own copies of the handlers, so the module-level handlers stay as written.
    """
    if app.openapi_config is not None:
        app.openapi_config.security = None  # stated per operation: public routes need none
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_names = list(route.path_parameters)
        for handler in route.route_handlers:
            if handler.resolve_include_in_schema():
                _describe(handler, path_names)


def _describe(handler: HTTPRouteHandler, path_names: list[str]) -> None:
    public = bool(handler.opt.get("public"))
    fhir = bool(handler.opt.get("fhir"))
    roles = [getattr(r, "value", r) for r in handler.opt.get("roles", ())]
    standard = {
        status: reason
        for status, reason in _standard_reasons(handler, public=public, roles=roles, path_names=path_names, fhir=fhir)
        if reason
    }
    handler.responses = {**(outcomes if fhir else problems)(standard), **(handler.responses or {})}
    if not public:
        handler.security = [{BEARER: []}]
    summary, description = _texts(handler)
    handler.summary = handler.summary or summary
    if public:
        access = "Public: no token needed."
    elif roles:
        access = f"Needs a bearer token and the role {_either(roles)}."
    else:
        access = "Needs a bearer token; any role of the organization."
    handler.description = "\n\n".join(part for part in (handler.description or description, access) if part)
    if not handler.tags:
        module = handler.fn.__module__
        handler.tags = [_TAGS.get(module) or module.split(".")[1]]
    handler.operation_class = ProblemOperation


def _standard_reasons(
    handler: HTTPRouteHandler, *, public: bool, roles: list[str], path_names: list[str], fhir: bool = False
) -> Iterable[tuple[int, str | None]]:
    parameters = handler.parsed_fn_signature.parameters
    reads_body = "data" in parameters
    dependencies = handler.resolve_dependencies()
    # A path parameter that does not parse (a malformed id) matches no route: 404, not 422.
    reads_parameters = any(
        name not in _NOT_PARAMETERS and name not in dependencies and name not in path_names for name in parameters
    )
    if fhir:  # a FHIR server answers bad parameters with 400; the OperationOutcome's expression names them
        yield 400, "A search parameter is invalid or unknown: `expression` names it." if reads_parameters else None
    else:
        yield 400, "The body is not well-formed JSON." if reads_body else None
    yield 401, None if public else "No valid bearer token, or the login behind it has ended: log in again."
    yield 403, f"The caller's role may not do this: it needs the role {_either(roles)}." if roles else None
    names = " or ".join(f"`{name}`" for name in path_names)
    yield 404, f"No such {names} in the caller's organization; another organization's are not found." if names else None
    validated = (reads_body or reads_parameters) and not fhir
    yield 422, "A value is invalid: `errors` names each field and why." if validated else None
    yield 500, "Something went wrong on our side; nothing was saved."


def _texts(handler: HTTPRouteHandler) -> tuple[str | None, str | None]:
    """The docstring's first paragraph is the summary, the rest the description."""
    doc = inspect.getdoc(handler.fn)
    if not doc:
        return None, None
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip() or None


def _either(roles: Iterable[str]) -> str:
    names = list(roles)
    return " or ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " or " + names[-1]


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
