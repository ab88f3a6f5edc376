from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from telecon.access import Role
from telecon.db import Base, IdMixin, enum_column, utcnow


class Profession(enum.StrEnum):
    physician = "physician"
    psychologist = "psychologist"
    psychotherapist = "psychotherapist"
    occupational_physician = "occupational_physician"
    social_medicine_physician = "social_medicine_physician"
    addiction_counsellor = "addiction_counsellor"
    social_worker = "social_worker"
    other = "other"


class Organization(IdMixin, Base):
    __tablename__ = "organization"

    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    default_language: Mapped[str] = mapped_column(String(16), default="de")
    contact_phone: Mapped[str | None] = mapped_column(String(64))
    """The number emails give for "something is wrong" next to the coach's name and address."""
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
    """Account-wide, an operator's act (``telecon deactivate-user``): off, the user can act nowhere."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(IdMixin, Base):
    """A user's role in one organization; a specialist of a network holds one per organization."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "organization_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deactivated_at: Mapped[datetime | None]
    """Set by an admin of the organization: the user keeps the account (and other organizations) but cannot
    act here, and as a specialist is neither listed nor booked here. Ending a membership deletes the row;
    the audit trail keeps that it existed. See ``telecon.organizations.eligibility``."""


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


class WebSession(IdMixin, Base):
    """A signed-in browser of a staff member in one organization: the server's half of the session cookie.

    The cookie holds a signed token naming the session by a random id; only a hash of that id is stored, so
    the table cannot be turned back into cookies. Signing out deletes the row, and a copy of the cookie is then
    worth nothing. Here, next to the accounts, because ending an account's sessions is part of switching the
    account off (``telecon.organizations.memberships.set_account_active``); the rules are in
    ``telecon.auth.services``.
    """

    __tablename__ = "web_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
