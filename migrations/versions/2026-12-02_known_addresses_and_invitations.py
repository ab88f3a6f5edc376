"""known login addresses and membership invitations

Revision ID: 0003_accounts
Revises: 0002_deactivation
Create Date: 2026-12-02 05:57:12.005552
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_accounts"
down_revision: str | None = "0002_deactivation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "known_login_address",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_known_login_address_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_known_login_address")),
        sa.UniqueConstraint("user_id", "address_hash", name=op.f("uq_known_login_address_user_id_address_hash")),
    )
    op.create_table(
        "membership_invitation",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role", sa.Enum("admin", "coach", "specialist", name="role", native_enum=False, length=40), nullable=False
        ),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invited_by_id"],
            ["user_account.id"],
            name=op.f("fk_membership_invitation_invited_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_membership_invitation_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_membership_invitation_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership_invitation")),
        sa.UniqueConstraint(
            "user_id", "organization_id", name=op.f("uq_membership_invitation_user_id_organization_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("membership_invitation")
    op.drop_table("known_login_address")
