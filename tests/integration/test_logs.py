"""Logs: JSON lines with a request id on each, and nothing personal in them, through a whole consultation."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon import logs
from telecon.settings import Settings
from tests.conftest import (
    LiveServer,
    MovableClock,
    assert_problem,
    berlin,
    berlin_time,
    login,
    next_weekday,
    seed_world,
)

NAME = "Zyxw Plantname"
EMAIL = "planted.address@example.org"
PURPOSE = "PLANTED-PURPOSE-9931"
SUMMARY = "PLANTED-SUMMARY-5520"
NOTES = "PLANTED-NOTES-7714"
RECOMMENDATION = "PLANTED-RECOMMENDATION-6618"
CASE_REFERENCE = "PLANTED-CASE-4242"


class Lines(logging.Handler):
    """Keeps every record as the production formatter writes it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logs.JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith(("httpx", "httpcore")):  # the test's own client, not the service
            self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Lines]:
    """Every logger's records at INFO and above (DEBUG for SQLAlchemy's pool), as ``telecon serve`` logs them."""
    logs.install_record_factory()
    handler = Lines()
    root = logging.getLogger()
    # uvicorn's loggers as `logs.configure` leaves them for `telecon serve` (no handlers, propagating to the root),
    # whatever another test's server (uvicorn's own logging configuration: "uvicorn" keeps its records) made of
    # them before; put back afterwards.
    uvicorn_loggers = [logging.getLogger(name) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(lg, lg.propagate, list(lg.handlers)) for lg in uvicorn_loggers]
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for lg in uvicorn_loggers:
        lg.handlers.clear()
        lg.propagate = True
    logs.redact_access_log()
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for lg, propagate, handlers in saved:
            lg.propagate = propagate
            lg.handlers[:] = handlers


async def _a_whole_consultation(
    client: httpx.AsyncClient, movable: MovableClock, world: Any
) -> tuple[str, str, dict[str, str]]:
    """Participant, consent, booking with a purpose, both join routes, an outcome, and refused requests.

    Returns the participant's join token, the specialist's, and the coach's headers."""
    coach = await login(client, world.coach)
    created = await client.post(
        "/api/v1/participants",
        json={"display_name": NAME, "email": EMAIL, "preferred_language": "de", "case_reference": CASE_REFERENCE},
        headers={**coach, "X-Request-ID": "from-the-proxy-0001"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "from-the-proxy-0001"
    participant_id = created.json()["id"]
    for kind in ("video_consultation", "email_contact"):
        granted = await client.post(
            f"/api/v1/participants/{participant_id}/consents", json={"kind": kind, "granted": True}, headers=coach
        )
        assert granted.status_code == 201, granted.text
    day = next_weekday(2)
    booked = await client.post(
        "/api/v1/consultations",
        json={
            "participant_id": participant_id,
            "specialist_id": str(world.specialist_id),
            "consultation_type_id": str(world.type_id),
            "start": berlin(day, 10),
            "purpose": PURPOSE,
        },
        headers=coach,
    )
    assert booked.status_code == 201, booked.text
    consultation_id = booked.json()["id"]
    participant_link = next(a["join_url"] for a in booked.json()["attendees"] if a["kind"] == "participant")
    participant_token = participant_link.rsplit("/", 1)[1]
    # A search by name: the query string must not reach the access line.
    assert (await client.get("/api/v1/participants", params={"name": NAME}, headers=coach)).status_code == 200

    movable.move_to(berlin_time(day, 10) + timedelta(minutes=10))
    page = await client.get(f"/join/{participant_token}")
    assert page.status_code == 200, page.text
    joined = await client.get(f"/api/v1/join/{participant_token}")
    assert joined.status_code == 200, joined.text
    assert joined.json()["status"] == "open"

    specialist = await login(client, world.specialist)
    own = (await client.get(f"/api/v1/consultations/{consultation_id}", headers=specialist)).json()
    specialist_token = next(a["join_url"] for a in own["attendees"] if a["kind"] == "specialist").rsplit("/", 1)[1]
    assert (await client.get(f"/api/v1/join/{specialist_token}")).status_code == 200
    outcome = {
        "attendance": "attended",
        "summary_for_coach": SUMMARY,
        "recommendations": [{"code": "prevention_course", "text": RECOMMENDATION}],
        "work_capacity": "three_to_six_hours",
        "follow_up_weeks": 6,
        "clinical_notes": NOTES,
    }
    recorded = await client.put(f"/api/v1/consultations/{consultation_id}/outcome", json=outcome, headers=specialist)
    assert recorded.status_code in (200, 201), recorded.text
    assert (await client.get(f"/api/v1/consultations/{consultation_id}/outcome", headers=specialist)).json()[
        "clinical_notes"
    ] == NOTES

    # Refusals that carry the planted data in what was sent: 409, 422, 404, 401.
    again = await client.post(
        "/api/v1/participants",
        json={"display_name": NAME, "email": EMAIL, "preferred_language": "de", "case_reference": CASE_REFERENCE},
        headers=coach,
    )
    assert_problem(again, 409)
    assert_problem(
        await client.post(
            "/api/v1/participants",
            json={"display_name": NAME, "email": f"{NAME} <{EMAIL}", "case_reference": "X-1"},
            headers=coach,
        ),
        422,
    )
    assert_problem(await client.get(f"/api/v1/join/{participant_token}x"), 404)
    assert_problem(await client.post("/api/v1/auth/login", json={"email": EMAIL, "password": PURPOSE}), 401)
    return participant_token, specialist_token, coach


async def test_a_whole_consultation_logs_json_with_request_ids_and_nothing_personal(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], captured: Lines
) -> None:
    world = await seed_world(sessionmaker)
    movable = MovableClock()
    # As `telecon serve` runs uvicorn: its own logging configuration off, access lines at INFO.
    with LiveServer(settings, app_clock=movable, log_config=None, log_level="info") as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            participant_token, specialist_token, _ = await _a_whole_consultation(client, movable, world)
            untrusted = await client.get("/health", headers={"X-Request-ID": "no good; id=1"})
            assert untrusted.headers["x-request-id"] != "no good; id=1"
            assert len(untrusted.headers["x-request-id"]) == 16

    lines = captured.lines
    parsed = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [p for p in parsed if p["logger"] == "uvicorn.access"]
    assert len(access) >= 15, "uvicorn's access lines were not captured"
    assert any(p["logger"].startswith("telecon.") for p in parsed), "no line from telecon itself was captured"
    assert "from-the-proxy-0001" in {p["request_id"] for p in access}
    for line, entry in zip(lines, parsed, strict=True):
        assert {"time", "level", "logger", "message", "request_id"} <= entry.keys(), line
        assert entry["time"].endswith("+00:00"), line
        # Only the server's own start and stop lines belong to no request and no background run.
        assert entry["request_id"] or entry["logger"] == "uvicorn.error", line
        for secret in (NAME, "Plantname", EMAIL, "planted.address", PURPOSE, SUMMARY, NOTES, RECOMMENDATION):
            assert secret not in line, line
        assert CASE_REFERENCE not in line, line
        assert participant_token not in line, line
        assert specialist_token not in line, line
        if entry["logger"] == "uvicorn.access":
            assert "127.0.0.1" not in line, line  # the client's address is dropped
    # Each access line's id is the one its answer carried: one request, one id, on all of its lines.
    assert len({p["request_id"] for p in access}) == len(access)


def test_the_formatter_writes_only_allowed_fields_and_no_local_variables() -> None:
    logs.install_record_factory()
    formatter = logs.JsonFormatter()
    token = logs.request_id.set("req-12345678")
    try:
        try:
            secret_local = NAME  # noqa: F841 (a local variable that must not be logged with the traceback)
            raise ValueError("booking failed")
        except ValueError:
            record = logging.getLogger("telecon.test").makeRecord(
                "telecon.test",
                logging.ERROR,
                __file__,
                1,
                "mail to %s refused",
                (EMAIL,),
                exc_info=__import__("sys").exc_info(),
                extra={"status": 550, "participant_name": NAME},
            )
    finally:
        logs.request_id.reset(token)
    entry = json.loads(formatter.format(record))
    assert entry["request_id"] == "req-12345678"
    assert entry["message"] == "mail to …@… refused"
    assert entry["status"] == 550
    assert entry["exception"] == "ValueError"
    assert "booking failed" in entry["traceback"]
    assert "participant_name" not in entry
    assert NAME not in json.dumps(entry)


@pytest.mark.parametrize(
    ("incoming", "kept"),
    [("abc-DEF_123.xyz", True), ("short", False), ("x" * 65, False), ("has space1", False), ("ümlaut-123", False)],
)
def test_an_incoming_request_id_is_kept_only_when_safe(incoming: str, kept: bool) -> None:
    assert (logs.accepted_request_id(incoming) == incoming) is kept


def test_log_format_follows_the_environment_unless_set() -> None:
    assert isinstance(logs.formatter_for(Settings(env="development")), logs.TextFormatter)
    assert isinstance(logs.formatter_for(Settings(log_format="json")), logs.JsonFormatter)
