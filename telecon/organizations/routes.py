from __future__ import annotations

import uuid

from litestar import delete, get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.access import Role
from telecon.openapi import problems
from telecon.organizations import memberships, services
from telecon.organizations.models import Profession
from telecon.organizations.schemas import (
    MemberListOut,
    MemberOut,
    MembershipOut,
    SpecialistOut,
    UserCreate,
    UserOut,
)
from telecon.web import CurrentActor, DbSession, LanguageQuery


@post(
    "/api/v1/users",
    opt={"roles": (Role.admin,)},
    responses=problems({409: "This address is already a member of (or invited to) the organization."}),
)
async def create_user(data: JSONBody[UserCreate], db_session: DbSession, actor: CurrentActor, state: State) -> UserOut:
    """Add a user: an admin adds a coach, a specialist or another admin to their organization.

    A specialist needs a `profession`; the password is stored as an Argon2 hash and never shown again. An
    address that already has an account elsewhere gets the same answer, but what it creates is an
    invitation its holder may accept; the admin's password is never applied to an existing account (see
    `services.add_user` for what the admin can and cannot tell afterwards). The change is audited.
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


@get("/api/v1/users", opt={"roles": (Role.admin,)})
async def list_users(db_session: DbSession, actor: CurrentActor) -> list[MemberListOut]:
    """List the members of the admin's organization, switched off ones too, by name.

    Each with the role here, whether the membership is active (and the account), and for a specialist how many
    other organizations they serve as well (a network's shared specialist: a count, nothing of the others).
    Pending invitations are not members and are not listed.
    """
    return [
        MemberListOut(
            user_id=m.user.id,
            email=m.user.email,
            display_name=m.user.display_name,
            role=m.membership.role,
            profession=m.user.profession,
            active=m.membership.deactivated_at is None,
            account_active=m.user.is_active,
            deactivated_at=m.membership.deactivated_at,
            other_organizations=m.other_organizations,
        )
        for m in await services.list_members(db_session, actor)
    ]


@post("/api/v1/me/invitations/{invitation_id:uuid}/accept", status_code=200)
async def accept_invitation(
    invitation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> MembershipOut:
    """Accept an invitation: the signed-in account becomes a member of the inviting organization.

    Pending invitations are listed in `GET /api/v1/me`; only the account they were made for can answer them.
    The membership takes the invited role; sign in again choosing that organization to act there. Audited.
    """
    membership, organization = await services.accept_invitation(db_session, actor, invitation_id)
    return MembershipOut(
        organization_id=organization.id, organization_name=organization.name, role=membership.role.value
    )


@post("/api/v1/me/invitations/{invitation_id:uuid}/decline", status_code=204)
async def decline_invitation(invitation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """Decline an invitation: it is deleted and no membership is made.

    Only the account it was made for can decline it; the inviting organization is not told.
    """
    await services.decline_invitation(db_session, actor, invitation_id)


@get("/api/v1/specialists")
async def list_specialists(
    db_session: DbSession,
    actor: CurrentActor,
    profession: FromQuery[Profession | None] = None,
    language: LanguageQuery = None,
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


@post(
    "/api/v1/users/{user_id:uuid}/deactivate",
    status_code=200,
    opt={"roles": (Role.admin,)},
    responses=problems({409: "An admin cannot switch themself off."}),
)
async def deactivate_user(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> MemberOut:
    """Deactivate a user in the admin's own organization; other organizations keep the user.

    At once: the user's tokens stop working here; a specialist is no longer listed, searched or bookable here,
    and their link to a booked consultation opens no video room (the consultation shows
    ``specialist_available: false``).
    """
    return MemberOut.of(await memberships.deactivate_membership(db_session, actor, user_id))


@post(
    "/api/v1/users/{user_id:uuid}/reactivate",
    status_code=200,
    opt={"roles": (Role.admin,)},
    responses=problems({409: "An admin cannot switch themself on or off."}),
)
async def reactivate_user(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> MemberOut:
    """Reactivate a user in the admin's own organization.

    The user can sign in and act here again; a specialist is listed and bookable again. Audited.
    """
    return MemberOut.of(await memberships.reactivate_membership(db_session, actor, user_id))


@delete(
    "/api/v1/users/{user_id:uuid}/membership",
    status_code=204,
    opt={"roles": (Role.admin,)},
    responses=problems({409: "An admin cannot end their own membership."}),
)
async def end_membership(user_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> None:
    """End a user's membership in the admin's organization for good.

    The account and its other memberships stay; the audit trail keeps who ended it and when.
    """
    await memberships.end_membership(db_session, actor, user_id)
