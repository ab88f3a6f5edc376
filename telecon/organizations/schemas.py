from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from telecon.access import Role
from telecon.organizations.models import Membership, Profession, User
from telecon.schemas import Email, Language, Name, Out, Password, Strict, TimeZone


class UserCreate(Strict):
    email: Email
    password: Annotated[Password, msgspec.Meta(min_length=12)]
    display_name: Name
    role: Role
    profession: Profession | None = None
    languages: list[Language] = msgspec.field(default_factory=lambda: ["de"])
    timezone: TimeZone = "Europe/Berlin"


class UserOut(Out):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role


class MembershipOut(Out):
    organization_id: uuid.UUID
    organization_name: str
    role: str


class InvitationOut(Out):
    """An organization's pending offer of a membership; accept or decline it under ``/api/v1/me/invitations``."""

    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    role: str
    invited_at: datetime


class SpecialistOut(Out):
    id: uuid.UUID
    display_name: str
    profession: Profession | None
    languages: list[str]
    timezone: str

    @classmethod
    def of(cls, user: User) -> SpecialistOut:
        return cls(
            id=user.id,
            display_name=user.display_name,
            profession=user.profession,
            languages=user.languages,
            timezone=user.timezone,
        )


class MemberOut(Out):
    """A user's membership in the caller's organization; ``active: false`` until an admin reactivates it."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    active: bool
    deactivated_at: datetime | None

    @classmethod
    def of(cls, membership: Membership) -> MemberOut:
        return cls(
            user_id=membership.user_id,
            organization_id=membership.organization_id,
            role=membership.role,
            active=membership.deactivated_at is None,
            deactivated_at=membership.deactivated_at,
        )


class MemberListOut(Out):
    """One member of the caller's organization, as ``GET /api/v1/users`` lists them."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    profession: Profession | None
    active: bool
    """The membership here: ``false`` once an admin deactivated it (reactivate it to switch it on again)."""
    account_active: bool
    """The whole account: ``false`` when an operator switched it off everywhere."""
    deactivated_at: datetime | None
    other_organizations: int
    """For a specialist: how many other organizations they serve too (a network's shared specialist); else 0."""
