"""outcomes with their versions (TEMPORARY in branch crypto: main brings the real 0006_outcomes)

Revision ID: 0006_outcomes
Revises: 0005_calendar_feeds
Create Date: 2026-12-02 09:54:53.582080
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_outcomes"
down_revision: str | None = "0005_calendar_feeds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outcome",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("consultation_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["user_account.id"], name=op.f("fk_outcome_author_id_user_account"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_outcome_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_outcome_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome")),
        sa.UniqueConstraint("consultation_id", name=op.f("uq_outcome_consultation_id")),
    )
    with op.batch_alter_table("outcome", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outcome_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "outcome_version",
        sa.Column("outcome_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "attendance",
            sa.Enum(
                "attended",
                "participant_no_show",
                "specialist_no_show",
                "technical_failure",
                name="attendance",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("summary_for_coach", sa.Text(), nullable=True),
        sa.Column("recommendations", sa.JSON(), nullable=False),
        sa.Column(
            "work_capacity",
            sa.Enum(
                "six_hours_or_more",
                "three_to_six_hours",
                "under_three_hours",
                "not_assessed",
                name="work_capacity",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("follow_up_weeks", sa.SmallInteger(), nullable=True),
        sa.Column("clinical_notes", sa.LargeBinary(), nullable=True),
        sa.Column("notes_key_id", sa.String(length=32), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("via", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outcome_id"], ["outcome.id"], name=op.f("fk_outcome_version_outcome_id_outcome"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_outcome_version_recorded_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_version")),
        sa.UniqueConstraint("outcome_id", "version", name=op.f("uq_outcome_version_outcome_id_version")),
    )


def downgrade() -> None:
    op.drop_table("outcome_version")
    with op.batch_alter_table("outcome", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outcome_organization_id"))

    op.drop_table("outcome")
