"""a calendar's URL is encrypted like its password; only scheme, host and port stay readable

Revision ID: 0011_calendar_url_sealed
Revises: 0010_calendar_sources
Create Date: 2026-12-04 02:00:00.000000

An ICS link carries a private token that opens the specialist's whole calendar: it is a password. Existing rows are
sealed with the current key of TELECON_ENCRYPTION_KEY as the environment gives it to ``telecon db upgrade``
(the same ring the app uses; associated data
``calendar_source:<id>:url``) and their ``url`` becomes ``shown_url``. Downgrading decrypts them back. The two
helpers below are this migration's own copy of the rules in ``telecon.calendars.services`` (``url_associated``,
``shown_url``), so that a later change there cannot change what this revision does.
"""

import uuid
from collections.abc import Sequence
from urllib.parse import urlsplit

import sqlalchemy as sa
from alembic import op

from telecon.crypto import KeyRing
from telecon.settings import Settings

revision: str = "0011_calendar_url_sealed"
down_revision: str | None = "0010_calendar_sources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCES = sa.table(
    "calendar_source",
    sa.column("id", sa.Uuid()),
    sa.column("url", sa.String()),
    sa.column("shown_url", sa.String()),
    sa.column("url_ciphertext", sa.LargeBinary()),
    sa.column("url_key_id", sa.String()),
)


def _associated(source_id: uuid.UUID) -> bytes:
    return f"calendar_source:{source_id}:url".encode()


def _shown(url: str) -> str:
    parts = urlsplit(url)
    rest = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{parts.netloc}{rest}"


def upgrade() -> None:
    for column in (
        sa.Column("shown_url", sa.String(length=2000), nullable=True),
        sa.Column("url_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("url_key_id", sa.String(length=32), nullable=True),
    ):
        op.add_column("calendar_source", column)
    connection = op.get_bind()
    rows = connection.execute(sa.select(SOURCES.c.id, SOURCES.c.url)).all()
    if rows:
        keys = KeyRing.from_settings(Settings())
        for source_id, url in rows:
            key_id, sealed = keys.encrypt(url, associated=_associated(source_id))
            connection.execute(
                SOURCES.update()
                .where(SOURCES.c.id == source_id)
                .values(shown_url=_shown(url), url_ciphertext=sealed, url_key_id=key_id)
            )
    if connection.dialect.name == "postgresql":
        for name in ("shown_url", "url_ciphertext", "url_key_id"):
            op.alter_column("calendar_source", name, nullable=False)
        op.drop_column("calendar_source", "url")
    else:
        # SQLite: a batch "recreate" would drop the table, and with foreign keys on (telecon's connections) that
        # deletes every busy period (ON DELETE CASCADE). The native DROP COLUMN (SQLite 3.35+) touches nothing
        # else; the new columns stay nullable in SQLite's schema (the app always writes them).
        op.execute("ALTER TABLE calendar_source DROP COLUMN url")


def downgrade() -> None:
    op.add_column("calendar_source", sa.Column("url", sa.String(length=2000), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(SOURCES.c.id, SOURCES.c.url_ciphertext, SOURCES.c.url_key_id)).all()
    if rows:
        keys = KeyRing.from_settings(Settings())
        for source_id, sealed, key_id in rows:
            url = keys.decrypt(key_id, sealed, associated=_associated(source_id))
            connection.execute(SOURCES.update().where(SOURCES.c.id == source_id).values(url=url))
    if connection.dialect.name == "postgresql":
        op.alter_column("calendar_source", "url", nullable=False)
        for name in ("url_key_id", "url_ciphertext", "shown_url"):
            op.drop_column("calendar_source", name)
    else:
        for name in ("url_key_id", "url_ciphertext", "shown_url"):
            op.execute(f"ALTER TABLE calendar_source DROP COLUMN {name}")
