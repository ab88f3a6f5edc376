"""telecon installs as an ordinary wheel: templates and migrations travel inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from telecon.cli import links_follow_the_server
from telecon.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO)],
        check=True,
        timeout=300,
    )
    (built,) = out.glob("telecon-*.whl")
    return built


def test_the_wheel_carries_templates_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "telecon/templates/pages/join.html.j2" in names
    assert "telecon/templates/i18n/de.json" in names
    assert "telecon/migrations/env.py" in names
    assert any(n.startswith("telecon/migrations/versions/") and n.endswith(".py") for n in names)
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_the_unpacked_wheel_migrates_and_renders_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    database = tmp_path / "elsewhere" / "telecon.db"
    script = (
        "import telecon, telecon.cli, telecon.templating as t;"
        f"assert telecon.__file__.startswith({str(site)!r}), telecon.__file__;"
        "assert t.texts('en')['title'];"
        "raise SystemExit(telecon.cli.main(['db', 'upgrade']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,  # not the checkout: only the unpacked wheel can provide telecon here
        env={**os.environ, "PYTHONPATH": str(site), "TELECON_DATABASE_URL": f"sqlite+aiosqlite:///{database}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert database.is_file()


def test_join_links_follow_the_served_port_unless_configured() -> None:
    assert links_follow_the_server(Settings(), "127.0.0.1", 8081).public_url == "http://127.0.0.1:8081"
    assert links_follow_the_server(Settings(), "0.0.0.0", 9000).public_url == "http://127.0.0.1:9000"  # noqa: S104
    assert links_follow_the_server(Settings(), "::1", 9000).public_url == "http://[::1]:9000"
    configured = Settings(public_url="https://telecon.example.org")
    assert links_follow_the_server(configured, "127.0.0.1", 8081).public_url == "https://telecon.example.org"
