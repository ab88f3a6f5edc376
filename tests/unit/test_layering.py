"""Services stay plain Python (HTTP, the CLI and the worker all call them), and the packages form layers."""

from __future__ import annotations

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "telecon"
PURE = ["scheduling/slots.py", "scheduling/availability.py", "scheduling/links.py", "video/jitsi.py"]
PLAIN = sorted([*PACKAGE.glob("*/services.py"), *PACKAGE.glob("*/models.py"), *(PACKAGE / p for p in PURE)])


def imported_modules(path: Path) -> set[str]:
    """Every module the file imports, including ``from package import module`` (read as both names)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


# The HTTP layer and the entry points sit on top and may import any package; nothing else imports them.
TOP = {"telecon.app", "telecon.web", "telecon.cli", "telecon.__main__"}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    return ".".join(("telecon", *path.relative_to(package).with_suffix("").parts)).removesuffix(".__init__")


def is_top(module: str) -> bool:
    """The HTTP layer: the entry points, every ``routes`` module, and the staff pages (``telecon.ui``), all routes."""
    return module in TOP or module.endswith(".routes") or module.startswith("telecon.ui.")


def package_of(module: str) -> str:
    """``telecon.scheduling.services`` -> ``scheduling``; top-level modules (``db``, ``access``) are their own."""
    return module.split(".")[1]


def package_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Which ``telecon`` package imports which, counting every module below the HTTP layer."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in sorted(package.rglob("*.py")):
        module = module_name(path, package)
        if module == "telecon" or is_top(module):
            continue
        graph[package_of(module)]
        for imported in imported_modules(path):
            if imported.startswith("telecon.") and package_of(imported) != package_of(module):
                graph[package_of(module)].add(package_of(imported))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as error:
        return list(error.args[1])
    return []


def test_packages_import_each_other_without_loops() -> None:
    graph = package_graph()
    assert {"access", "db", "organizations", "scheduling", "video"} <= set(graph)
    assert find_cycle(graph) == [], "an import loop between telecon packages"


def test_the_loop_check_sees_a_loop() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) in (
        ["a", "c", "b", "a"],
        ["b", "a", "c", "b"],
        ["c", "b", "a", "c"],
    )
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_only_the_http_layer_imports_the_http_layer() -> None:
    offending = {
        (module_name(path), imported)
        for path in PACKAGE.rglob("*.py")
        if not is_top(module_name(path))
        for imported in imported_modules(path)
        if imported.startswith("telecon.") and is_top(imported)
    }
    assert offending == set()


def test_there_are_services_to_check() -> None:
    assert len(PLAIN) >= 10


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_litestar_below_the_http_layer(path: Path) -> None:
    offending = {name for name in imported_modules(path) if name.split(".")[0] in {"litestar", "telecon.web"}}
    offending |= {name for name in imported_modules(path) if name == "telecon.web" or name.endswith(".routes")}
    assert offending == set()


def test_access_log_lines_lose_join_tokens_addresses_and_query_values() -> None:
    import logging

    from telecon.logs import AccessLogFilter

    token = "Zm9vYmFyYmF6cXV4cXV1eHF1dXhxdXV4cXV1eHF1dXg"
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("192.0.2.7:5000", "GET", f"/api/v1/join/{token}?x=1&name=Muster", "1.1", 200), None,
    )  # fmt: skip
    assert AccessLogFilter().filter(record)
    assert token not in record.getMessage()
    assert "192.0.2.7" not in record.getMessage()
    assert "Muster" not in record.getMessage()
    assert '- "GET /api/v1/join/…?x=…&name=… HTTP/1.1" 200' in record.getMessage()
