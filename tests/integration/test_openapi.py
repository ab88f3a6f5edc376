"""The API description tells the truth: a valid document, every route in it, every error as it is really sent.

What each route may answer to whom is checked against real requests in ``test_authorization_matrix.py``;
schemathesis (``.ci/schemathesis.sh``) checks the answers of generated requests against this document.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import jsonschema
import pytest
from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from openapi_spec_validator import validate

from telecon.app import create_app
from telecon.settings import Settings
from tests.conftest import assert_problem

# Served by the app but not API operations: the HTML join page, the viewer and its assets.
# Pages for people and the calendar feed for calendar apps, not API operations.
NOT_IN_SCHEMA = {
    "GET /join/{token}",
    "GET /calendar/{token}",
    # The staff web pages (telecon/ui).
    "GET /",
    "GET /login",
    "POST /login",
    "POST /logout",
    "POST /language",
    "GET /organization",
    "POST /organization",
    "GET /coach",
    "GET /specialist",
    # The booking pages (telecon/ui/booking.py).
    "GET /book",
    "POST /book",
    "GET /consultations/{consultation_id}",
    "POST /consultations/{consultation_id}/cancel",
    "POST /consultations/{consultation_id}/reschedule",
    # The participant pages (telecon/ui/participants.py).
    "GET /participants",
    "GET /participants/new",
    "POST /participants/new",
    "GET /participants/{participant_id}",
    "POST /participants/{participant_id}/consents",
    "POST /participants/{participant_id}/notes",
    "GET /participants/{participant_id}/edit",
    "POST /participants/{participant_id}/edit",
    # The printable instruction sheet (telecon/ui/sheet.py).
    "GET /consultations/{consultation_id}/sheet",
    # The specialist's availability page (telecon/ui/availability.py).
    "GET /availability",
    "POST /availability",
    "POST /availability/absences",
    # The admin's pages (telecon/ui/admin.py).
    "GET /admin/users",
    "POST /admin/users",
    "POST /admin/users/{user_id}/deactivate",
    "POST /admin/users/{user_id}/reactivate",
    "POST /admin/users/{user_id}/end",
    "GET /admin/consultation-types",
    "POST /admin/consultation-types",
    "GET /admin/webhooks",
    "POST /admin/webhooks",
    "POST /admin/webhooks/{webhook_id}/delete",
    "GET /admin/audit",
    "POST /availability/extra",
    "POST /availability/calendar",
    "POST /availability/calendar/sync",
    "POST /availability/calendar/delete",
    "POST /availability/overrides/{override_id}/delete",
    # The specialist's pages (telecon/ui/specialist.py).
    "GET /consultations/{consultation_id}/outcome",
    "POST /consultations/{consultation_id}/outcome",
    "GET /consultations/{consultation_id}/outcome/versions",
    "GET /specialist/notes",
    "GET /specialist/calendar-feed",
    "POST /specialist/calendar-feed",
    "POST /specialist/calendar-feed/revoke",
}
# The waitlist page (telecon/ui/waitlist.py).
NOT_IN_SCHEMA |= {
    "GET /waitlist",
    "POST /waitlist",
    "POST /waitlist/{entry_id}/confirm",
    "POST /waitlist/{entry_id}/withdraw",
}
NOT_IN_SCHEMA_PREFIXES = ("/schema", "/static")
PUBLIC = {
    "POST /api/v1/auth/login",
    "GET /api/v1/join/{token}",
    "PUT /api/v1/join/{token}/outcome",
    "GET /health",
    "GET /ready",
}
FORBIDDEN_BY_CREDENTIAL = {"PUT /api/v1/join/{token}/outcome"}
"""Routes without roles that still answer 403: the credential (a join link) is valid but not the right one."""
FORBIDDEN_BY_CREDENTIAL |= {"GET /fhir/Appointment"}
"""Open to every role, but a specialist may not search by case reference (only admins and coaches read
participants): the parameter, not the route, needs the role."""
FHIR_MEDIA_TYPE = "application/fhir+json; fhirVersion=4.0"


def is_fhir(key: str) -> bool:
    """The FHIR routes answer errors as OperationOutcome resources, and a bad parameter with 400 (not 422)."""
    return key.split(" ")[1].startswith("/fhir/")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    """An app that is never started: the document needs no database."""
    path = tmp_path_factory.mktemp("openapi")
    return create_app(Settings(database_url=f"sqlite+aiosqlite:///{path}/unused.db", mail_dir=path / "mail"))


@pytest.fixture(scope="module")
def document(app: Litestar) -> dict[str, Any]:
    return app.openapi_schema.to_schema()


def handlers(app: Litestar) -> dict[str, tuple[HTTPRoute, HTTPRouteHandler]]:
    """Every HTTP route of the app as ``"METHOD /path/{param}"``."""
    found = {}
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for method, (handler, _) in route.route_handler_map.items():
                if method not in ("HEAD", "OPTIONS"):
                    found[f"{method} {route.path_format}"] = (route, handler)
    return found


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "patch", "delete")
    }


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["description"]


def test_every_route_is_documented_and_nothing_else(app: Litestar, document: dict[str, Any]) -> None:
    routes = {key for key in handlers(app) if not key.split(" ")[1].startswith(NOT_IN_SCHEMA_PREFIXES)}
    assert set(operations(document)) == routes - NOT_IN_SCHEMA
    # About 30 operations today; a wrong filter above must not make this pass on nothing.
    assert len(routes) > 25
    assert {"GET /health", "GET /ready"} <= set(operations(document))


def test_every_operation_has_a_summary_and_a_description(app: Litestar, document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        _, handler = handlers(app)[key]
        assert handler.fn.__doc__, f"{key}: the handler needs a docstring (its first line is the summary)"
        summary = operation.get("summary", "")
        assert " " in summary, f"{key}: {summary!r} is the function's name, not a summary"
        assert len(summary) < 120, key
        # The description is the docstring's body plus the generated access note, not the note alone.
        assert len(operation.get("description", "").split("\n\n")) >= 2, f"{key}: the docstring needs a body"
        assert operation.get("tags"), key


def test_security_is_stated_per_operation(document: dict[str, Any]) -> None:
    assert "security" not in document  # no global requirement: public routes must not look protected
    assert document["components"]["securitySchemes"]["BearerToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for key, operation in operations(document).items():
        if key in PUBLIC:
            assert not operation.get("security"), key
            assert "Public" in operation["description"], key
        else:
            assert operation["security"] == [{"BearerToken": []}], key
            assert "401" in operation["responses"], key


def test_documented_statuses_follow_the_route_table(app: Litestar, document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        route, handler = handlers(app)[key]
        statuses = set(operation["responses"])
        assert "500" in statuses, key
        if route.path_parameters:
            assert "404" in statuses, key
        if handler.opt.get("roles"):
            assert "403" in statuses, key
            roles = {getattr(r, "value", r) for r in handler.opt["roles"]}
            assert all(role in operation["description"] for role in roles), key
        else:
            assert ("403" in statuses) == (key in FORBIDDEN_BY_CREDENTIAL), key
        if "requestBody" in operation:
            assert {"400", "422"} <= statuses, key
        if any(p["in"] == "query" for p in operation.get("parameters", [])):
            assert ("400" if is_fhir(key) else "422") in statuses, key
        successes = [s for s in statuses if s.startswith("2")]
        assert successes, key


def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["ProblemDetails"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert {"detail", "field", "errors"} <= set(problem["properties"])
    field_error = document["components"]["schemas"]["FieldError"]
    assert set(field_error["properties"]) == {"field", "source", "message"}
    for key, operation in operations(document).items():
        if is_fhir(key):
            continue  # test_fhir_errors_are_documented_as_operation_outcomes
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == ["application/problem+json"], (key, status)
                assert response["content"]["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/ProblemDetails"
                }, (key, status)
                assert response["description"], (key, status)
                assert "status_code" not in str(response), (key, status)  # Litestar's own error shape
                if status == "429":
                    assert response["headers"]["Retry-After"]["schema"] == {"type": "integer"}, key


def test_fhir_errors_are_documented_as_operation_outcomes(document: dict[str, Any]) -> None:
    fhir = {key: operation for key, operation in operations(document).items() if is_fhir(key)}
    assert set(fhir) == {"GET /fhir/Appointment", "GET /fhir/Appointment/{appointment_id}"}
    outcome = document["components"]["schemas"]["OperationOutcome"]
    assert set(outcome["required"]) == {"resourceType", "issue"}
    for key, operation in fhir.items():
        assert operation["tags"] == ["fhir"], key
        for status, response in operation["responses"].items():
            assert list(response["content"]) == [FHIR_MEDIA_TYPE], (key, status)
            if int(status) >= 400:
                schema = response["content"][FHIR_MEDIA_TYPE]["schema"]
                assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, (key, status)
                assert response["description"], (key, status)
        assert "422" not in operation["responses"], key


def problem_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The ProblemDetails schema, its references resolvable, for jsonschema."""
    return {"$ref": "#/components/schemas/ProblemDetails", "components": document["components"]}


async def test_real_errors_match_the_documented_schema(client: httpx.AsyncClient) -> None:
    served = (await client.get("/schema/openapi.json")).json()
    validate(served)
    schema = problem_schema(served)
    answers = [
        await client.get("/api/v1/me"),  # 401 from the token check
        await client.post("/api/v1/auth/login", json={"email": "x@test.invalid", "password": "y"}),  # 401
        await client.post("/api/v1/auth/login", content=b"{", headers={"content-type": "application/json"}),  # 400
        await client.post("/api/v1/auth/login", json={"email": 1}),  # 422 with errors
        await client.get("/api/v1/join/unknown-token"),  # 404 with field
    ]
    for response, status in zip(answers, (401, 401, 400, 422, 404), strict=True):
        body = assert_problem(response, status)
        jsonschema.validate(body, schema)
        documented = served["paths"][_template(served, response.request.url.path)]
        assert str(status) in documented[response.request.method.lower()]["responses"]


def _template(document: dict[str, Any], path: str) -> str:
    for template in document["paths"]:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return template
    raise AssertionError(f"{path} is not documented")


# --- the viewer ---------------------------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


async def test_the_viewer_loads_only_assets_the_app_serves(client: httpx.AsyncClient) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    parser = _Links()
    parser.feed(page.text)
    assert len(parser.urls) >= 4  # favicon, stylesheet, two scripts
    origin = urlsplit(str(page.url)).netloc
    for url in parser.urls:
        absolute = urlsplit(urljoin(str(page.url), url))
        assert absolute.netloc == origin, f"{url} is loaded from another origin"
        asset = await client.get(absolute.path)
        assert asset.status_code == 200, url
        assert len(asset.content) > 100, url
    assert not re.search(r"https?://(?!www\.w3\.org/)", page.text.split("<body>")[0]), "an external URL in <head>"
    # Every asset is in the package, with its licence beside it.
    vendor = Path(__file__).parents[2] / "telecon" / "static" / "vendor" / "swagger-ui"
    assert (vendor / "LICENSE").exists()
    styles = await client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert styles.headers["content-type"].startswith("text/css")
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", styles.text), "the stylesheet loads from elsewhere"


def test_request_bodies_document_what_they_refuse(document: dict[str, Any]) -> None:
    """Unknown fields answer 422, so the schemas say ``additionalProperties: false``; list items keep patterns."""
    schemas = document["components"]["schemas"]
    bodies = {
        ref["$ref"].rsplit("/", 1)[1]
        for operation in operations(document).values()
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if "$ref" in (ref := media["schema"])
    }
    assert len(bodies) > 8
    for name in bodies:
        assert schemas[name].get("additionalProperties") is False, name
    languages = schemas["UserCreate"]["properties"]["languages"]["items"]
    assert languages["pattern"]
    assert languages["maxLength"] == 16
