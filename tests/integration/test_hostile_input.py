"""Hostile and odd input over real HTTP: every one of these answered 500 (or worse) once; now 4xx problems."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.params import QueryParameter
from litestar.routes import HTTPRoute
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.app import create_app
from telecon.scheduling.models import Attendee, AttendeeKind
from telecon.schemas import MULTI_LINE, Strict
from telecon.settings import Settings
from tests.conftest import World, assert_problem, berlin, booking_body, login, next_weekday

PURPOSE = "Rückenschmerzen"


def booking(world: World, start: str, **extra: Any) -> dict[str, Any]:
    return booking_body(world, start, purpose=PURPOSE, **extra)


async def book(client: httpx.AsyncClient, world: World, headers: dict[str, str], **extra: Any) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/consultations", json=booking(world, berlin(next_weekday(0), 9), **extra), headers=headers
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def error_fields(body: dict[str, Any]) -> set[str | None]:
    return {body.get("field")} | {e.get("field") for e in body.get("errors", [])}


# --- the route table, introspected ----------------------------------------------------------------------


def operations(app: Litestar) -> Iterator[tuple[str, str, Any, set[str]]]:
    """(method, path with its parameters filled in, handler, path parameter names) for every operation."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/schema"):
            continue
        path = route.path
        for parameter in route.path_parameters.values():
            filled = str(uuid.UUID(int=1)) if parameter.type is uuid.UUID else "x"
            path = path.replace("{" + parameter.full + "}", filled)
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods):
                yield method, path, handler, set(route.path_parameters)


def body_struct(handler: Any) -> type[Strict] | None:
    data = handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return None
    for candidate in (data, *data.inner_types):
        if isinstance(candidate.annotation, type) and issubclass(candidate.annotation, Strict):
            return candidate.annotation
    return None


def string_fields(info: msgspec.inspect.Type, path: str = "") -> Iterator[tuple[str, Any, msgspec.inspect.StrType]]:
    """(error path, a JSON value that puts a placeholder string there, the string type) for every string."""
    if isinstance(info, msgspec.inspect.Metadata):
        yield from string_fields(info.type, path)
    elif isinstance(info, msgspec.inspect.StrType):
        yield path, None, info
    elif isinstance(info, msgspec.inspect.UnionType):
        for member in info.types:
            yield from string_fields(member, path)
    elif isinstance(info, msgspec.inspect.ListType):
        for inner_path, _, str_type in string_fields(info.item_type, f"{path}[0]"):
            yield inner_path, None, str_type
    elif isinstance(info, msgspec.inspect.StructType):
        for field in info.fields:
            yield from string_fields(field.type, f"{path}.{field.encode_name}" if path else field.encode_name)


def placed(path: str, value: str) -> Any:
    """The smallest JSON body that carries ``value`` at ``path`` (``guests[0].name``)."""
    head, _, rest = path.partition(".")
    name, _, index = head.partition("[")
    inner: Any = placed(rest, value) if rest else value
    return {name: [inner] if index else inner}


def body_cases() -> list[tuple[str, str, str, str]]:
    """(method, path, field path, pattern) for every string in every request body."""
    cases = []
    for method, path, handler, _ in operations(create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))):
        if (struct := body_struct(handler)) is not None:
            for field_path, _, str_type in string_fields(msgspec.inspect.type_info(struct)):
                cases.append((method, path, field_path, str_type.pattern or ""))
    return cases


def query_cases() -> list[tuple[str, str, str]]:
    """(method, path, name in the query string) for every string query parameter."""
    cases = []
    for method, path, handler, in_path in operations(create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))):
        for name, parameter in handler.parsed_fn_signature.parameters.items():
            kwarg = parameter.kwarg_definition
            if not isinstance(kwarg, QueryParameter) or name in in_path:
                continue
            if str in (parameter.annotation, *(t.annotation for t in parameter.inner_types)):
                cases.append((method, path, kwarg.name or name))
    return cases


BODY_CASES = body_cases()
QUERY_CASES = query_cases()


# --- 1. nesting depth and body size -------------------------------------------------------------------


async def test_json_nested_a_thousand_deep_is_a_400_problem(client: httpx.AsyncClient, world: World) -> None:
    deep = b'{"email": ' + b"[" * 1000 + b"]" * 1000 + b', "password": "x"}'
    response = await client.post("/api/v1/auth/login", content=deep, headers={"content-type": "application/json"})
    body = assert_problem(response, 400)
    assert "nests deeper" in body["detail"]
    coach = await login(client, world.coach)
    nested = b'{"text": "a", "x": ' + b"{" * 200 + b"}" * 200 + b"}"
    note = await client.post(
        f"/api/v1/participants/{world.participant_id}/notes",
        content=nested,
        headers={**coach, "content-type": "application/json"},
    )
    assert_problem(note, 400)
    # Brackets inside strings are text, not nesting.
    bracketed = await client.post(
        f"/api/v1/participants/{world.participant_id}/notes", json={"text": "[" * 500 + "{" * 500}, headers=coach
    )
    assert bracketed.status_code == 201, bracketed.text


async def test_a_body_larger_than_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    huge = json.dumps({"email": "a@b.cd", "password": "x" * 300_000}).encode()
    response = await client.post("/api/v1/auth/login", content=huge, headers={"content-type": "application/json"})
    assert_problem(response, 413)


# --- 2. control characters ------------------------------------------------------------------------------


def test_every_string_of_every_request_body_has_a_pattern() -> None:
    """A new string field without one of ``telecon.schemas``' types fails here."""
    assert len(BODY_CASES) >= 20
    missing = [(m, p, f) for m, p, f, pattern in BODY_CASES if not pattern]
    assert missing == []


async def test_a_control_character_in_any_body_string_is_a_422_naming_it(
    client: httpx.AsyncClient, world: World
) -> None:
    """Each string of each body (found by introspection) gets NUL, ESC, DEL and, unless multi-line, CR/LF."""
    admin = await login(client, world.admin)
    wrong = []
    for method, path, field, pattern in BODY_CASES:
        headers = {} if path == "/api/v1/auth/login" else admin
        for value in ("a\x00b", "a\x1bb", "a\x7fb") + (() if pattern == MULTI_LINE else ("a\r\nBcc: x@y.zz",)):
            response = await client.request(method, path, json=placed(field, value), headers=headers)
            body = response.json()
            if response.status_code != 422 or field not in error_fields(body):
                wrong.append((method, path, field, value, response.status_code, body))
    assert wrong == []


def test_the_string_query_filters_are_found() -> None:
    assert {(p, n) for _, p, n in QUERY_CASES} >= {
        ("/api/v1/audit-events", "action"),
        ("/api/v1/specialists", "language"),
        ("/fhir/Appointment", "patient"),
        ("/fhir/Appointment", "_count"),
    }


async def test_a_control_character_in_any_query_string_is_a_422_naming_it(
    client: httpx.AsyncClient, world: World
) -> None:
    admin = await login(client, world.admin)
    for method, path, name in QUERY_CASES:
        for value in ("a\x00b", "a\nb", "a\n"):
            response = await client.request(method, path, params={name: value}, headers=admin)
            if path.startswith("/fhir/"):  # a FHIR server's answer: a 400 OperationOutcome naming the parameter
                assert response.status_code == 400, response.text
                assert response.json()["issue"][0]["expression"] == [name], (path, name)
                continue
            body = assert_problem(response, 422)
            assert name in error_fields(body), (path, name, body)
            assert body["errors"][0]["source"] == "query"


async def test_control_characters_are_refused_where_postgresql_would_fail(
    client: httpx.AsyncClient, world: World
) -> None:
    """The list of the original report, with otherwise valid bodies: 422 on SQLite and PostgreSQL alike."""
    admin, coach = await login(client, world.admin), await login(client, world.coach)
    participant = {"display_name": "Maria", "email": "m@example.org", "case_reference": "AZ-1"}
    for field in participant:
        bad = participant | {field: participant[field] + "\x00"}
        assert_problem(await client.post("/api/v1/participants", json=bad, headers=coach), 422, field)
    pid = world.participant_id
    note = await client.post(f"/api/v1/participants/{pid}/notes", json={"text": "a\x00"}, headers=coach)
    assert_problem(note, 422, "text")
    consent = {"kind": "email_contact", "granted": True, "evidence": "signed\x00"}
    assert_problem(
        await client.post(f"/api/v1/participants/{pid}/consents", json=consent, headers=coach), 422, "evidence"
    )
    kind = {"name": "Erst\x00gespräch", "duration_minutes": 30}
    assert_problem(await client.post("/api/v1/consultation-types", json=kind, headers=admin), 422, "name")
    user = {"email": "new@example.org", "password": "long enough password", "display_name": "Neu\x00", "role": "coach"}
    assert_problem(await client.post("/api/v1/users", json=user, headers=admin), 422, "display_name")
    booked = await book(client, world, coach)
    cancel = await client.post(
        f"/api/v1/consultations/{booked['id']}/cancel", json={"reason": "krank\x00"}, headers=coach
    )
    assert_problem(cancel, 422, "reason")
    audit = await client.get("/api/v1/audit-events", params={"action": "consultation.\x00"}, headers=admin)
    assert_problem(audit, 422, "action")
    login_nul = await client.post("/api/v1/auth/login", json={"email": "coach\x00@test.invalid", "password": "x"})
    assert_problem(login_nul, 422, "email")
    # Multi-line text keeps its line breaks and tabs.
    lines = await client.post(f"/api/v1/participants/{pid}/notes", json={"text": "eins\r\n\tzwei"}, headers=coach)
    assert lines.status_code == 201, lines.text
    assert lines.json()["text"] == "eins\r\n\tzwei"


async def test_the_problem_says_in_words_what_is_wrong(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    response = await client.post("/api/v1/participants", json={"display_name": "Maria\nBcc: x"}, headers=coach)
    body = assert_problem(response, 422, "display_name")
    assert body["errors"][0]["message"] == "must be a single line without control characters"
    assert "regex" not in response.text


# --- 3. instants in a sane range ------------------------------------------------------------------------

FAR = ["0001-01-01T00:00:00+00:00", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:59Z"]


async def test_instants_far_away_are_a_422_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    coach, admin = await login(client, world.coach), await login(client, world.admin)
    existing = await book(client, world, coach)
    for instant in FAR:
        await assert_far_instant_refused(client, world, coach, admin, existing["id"], instant)


async def assert_far_instant_refused(
    client: httpx.AsyncClient, world: World, coach: dict[str, str], admin: dict[str, str], booked: str, instant: str
) -> None:
    soon = berlin(next_weekday(0), 9)
    slots = await client.get(
        "/api/v1/slots",
        params={
            "specialist_id": str(world.specialist_id),
            "consultation_type_id": str(world.type_id),
            "start": instant,
            "end": soon,
        },
        headers=coach,
    )
    assert_problem(slots, 422, "start")
    listed = await client.get("/api/v1/consultations", params={"end": instant}, headers=coach)
    assert_problem(listed, 422, "end")
    audit = await client.get("/api/v1/audit-events", params={"before": instant}, headers=admin)
    assert_problem(audit, 422, "before")
    overrides = await client.get(
        f"/api/v1/specialists/{world.specialist_id}/overrides", params={"start": soon, "end": instant}, headers=coach
    )
    assert_problem(overrides, 422, "end")
    override = await client.post(
        f"/api/v1/specialists/{world.specialist_id}/overrides",
        json={"start": instant, "end": soon, "kind": "absence"},
        headers=admin,
    )
    assert_problem(override, 422, "start")
    created = await client.post("/api/v1/consultations", json=booking(world, instant), headers=coach)
    assert_problem(created, 422, "start")
    moved = await client.post(f"/api/v1/consultations/{booked}/reschedule", json={"start": instant}, headers=coach)
    assert_problem(moved, 422, "start")


async def test_instants_from_a_request_are_answered_in_utc_like_all_others(
    client: httpx.AsyncClient, world: World
) -> None:
    coach = await login(client, world.coach)
    start = berlin(next_weekday(0), 9)
    booked = await book(client, world, coach)
    later = berlin(next_weekday(0), 10)
    moved = await client.post(f"/api/v1/consultations/{booked['id']}/reschedule", json={"start": later}, headers=coach)
    assert moved.status_code == 200, moved.text

    def utc(instant: str) -> str:
        return datetime.fromisoformat(instant).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert booked["start"] == utc(start)
    assert moved.json()["start"] == utc(later)
    assert moved.json()["end"].endswith("Z")


async def test_a_time_without_offset_is_still_refused_in_body_and_query(
    client: httpx.AsyncClient, world: World
) -> None:
    coach = await login(client, world.coach)
    body = assert_problem(
        await client.post("/api/v1/consultations", json=booking(world, "2031-03-03T09:00:00"), headers=coach),
        422,
        "start",
    )
    assert "timezone" in body["errors"][0]["message"]
    assert_problem(
        await client.get("/api/v1/consultations", params={"start": "2031-03-03T09:00"}, headers=coach), 422, "start"
    )
    ok = await client.get("/api/v1/consultations", params={"start": "2031-03-03T09:00:00Z"}, headers=coach)
    assert ok.status_code == 200, ok.text


# --- 4. time zones -------------------------------------------------------------------------------------


async def test_a_huge_or_unknown_time_zone_is_a_422_and_never_logged(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    admin, specialist = await login(client, world.admin), await login(client, world.specialist)
    huge = "Europe/" + "B" * 5000
    user = {"email": "neu@example.org", "password": "long enough password", "display_name": "Neu", "role": "coach"}
    with caplog.at_level(logging.DEBUG):
        for zone in (huge, "Mars/Olympus_Mons", "../../etc/passwd", "Europe/Berlin\x00", "europe/berlin"):
            response = await client.post("/api/v1/users", json=user | {"timezone": zone}, headers=admin)
            assert_problem(response, 422, "timezone")
            assert huge not in response.text
            availability = await client.put(
                f"/api/v1/specialists/{world.specialist_id}/availability",
                json={"timezone": zone, "weekly": []},
                headers=specialist,
            )
            assert_problem(availability, 422, "timezone")
    assert not any("BBBBBBBB" in record.getMessage() for record in caplog.records)
    created = await client.post(
        "/api/v1/users", json=user | {"timezone": "America/Argentina/Buenos_Aires"}, headers=admin
    )
    assert created.status_code == 201, created.text


# --- 5. JSON inside HTML ---------------------------------------------------------------------------------


class ScriptElements(HTMLParser):
    """The text of each ``<script id=…>`` as an HTML parser sees it."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: dict[str, str] = {}
        self._current: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self._current = dict(attrs).get("id") or ""
            self.scripts[self._current] = ""

    def handle_data(self, data: str) -> None:
        if self._current is not None:
            self.scripts[self._current] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._current = None


@pytest.mark.parametrize("name", ["</script><!--<script>", "<!--<script>x", "Ayşe & <b>Ünal</b> ]]> \u2028"])
async def test_names_that_look_like_html_stay_inside_the_join_pages_json(
    client: httpx.AsyncClient, world: World, name: str
) -> None:
    coach = await login(client, world.coach)
    created = await client.post("/api/v1/participants", json={"display_name": name}, headers=coach)
    assert created.status_code == 201, created.text
    participant_id = created.json()["id"]
    consent = {"kind": "video_consultation", "granted": True}
    await client.post(f"/api/v1/participants/{participant_id}/consents", json=consent, headers=coach)
    booked = await book(client, world, coach, participant_id=participant_id, guests=[{"name": name}])
    for attendee in booked["attendees"]:
        if attendee["kind"] not in ("participant", "guest"):
            continue
        page = await client.get("/join/" + attendee["join_url"].rsplit("/", 1)[1])
        assert page.status_code == 200, page.text
        raw = page.text.split('<script type="application/json" id="join-config">', 1)[1].split("</script>", 1)[0]
        # No "<" at all: neither "</script>" nor "<!--" + "<script" can change how a browser splits the page.
        assert not {"<", ">", "&"} & set(raw)
        assert json.loads(raw)["displayName"] == name
        parsed = ScriptElements()
        parsed.feed(page.text)
        assert json.loads(parsed.scripts["join-config"])["displayName"] == name
        assert "countdown" in json.loads(parsed.scripts["join-texts"])


# --- 6. headers -------------------------------------------------------------------------------------------


def assert_private(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store", response.headers
    assert response.headers["x-content-type-options"] == "nosniff", response.headers


async def test_every_answer_is_private_and_unsniffable(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    assert_private(await client.get("/api/v1/me", headers=coach))
    assert_private(await client.post("/api/v1/auth/login", json={"email": world.coach, "password": "wrong"}))
    assert_private(await client.get("/api/v1/me"))  # 401 problem
    assert_private(await client.get("/api/v1/nothing-here"))  # 404 problem
    assert_private(await client.post("/api/v1/participants", json={"x": 1}, headers=coach))  # 422 problem
    assert_private(await client.get("/api/v1/join/unknown-token"))
    booked = await book(client, world, coach)
    link = next(a["join_url"] for a in booked["attendees"] if a["kind"] == "participant")
    token = link.rsplit("/", 1)[1]
    assert_private(await client.get(f"/api/v1/join/{token}"))
    page = await client.get(f"/join/{token}")
    assert_private(page)
    assert page.headers.get_list("cache-control") == ["no-store"]  # the page's own, not a second one
    assert page.headers["content-type"] == "text/html; charset=utf-8"


# --- 7. friendly pages -------------------------------------------------------------------------------------


async def test_an_unknown_join_link_shows_a_page_in_the_browsers_language(client: httpx.AsyncClient) -> None:
    german = await client.get("/join/no-such-token")
    assert german.status_code == 404
    assert german.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="de">' in german.text
    assert "Dieser Link funktioniert nicht" in german.text
    assert_private(german)
    assert "default-src 'none'" in german.headers["content-security-policy"]
    english = await client.get("/join/no-such-token", headers={"Accept-Language": "fr-FR, en;q=0.8, de;q=0.5"})
    assert english.status_code == 404
    assert '<html lang="en">' in english.text
    assert "This link does not work" in english.text
    # The API keeps answering problems.
    assert_problem(await client.get("/api/v1/join/no-such-token"), 404)


async def test_a_withdrawn_join_link_shows_a_page_in_the_persons_language(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    coach = await login(client, world.coach)
    booked = await book(client, world, coach)
    participant = next(a for a in booked["attendees"] if a["kind"] == "participant")
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Attendee)
            .where(Attendee.id == uuid.UUID(participant["id"]))
            .values(revoked_at=datetime.now(UTC), language="en")
        )
    page = await client.get("/join/" + participant["join_url"].rsplit("/", 1)[1], headers={"Accept-Language": "de"})
    assert page.status_code == 404
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="en">' in page.text
    assert "This link is no longer valid" in page.text
    async with sessionmaker() as session:
        kinds = set((await session.scalars(select(Attendee.kind).where(Attendee.revoked_at.is_not(None)))).all())
    assert kinds == {AttendeeKind.participant}


async def test_the_start_page_leads_to_sign_in_which_names_the_product_and_links_the_api(
    client: httpx.AsyncClient,
) -> None:
    start = await client.get("/")
    assert (start.status_code, start.headers["location"]) == (303, "/login")
    page = await client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "telecon" in page.text
    assert 'href="/schema"' in page.text
    english = await client.get("/login", headers={"Accept-Language": "en"})
    assert "video consultation" in english.text


# --- 8. small wire bugs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, {}, {"reason": None}, {"reason": "krank"}])
async def test_cancel_needs_no_body(client: httpx.AsyncClient, world: World, body: dict[str, Any] | None) -> None:
    coach = await login(client, world.coach)
    booked = await book(client, world, coach)
    response = await client.post(f"/api/v1/consultations/{booked['id']}/cancel", json=body, headers=coach)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_reason"] == (body or {}).get("reason")


async def test_a_reused_idempotency_key_is_a_header_problem(client: httpx.AsyncClient, world: World) -> None:
    coach = await login(client, world.coach)
    key = {**coach, "Idempotency-Key": "booking-1"}
    first = await client.post("/api/v1/consultations", json=booking(world, berlin(next_weekday(0), 9)), headers=key)
    assert first.status_code == 201, first.text
    other = await client.post("/api/v1/consultations", json=booking(world, berlin(next_weekday(1), 9)), headers=key)
    body = assert_problem(other, 422, "Idempotency-Key")
    assert body["errors"] == [{"field": "Idempotency-Key", "source": "header", "message": body["detail"]}]
