"""Services stay plain Python: HTTP, the CLI and the worker all call them, so none may import Litestar."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "telecon"
PURE = ["scheduling/slots.py", "scheduling/availability.py", "video/jitsi.py", "video/links.py"]
PLAIN = sorted([*PACKAGE.glob("*/services.py"), *PACKAGE.glob("*/models.py"), *(PACKAGE / p for p in PURE)])


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_there_are_services_to_check() -> None:
    assert len(PLAIN) >= 10


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_litestar_below_the_http_layer(path: Path) -> None:
    offending = {name for name in imported_modules(path) if name.split(".")[0] in {"litestar", "telecon.web"}}
    offending |= {name for name in imported_modules(path) if name == "telecon.web" or name.endswith(".routes")}
    assert offending == set()


def test_access_log_lines_lose_join_tokens() -> None:
    import logging

    from telecon.web import RedactJoinTokens

    token = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/api/v1/join/{token}?x=1", "1.1", 200), None,
    )  # fmt: skip
    assert RedactJoinTokens().filter(record)
    assert token not in record.getMessage()
    assert "/api/v1/join/…?x=1" in record.getMessage()
