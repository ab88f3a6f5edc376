"""one outbox row per attendee and email; the organization's contact number

Revision ID: 0004_notifications
Revises: 0003_accounts
Create Date: 2026-12-02 09:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_notifications"
down_revision: str | None = "0003_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows of the old shape (one per change, nothing ever sent them) cannot be delivered per attendee.
    op.execute("DELETE FROM outbox_message WHERE status = 'pending'")
    with op.batch_alter_table("outbox_message") as batch:
        batch.add_column(sa.Column("attendee_id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outbox_message_attendee_id_attendee"), "attendee", ["attendee_id"], ["id"], ondelete="CASCADE"
        )
    with op.batch_alter_table("organization") as batch:
        batch.add_column(sa.Column("contact_phone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("contact_phone")
    with op.batch_alter_table("outbox_message") as batch:
        batch.drop_constraint(op.f("fk_outbox_message_attendee_id_attendee"), type_="foreignkey")
        batch.drop_column("sequence")
        batch.drop_column("attendee_id")
