"""One Jinja environment for pages and emails, and the texts of each language."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from telecon.bundled import bundled

TEMPLATES_DIR = bundled("templates")
DEFAULT_LANGUAGE = "de"


@cache
def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        # Everything is HTML-escaped but the text parts of emails (``*.txt.j2``).
        autoescape=select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt.j2",),
            default=True,
            default_for_string=True,
        ),
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


def language_from_accept(header: str | None) -> str:
    """The first language of an ``Accept-Language`` header we have texts for, by weight; else German."""
    weighted = []
    for position, item in enumerate((header or "").split(",")[:20]):
        tag, _, params = item.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        weighted.append((-weight, position, tag.strip().lower()))
    for _, _, tag in sorted(weighted):
        if tag in languages() or tag.split("-")[0] in languages():
            return pick_language(tag)
    return DEFAULT_LANGUAGE


_SCRIPT_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def script_json(value: Any) -> str:
    """JSON to embed in an HTML ``<script>`` element: no ``<``, ``>`` or ``&`` left in it.

    ``</script>`` would end the element early and ``<!--<script>`` would keep a later ``</script>`` from
    ending it; escaped as ``\\u003c`` they are the same string to ``JSON.parse`` and nothing to the HTML parser.
    """
    return json.dumps(value, ensure_ascii=False).translate(_SCRIPT_UNSAFE)


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
