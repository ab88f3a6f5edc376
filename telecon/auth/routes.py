from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.datastructures import State
from litestar.params import JSONBody
from litestar.security.jwt import JWTAuth, Token

from telecon.addresses import client_address
from telecon.auth import services
from telecon.openapi import problems
from telecon.organizations import services as organizations
from telecon.organizations.models import User
from telecon.organizations.schemas import InvitationOut, MembershipOut
from telecon.schemas import Email, Out, Password, Strict
from telecon.settings import Settings
from telecon.web import CurrentActor, DbSession, current_time


class LoginIn(Strict):
    email: Email
    password: Password
    organization_id: uuid.UUID | None = None


class TokenOut(Out):
    access_token: str
    token_type: str
    expires_in: int
    organization_id: uuid.UUID
    role: str


class MeOut(Out):
    id: uuid.UUID
    email: str
    display_name: str
    organization_id: uuid.UUID
    role: str
    profession: str | None
    languages: list[str]
    timezone: str
    memberships: list[MembershipOut]
    invitations: list[InvitationOut]
    """Organizations that invited this account; nothing changes until it accepts one."""


@post(
    "/api/v1/auth/login",
    opt={"public": True},
    status_code=200,
    responses=problems(
        {
            401: "The email or the password is wrong; both get the same answer.",
            429: "Too many failed logins for this account or from this address; `Retry-After` says when to retry.",
        }
    ),
)
async def login(
    request: Request[Any, Any, Any],
    data: JSONBody[LoginIn],
    db_session: DbSession,
    state: State,
) -> TokenOut:
    """Log in: exchange email and password for a bearer token.

    Send the token as `Authorization: Bearer <token>`; it expires after `expires_in` seconds. A person who
    belongs to several organizations names the one to act in with `organization_id`. Any wrong
    combination of email and password gets the same answer, and failures are throttled.
    """
    # Set by ``create_app``; see ``telecon.app`` for why they are state, not dependencies.
    settings: Settings = state.settings
    jwt_auth: JWTAuth[Any, Token] = state.jwt_auth
    actor = await services.authenticate(
        db_session,
        email=data.email,
        password=data.password,
        remote_address=client_address(request),
        organization_id=data.organization_id,
        policy=state.login_policy,
        passwords=state.passwords,
        now=current_time(state),
    )
    if actor is None:
        await db_session.commit()  # the failure must count even though the request fails
    actor = services.require_actor(actor)
    token = jwt_auth.create_token(identifier=str(actor.user_id), token_extras={"org": str(actor.organization_id)})
    return TokenOut(
        access_token=token,
        token_type="bearer",  # noqa: S106
        expires_in=settings.access_token_minutes * 60,
        organization_id=actor.organization_id,
        role=actor.role.value,
    )


@get("/api/v1/me")
async def me(db_session: DbSession, actor: CurrentActor) -> MeOut:
    """Who the token belongs to: the user, the role in the token's organization, all memberships.

    A client uses it to show the right home page; `memberships` lists the organizations one may log in to.
    """
    user = await db_session.get_one(User, actor.user_id)
    memberships = await organizations.memberships_of(db_session, user.id)
    return MeOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        organization_id=actor.organization_id,
        role=actor.role.value,
        profession=user.profession.value if user.profession else None,
        languages=user.languages,
        timezone=user.timezone,
        memberships=[
            MembershipOut(organization_id=o.id, organization_name=o.name, role=m.role.value) for m, o in memberships
        ],
        invitations=[
            InvitationOut(
                id=i.id, organization_id=o.id, organization_name=o.name, role=i.role.value, invited_at=i.created_at
            )
            for i, o in await organizations.pending_invitations(db_session, user.id)
        ],
    )
