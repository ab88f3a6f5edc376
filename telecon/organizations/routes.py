from __future__ import annotations

import uuid

from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.openapi import problems
from telecon.organizations import services
from telecon.organizations.models import Profession, Role
from telecon.organizations.schemas import SpecialistOut, UserCreate, UserOut
from telecon.web import CurrentActor, DbSession


@post(
    "/api/v1/users",
    opt={"roles": (Role.admin,)},
    responses=problems({409: "A user with this email already exists."}),
)
async def create_user(data: JSONBody[UserCreate], db_session: DbSession, actor: CurrentActor) -> UserOut:
    """Add a user: an admin adds a coach, a specialist or another admin to their organization.

    A specialist needs a `profession`; the password is stored as an Argon2 hash and never shown again.
    The change is audited.
    """
    user = await services.add_user(
        db_session,
        actor,
        email=data.email,
        password=data.password,
        role=data.role,
        display_name=data.display_name,
        profession=data.profession,
        languages=data.languages,
        timezone=data.timezone,
    )
    return UserOut(id=user.id, email=user.email, display_name=user.display_name, role=data.role)


@get("/api/v1/specialists")
async def list_specialists(
    db_session: DbSession,
    actor: CurrentActor,
    profession: FromQuery[Profession | None] = None,
    language: FromQuery[str | None] = None,
) -> list[SpecialistOut]:
    """List the organization's specialists, optionally of one profession or speaking one language.

    Coaches pick the specialist to book from this list; `language` is a language code such as `tr`.
    """
    specialists = await services.list_specialists(
        db_session, actor.organization_id, profession=profession, language=language
    )
    return [SpecialistOut.of(s) for s in specialists]


@get("/api/v1/specialists/{specialist_id:uuid}")
async def get_specialist(
    specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> SpecialistOut:
    """One specialist of the organization: profession, languages and time zone.

    Someone who is not a specialist of the caller's organization is not found.
    """
    return SpecialistOut.of(await services.get_specialist(db_session, actor.organization_id, specialist_id))
