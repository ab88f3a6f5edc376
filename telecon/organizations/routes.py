from __future__ import annotations

import uuid

from litestar import delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.organizations import memberships, services
from telecon.organizations.models import Profession
from telecon.organizations.schemas import MemberOut, MembershipOut, SpecialistOut, UserCreate, UserOut
from telecon.web import CurrentActor, DbSession


@post("/api/v1/users")
async def create_user(data: JSONBody[UserCreate], db_session: DbSession, actor: CurrentActor, state: State) -> UserOut:
    """An admin adds a coach, a specialist or another admin to their organization.

    An address that already has an account elsewhere gets the same answer, but only an invitation that
    its holder may accept (see ``services.add_user`` for what the admin can and cannot tell).
    """
    user_id = await services.add_user(
        db_session,
        actor,
        state.passwords,
        email=data.email,
        password=data.password,
        role=data.role,
        display_name=data.display_name,
        profession=data.profession,
        languages=data.languages,
        timezone=data.timezone,
    )
    # Built from the request, not the account: an existing account's name must not come back.
    return UserOut(
        id=user_id, email=services.normalise_email(data.email), display_name=data.display_name, role=data.role
    )


@post("/api/v1/me/invitations/{invitation_id:uuid}/accept", status_code=200)
async def accept_invitation(
    invitation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> MembershipOut:
    """The signed-in account accepts an organization's invitation and becomes its member."""
    membership, organization = await services.accept_invitation(db_session, actor, invitation_id)
    return MembershipOut(
        organization_id=organization.id, organization_name=organization.name, role=membership.role.value
    )


@post("/api/v1/me/invitations/{invitation_id:uuid}/decline", status_code=204)
async def decline_invitation(invitation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """The signed-in account declines an invitation; the inviting organization is not told."""
    await services.decline_invitation(db_session, actor, invitation_id)


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
