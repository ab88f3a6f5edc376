from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telecon.db import Base, IdMixin, utcnow


class Role(enum.StrEnum):
    admin = "admin"
    coach = "coach"
    specialist = "specialist"


class Profession(enum.StrEnum):
    physician = "physician"
    psychologist = "psychologist"
    psychotherapist = "psychotherapist"
    occupational_physician = "occupational_physician"
    social_medicine_physician = "social_medicine_physician"
    addiction_counsellor = "addiction_counsellor"
    social_worker = "social_worker"
    other = "other"


def enum_column(enum_type: type[enum.StrEnum], name: str) -> Enum:
    """A portable enum stored as a short string with a CHECK, so adding a value needs no type migration."""
    return Enum(enum_type, name=name, native_enum=False, length=40, values_callable=lambda e: [m.value for m in e])


class Organization(IdMixin, Base):
    __tablename__ = "organization"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    default_language: Mapped[str] = mapped_column(String(16), default="de")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(IdMixin, Base):
    """A staff person: admin, coach or specialist. Participants are not users and have no password."""

    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    profession: Mapped[Profession | None] = mapped_column(enum_column(Profession, "profession"))
    languages: Mapped[list[str]] = mapped_column(default=list)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(IdMixin, Base):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MembershipInvitation(IdMixin, Base):
    """An organization's offer of a membership to an account that already existed when an admin added it.

    Only the account holder can turn it into a membership (or decline it); until then the inviting
    organization sees nothing of the account. Accepted and declined invitations are deleted; the audit
    trail keeps what happened.
    """

    __tablename__ = "membership_invitation"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
