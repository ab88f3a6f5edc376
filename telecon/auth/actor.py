"""Who is acting: what every service that changes or reads tenant data is given."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from telecon.errors import Forbidden
from telecon.organizations.models import Role


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    remote_address: str | None = None

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise Forbidden(f"this needs the role {_either(roles)}")


def _either(roles: Iterable[Role]) -> str:
    return " or ".join(role.value for role in roles)
