from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from telecon.organizations.models import Profession, Role, User
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
