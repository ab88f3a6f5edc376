"""One Jinja environment for pages (and, later, emails), and the texts of each language."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from telecon.bundled import bundled

TEMPLATES_DIR = bundled("templates")
DEFAULT_LANGUAGE = "de"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def languages() -> frozenset[str]:
    """The languages with texts: a new language is a new file under ``templates/i18n``."""
    return frozenset(p.stem for p in (TEMPLATES_DIR / "i18n").glob("*.json"))


def pick_language(preferred: str | None) -> str:
    if preferred in languages():
        return str(preferred)
    base = (preferred or "").split("-")[0]
    return base if base in languages() else DEFAULT_LANGUAGE


@cache
def texts(language: str) -> dict[str, Any]:
    path = TEMPLATES_DIR / "i18n" / f"{pick_language(language)}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def local_date_time(instant: datetime, timezone: str, t: dict[str, Any]) -> tuple[str, str]:
    """The date and the time of an instant as people in ``timezone`` read them, in the texts' language."""
    local = instant.astimezone(ZoneInfo(timezone))
    day = t["date_format"].format(
        weekday=t["weekdays"][local.weekday()], day=local.day, month=t["months"][local.month - 1], year=local.year
    )
    return day, t["time_format"].format(hour=f"{local.hour:02d}", minute=f"{local.minute:02d}")
