from __future__ import annotations

import uuid

from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.organizations import services
from telecon.organizations.models import Profession
from telecon.organizations.schemas import SpecialistOut, UserCreate, UserOut
from telecon.web import CurrentActor, DbSession, LanguageQuery


@post("/api/v1/users")
async def create_user(data: JSONBody[UserCreate], db_session: DbSession, actor: CurrentActor) -> UserOut:
    """An admin adds a coach, a specialist or another admin to their organization."""
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
    language: LanguageQuery = None,
) -> list[SpecialistOut]:
    specialists = await services.list_specialists(
        db_session, actor.organization_id, profession=profession, language=language
    )
    return [SpecialistOut.of(s) for s in specialists]


@get("/api/v1/specialists/{specialist_id:uuid}")
async def get_specialist(
    specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> SpecialistOut:
    return SpecialistOut.of(await services.get_specialist(db_session, actor.organization_id, specialist_id))
