"""the waitlist: entries waiting for a slot; a hold is a consultation row with status 'held'

Revision ID: 0009_waitlist
Revises: 0008_web_sessions
Create Date: 2026-12-03 21:30:00.000000

The status is stored as text without a CHECK (``telecon.db.enum_column``), so 'held' needs no change of the
consultation table; the exclusion constraint (every status but 'cancelled') counts holds as intended.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_waitlist"
down_revision: str | None = "0008_web_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "waitlist_entry",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("consultation_type_id", sa.Uuid(), nullable=False),
        sa.Column(
            "profession",
            sa.Enum(
                "physician",
                "psychologist",
                "psychotherapist",
                "occupational_physician",
                "social_medicine_physician",
                "addiction_counsellor",
                "social_worker",
                "other",
                name="waitlist_profession",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("latest_date", sa.Date(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "held",
                "booked",
                "withdrawn",
                "expired",
                name="waitlist_status",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("consultation_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_waitlist_entry_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_waitlist_entry_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["consultation_type_id"],
            ["consultation_type.id"],
            name=op.f("fk_waitlist_entry_consultation_type_id_consultation_type"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_waitlist_entry_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["consultation.id"], name=op.f("fk_waitlist_entry_hold_id_consultation"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_waitlist_entry_consultation_id_consultation"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entry")),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_entry_queue", ["status", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entry_organization_id"), ["organization_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_waitlist_entry_participant_id"), ["participant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waitlist_entry_participant_id"))
        batch_op.drop_index(batch_op.f("ix_waitlist_entry_organization_id"))
        batch_op.drop_index("ix_waitlist_entry_queue")
    op.drop_table("waitlist_entry")
