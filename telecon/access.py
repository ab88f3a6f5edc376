"""Who is acting: the roles, and what every service that changes or reads tenant data is given.

Below every domain package, so that any of them can take an ``Actor`` without importing another domain.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from telecon.errors import Forbidden, NotAuthenticated


class Role(enum.StrEnum):
    admin = "admin"
    coach = "coach"
    specialist = "specialist"


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    remote_address: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {_either(roles)}")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a valid bearer token names, before the membership behind it has been checked."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    remote_address: str | None = None

    def verified(self, role: Role | None) -> Actor:
        """The actor, given the caller's current role in the organization (``None``: no longer a member)."""
        if role is None:
            raise NotAuthenticated("this login is no longer valid; please log in again")
        return Actor(self.user_id, self.organization_id, role, self.remote_address)


def _either(roles: Iterable[Role]) -> str:
    return " or ".join(role.value for role in roles)
