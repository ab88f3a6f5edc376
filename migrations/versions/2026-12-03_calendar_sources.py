"""a specialist's own calendar (CalDAV or ICS URL) and its busy periods

Revision ID: 0010_calendar_sources
Revises: 0009_waitlist
Create Date: 2026-12-03 21:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_calendar_sources"
down_revision: str | None = "0009_waitlist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calendar_source",
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.Enum("caldav", "ics", name="calendar_kind", native_enum=False, length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("username", sa.String(length=200), nullable=True),
        sa.Column("password_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("password_key_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["user_account.id"],
            name=op.f("fk_calendar_source_specialist_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_source")),
        sa.UniqueConstraint("specialist_id", name=op.f("uq_calendar_source_specialist_id")),
    )
    op.create_table(
        "busy_period",
        sa.Column("source_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["calendar_source.id"],
            name=op.f("fk_busy_period_source_id_calendar_source"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["user_account.id"],
            name=op.f("fk_busy_period_specialist_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_busy_period")),
    )
    with op.batch_alter_table("busy_period", schema=None) as batch_op:
        batch_op.create_index("ix_busy_period_specialist", ["specialist_id", "starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_busy_period_source_id"), ["source_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("busy_period", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_busy_period_source_id"))
        batch_op.drop_index("ix_busy_period_specialist")

    op.drop_table("busy_period")
    op.drop_table("calendar_source")
