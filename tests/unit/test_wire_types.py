"""The wire's constrained types, the JSON depth bound and JSON-in-HTML escaping, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import available_timezones

import msgspec
import pytest

from telecon.scheduling.schemas import ClockTime
from telecon.schemas import (
    AwareDatetime,
    Email,
    Language,
    Name,
    Password,
    Text,
    TimeZone,
    decode_aware_datetime,
)
from telecon.templating import language_from_accept, script_json
from telecon.web import MAX_JSON_DEPTH, json_too_deep


def accepts(wire: Any, value: str) -> bool:
    try:
        msgspec.convert(value, wire)
    except msgspec.ValidationError:
        return False
    return True


SINGLE_LINE_SAMPLES = [(Name, "Maria Muster"), (Email, "maria@example.org"), (Language, "de-x-simple")]
SINGLE_LINE_SAMPLES += [(TimeZone, "Europe/Berlin"), (ClockTime, "09:00"), (Password, "correct horse")]


@pytest.mark.parametrize(("wire", "good"), SINGLE_LINE_SAMPLES)
def test_one_line_types_refuse_every_control_character_and_a_trailing_newline(wire: Any, good: str) -> None:
    assert accepts(wire, good)
    for bad in ("\x00", "\n", "\r", "\r\n", "\t", "\x1b", "\x7f"):
        assert not accepts(wire, good + bad), repr(good + bad)
        assert not accepts(wire, bad + good), repr(bad + good)
        assert not accepts(wire, good[:3] + bad + good[3:]), repr(bad)


def test_free_text_keeps_line_breaks_and_tabs_but_no_other_control_character() -> None:
    assert accepts(Text, "Zeile eins\r\nZeile zwei\n\tEingerückt\n")
    for bad in ("\x00", "\x08", "\x0b", "\x0c", "\x1b", "\x7f"):
        assert not accepts(Text, f"a{bad}b"), repr(bad)
    assert accepts(Text, "Ünïcödé, Emoji 🙂 and </script>")


def test_every_iana_zone_has_the_time_zone_shape_and_odd_names_do_not() -> None:
    assert [zone for zone in available_timezones() if not accepts(TimeZone, zone)] == []
    for odd in ("", "Europe/" + "B" * 60, "../etc/passwd", "/Europe/Berlin", "Europe//Berlin", "Europe/Berlin/"):
        assert not accepts(TimeZone, odd), odd


@pytest.mark.parametrize(
    "value",
    ["1970-01-01T00:00:00Z", "1970-01-01T01:00:00+01:00", "2027-03-28T02:30:00+01:00", "2199-12-31T23:59:59.999999Z"],
)
def test_instants_inside_the_range_are_kept_exactly(value: str) -> None:
    decoded = decode_aware_datetime(AwareDatetime, value)
    assert isinstance(decoded, AwareDatetime)
    assert decoded == datetime.fromisoformat(value)
    assert decoded.utcoffset() == datetime.fromisoformat(value).utcoffset()
    assert isinstance(decoded + timedelta(days=1), datetime)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+00:00",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",
        "2200-01-01T00:00:00Z",
        "9999-12-31T23:59:59-05:00",
        "2027-03-01T09:00:00",
        "2027-03-01",
        "soon",
        "",
    ],
)
def test_instants_outside_the_range_or_without_offset_are_refused(value: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 (the message is checked over HTTP)
        decode_aware_datetime(AwareDatetime, value)


def test_an_instant_from_the_wire_behaves_like_any_datetime() -> None:
    decoded = decode_aware_datetime(AwareDatetime, "2027-03-01T09:00:00+01:00")
    assert decoded.astimezone(UTC) == datetime(2027, 3, 1, 8, tzinfo=UTC)
    assert decoded.tzinfo == timezone(timedelta(hours=1))
    assert (
        msgspec.json.encode({"at": datetime.fromisoformat(decoded.isoformat())})
        == b'{"at":"2027-03-01T09:00:00+01:00"}'
    )


def test_json_depth_is_bounded_and_cheap_to_check() -> None:
    assert not json_too_deep(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    assert json_too_deep(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    assert json_too_deep(b'{"a":' * 1000)  # unterminated: still refused, the decoder never sees it
    assert not json_too_deep(json.dumps({"text": "[{" * 1000}).encode())  # brackets inside a string
    assert not json_too_deep(json.dumps({"text": '\\"[[[' * 100, "list": [[]] * 1000}).encode())
    assert not json_too_deep(b"[" + b"[]," * 10_000 + b"[]]")  # wide, not deep


def test_script_json_leaves_no_markup_and_parses_back() -> None:
    value = {"name": "</script><!--<script>", "other": "a & b > c", "line": "\u2028"}
    embedded = script_json(value)
    assert not {"<", ">", "&"} & set(embedded)
    assert json.loads(embedded) == value


@pytest.mark.parametrize(
    ("header", "language"),
    [
        (None, "de"),
        ("", "de"),
        ("fr-FR, en;q=0.8, de;q=0.5", "en"),
        ("en;q=0.2, de;q=0.9", "de"),
        ("de-x-simple", "de-x-simple"),
        ("EN-GB", "en"),
        ("tlh, *;q=0.1", "de"),
        ("en;q=nonsense, de-AT", "de"),
    ],
)
def test_the_browsers_language_among_ours(header: str | None, language: str) -> None:
    assert language_from_accept(header) == language
