"""Where the folders that ship with telecon are: ``templates/`` and ``migrations/``.

In a checkout (and an editable install) they sit beside the package, at the top of the repository. The wheel
carries them inside the package (``telecon/templates``, ``telecon/migrations``; see ``[tool.hatch.build]`` in
pyproject.toml), so that telecon installs as an ordinary wheel.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The folder ``name`` inside the installed package, or beside the package in a checkout."""
    inside = PACKAGE / name
    return inside if inside.is_dir() else PACKAGE.parent / name
