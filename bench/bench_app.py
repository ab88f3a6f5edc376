"""A no-argument app factory for ``uvicorn --factory``, used by ``bench/bench.py`` only.

Reads the database URL from ``BENCH_DATABASE_URL`` (and a scratch mail directory from ``BENCH_MAIL_DIR``)
so the benchmark never depends on whatever ``TELECON_DATABASE_URL`` the shell happens to carry.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from litestar import Litestar

from telecon.app import create_app, freeze_startup_heap
from telecon.settings import Settings


def make_app() -> Litestar:
    mail_dir = os.environ.get("BENCH_MAIL_DIR") or tempfile.mkdtemp(prefix="telecon-bench-mail-")
    settings = Settings(
        database_url=os.environ["BENCH_DATABASE_URL"],
        # As in production, the web process only writes the outbox; arq workers elsewhere send the mail (that
        # is bench/mail.py's measurement). Nothing here talks to Redis but /ready.
        redis_url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11"),
        mail_dir=Path(mail_dir),
    )
    app = create_app(settings)
    freeze_startup_heap()  # as `telecon serve` does
    return app
