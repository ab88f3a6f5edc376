"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23 08:52:45.463963
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "failed_attempt",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failed_attempt")),
    )
    with op.batch_alter_table("failed_attempt", schema=None) as batch_op:
        batch_op.create_index("ix_failed_attempt_key_time", ["key", "attempted_at"], unique=False)

    op.create_table(
        "organization",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("default_language", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
        sa.UniqueConstraint("name", name=op.f("uq_organization_name")),
    )
    op.create_table(
        "user_account",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
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
                name="profession",
                native_enum=False,
                length=40,
            ),
            nullable=True,
        ),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("email", name=op.f("uq_user_account_email")),
    )
    op.create_table(
        "audit_event",
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("remote_address", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["user_account.id"], name=op.f("fk_audit_event_actor_id_user_account"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_audit_event_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_organization_time", ["organization_id", "occurred_at"], unique=False)

    op.create_table(
        "availability_override",
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "kind", sa.Enum("absence", "extra", name="override_kind", native_enum=False, length=40), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["user_account.id"],
            name=op.f("fk_availability_override_specialist_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_override")),
    )
    with op.batch_alter_table("availability_override", schema=None) as batch_op:
        batch_op.create_index("ix_availability_override_specialist", ["specialist_id", "starts_at"], unique=False)

    op.create_table(
        "availability_rule",
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("start_time", sa.Time(), nullable=False),
        sa.Column("end_time", sa.Time(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["specialist_id"],
            ["user_account.id"],
            name=op.f("fk_availability_rule_specialist_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_rule")),
    )
    with op.batch_alter_table("availability_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_availability_rule_specialist_id"), ["specialist_id"], unique=False)

    op.create_table(
        "consultation_type",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("professions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_consultation_type_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation_type")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("uq_consultation_type_organization_id_name")),
    )
    with op.batch_alter_table("consultation_type", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consultation_type_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "membership",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role", sa.Enum("admin", "coach", "specialist", name="role", native_enum=False, length=40), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_membership_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_membership_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_membership")),
        sa.UniqueConstraint("user_id", "organization_id", name=op.f("uq_membership_user_id_organization_id")),
    )
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_membership_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "participant",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("preferred_language", sa.String(length=16), nullable=False),
        sa.Column("case_reference", sa.String(length=64), nullable=True),
        sa.Column("coach_id", sa.Uuid(), nullable=True),
        sa.Column("interpreter_language", sa.String(length=16), nullable=True),
        sa.Column("easy_language", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["coach_id"], ["user_account.id"], name=op.f("fk_participant_coach_id_user_account"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_participant_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant")),
        sa.UniqueConstraint(
            "organization_id", "case_reference", name=op.f("uq_participant_organization_id_case_reference")
        ),
    )
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_participant_organization_id"), ["organization_id"], unique=False)

    op.create_table(
        "consent",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "video_consultation",
                "email_contact",
                "share_outcome_with_coach",
                name="consent_kind",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Uuid(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_consent_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_consent_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_consent_recorded_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent")),
    )
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.create_index("ix_consent_participant_kind", ["participant_id", "kind", "recorded_at"], unique=False)

    op.create_table(
        "consultation",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column("specialist_id", sa.Uuid(), nullable=False),
        sa.Column("booked_by_id", sa.Uuid(), nullable=True),
        sa.Column("consultation_type_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "scheduled",
                "completed",
                "cancelled",
                "no_show",
                name="consultation_status",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("room_name", sa.String(length=64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["booked_by_id"],
            ["user_account.id"],
            name=op.f("fk_consultation_booked_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["consultation_type_id"],
            ["consultation_type.id"],
            name=op.f("fk_consultation_consultation_type_id_consultation_type"),
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_consultation_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_consultation_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["specialist_id"], ["user_account.id"], name=op.f("fk_consultation_specialist_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consultation")),
        sa.UniqueConstraint("room_name", name=op.f("uq_consultation_room_name")),
    )
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.create_index("ix_consultation_organization_time", ["organization_id", "starts_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_consultation_participant_id"), ["participant_id"], unique=False)
        batch_op.create_index("ix_consultation_specialist_time", ["specialist_id", "starts_at"], unique=False)

    op.create_table(
        "attendee",
        sa.Column("consultation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("participant", "specialist", "coach", "guest", name="attendee_kind", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("participant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column(
            "jitsi_role",
            sa.Enum("moderator", "participant", name="jitsi_role", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("token_nonce", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_joined_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("join_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_attendee_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_attendee_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_attendee_user_id_user_account"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendee")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_attendee_token_hash")),
    )
    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attendee_consultation_id"), ["consultation_id"], unique=False)

    op.create_table(
        "case_file_entry",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("participant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "note",
                "consent_recorded",
                "consultation_booked",
                "consultation_rescheduled",
                "consultation_cancelled",
                "outcome_recorded",
                "recommendation",
                name="case_file_kind",
                native_enum=False,
                length=40,
            ),
            nullable=False,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("consultation_id", sa.Uuid(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user_account.id"],
            name=op.f("fk_case_file_entry_author_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_case_file_entry_consultation_id_consultation"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_case_file_entry_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participant.id"],
            name=op.f("fk_case_file_entry_participant_id_participant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_file_entry")),
    )
    with op.batch_alter_table("case_file_entry", schema=None) as batch_op:
        batch_op.create_index("ix_case_file_entry_participant", ["participant_id", "occurred_at"], unique=False)

    op.create_table(
        "idempotency_key",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("consultation_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_idempotency_key_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_idempotency_key_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_key")),
        sa.UniqueConstraint("organization_id", "key", name=op.f("uq_idempotency_key_organization_id_key")),
    )
    op.create_table(
        "outbox_message",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("consultation_id", sa.Uuid(), nullable=True),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sent", "failed", name="outbox_status", native_enum=False, length=40),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultation.id"],
            name=op.f("fk_outbox_message_consultation_id_consultation"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_outbox_message_organization_id_organization"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_message_dedupe_key")),
    )
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_message_consultation_id"), ["consultation_id"], unique=False)
        batch_op.create_index("ix_outbox_message_due", ["status", "next_attempt_at"], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # No two consultations of one specialist may overlap (end plus buffer), whatever the application
        # does; SQLite has no such constraint, so there the booking transaction serialises and checks.
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE consultation ADD CONSTRAINT ex_consultation_specialist_overlap "
            "EXCLUDE USING gist (specialist_id WITH =, tstzrange(starts_at, blocked_until) WITH &&) "
            "WHERE (status <> 'cancelled')"
        )


def downgrade() -> None:

    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_due")
        batch_op.drop_index(batch_op.f("ix_outbox_message_consultation_id"))

    op.drop_table("outbox_message")
    op.drop_table("idempotency_key")
    with op.batch_alter_table("case_file_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_case_file_entry_participant")

    op.drop_table("case_file_entry")
    with op.batch_alter_table("attendee", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attendee_consultation_id"))

    op.drop_table("attendee")
    with op.batch_alter_table("consultation", schema=None) as batch_op:
        batch_op.drop_index("ix_consultation_specialist_time")
        batch_op.drop_index(batch_op.f("ix_consultation_participant_id"))
        batch_op.drop_index("ix_consultation_organization_time")

    op.drop_table("consultation")
    with op.batch_alter_table("consent", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_participant_kind")

    op.drop_table("consent")
    with op.batch_alter_table("participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_participant_organization_id"))

    op.drop_table("participant")
    with op.batch_alter_table("membership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_membership_organization_id"))

    op.drop_table("membership")
    with op.batch_alter_table("consultation_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_type_organization_id"))

    op.drop_table("consultation_type")
    with op.batch_alter_table("availability_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_availability_rule_specialist_id"))

    op.drop_table("availability_rule")
    with op.batch_alter_table("availability_override", schema=None) as batch_op:
        batch_op.drop_index("ix_availability_override_specialist")

    op.drop_table("availability_override")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_organization_time")

    op.drop_table("audit_event")
    op.drop_table("user_account")
    op.drop_table("organization")
    with op.batch_alter_table("failed_attempt", schema=None) as batch_op:
        batch_op.drop_index("ix_failed_attempt_key_time")

    op.drop_table("failed_attempt")
