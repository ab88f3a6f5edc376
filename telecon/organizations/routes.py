from __future__ import annotations

import uuid

from litestar import delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.organizations import memberships, services
from telecon.organizations.models import Profession
from telecon.organizations.schemas import MemberOut, SpecialistOut, UserCreate, UserOut
from telecon.web import CurrentActor, DbSession


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
    language: FromQuery[str | None] = None,
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


@post("/api/v1/users/{user_id:uuid}/deactivate", status_code=200)
async def deactivate_user(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> MemberOut:
    """An admin switches a user off in their own organization only; other organizations keep the user.

    At once: the user's tokens stop working here; a specialist is no longer listed, searched or bookable here,
    and their link to a booked consultation opens no video room (the consultation shows
    ``specialist_available: false``).
    """
    return MemberOut.of(await memberships.deactivate_membership(db_session, actor, user_id))


@post("/api/v1/users/{user_id:uuid}/reactivate", status_code=200)
async def reactivate_user(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> MemberOut:
    return MemberOut.of(await memberships.reactivate_membership(db_session, actor, user_id))


@delete("/api/v1/users/{user_id:uuid}/membership", status_code=204)
async def end_membership(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """An admin removes a user from their organization for good; the account and other memberships stay."""
    await memberships.end_membership(db_session, actor, user_id)
