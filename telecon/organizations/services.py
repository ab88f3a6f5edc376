from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations import eligibility
from telecon.organizations.models import Membership, MembershipInvitation, Organization, Profession, User
from telecon.passwords import Passwords, hash_password


@cache
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """The zone of an IANA name; looked up in the database's list first, so no odd name reaches the disk."""
    if name not in _known_zones():
        raise InvalidInput("unknown time zone: use an IANA name such as Europe/Berlin", field=field)
    return ZoneInfo(name)


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def get_or_create_organization(
    session: AsyncSession, name: str, *, timezone: str = "Europe/Berlin", default_language: str = "de"
) -> Organization:
    organization = await session.scalar(select(Organization).where(Organization.name == name))
    if organization is None:
        check_timezone(timezone)
        organization = Organization(name=name, timezone=timezone, default_language=default_language)
        session.add(organization)
        await session.flush()
    return organization


async def create_user(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    email: str,
    role: Role,
    display_name: str,
    password: str | None = None,
    password_hash: str | None = None,
    profession: Profession | None = None,
    languages: Sequence[str] = ("de",),
    timezone: str = "Europe/Berlin",
) -> User:
    """Create a new account with its first membership; an address that already has an account is a conflict.

    Joining an existing account to another organization is a separate, explicit act (``add_membership``
    for operators, ``add_user``'s invitation for admins), never a side effect of creating.
    """
    email = normalise_email(email)
    _check_profile(role, profession, timezone)
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("an account with this email already exists", field="email")
    if password_hash is None:
        if not password:
            raise InvalidInput("a password is required", field="password")
        password_hash = hash_password(password)
    return await _new_account(
        session,
        organization_id=organization_id,
        email=email,
        role=role,
        display_name=display_name,
        password_hash=password_hash,
        profession=profession,
        languages=languages,
        timezone=timezone,
    )


async def add_membership(session: AsyncSession, *, organization_id: uuid.UUID, email: str, role: Role) -> User:
    """An operator (the command line) makes an existing account a member of one more organization.

    Nothing of the account changes: not its password, name, profession, languages or time zone. Audited
    as ``membership.added_by_operator`` with no acting user, since the operator has no account.
    """
    user = await session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        raise NotFound("no account has this email", field="email")
    if await membership_of(session, user.id, organization_id) is not None:
        raise Conflict("this account is already a member of the organization", field="email")
    if role is Role.specialist and user.profession is None:
        raise InvalidInput("this account has no profession, so it cannot be a specialist", field="profession")
    session.add(Membership(user_id=user.id, organization_id=organization_id, role=role))
    await session.execute(
        delete(MembershipInvitation).where(
            MembershipInvitation.user_id == user.id, MembershipInvitation.organization_id == organization_id
        )
    )
    audit.record(
        session, None, "membership.added_by_operator", "user", user.id, organization_id=organization_id, role=role.value
    )
    await session.flush()
    return user


async def add_user(
    session: AsyncSession,
    actor: Actor,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str,
    profession: Profession | None,
    languages: Sequence[str],
    timezone: str,
) -> uuid.UUID:
    """An admin adds someone to their organization by email; the id of the person's account is returned.

    The answer must not tell the admin whether the address already has an account in another organization
    (another job centre's staff list is none of their business). So a new address gets an account and a
    membership, while an address that already has an account gets a pending invitation, which only the
    account holder can accept (``GET /api/v1/me``); its password and profile are never touched. Both cost
    one argon2 hash, answer with the same status and fields, and leave the same ``user.added`` event in the
    organization's audit trail. An address that is already a member of the admin's own organization, or
    invited to it, is a 409 either way.

    What stays visible afterwards, honestly: until the holder accepts, an invited account is not in the
    organization (the id answers 404 like any unknown id, it is missing from the specialist list) and the
    password the admin chose does not log in. So an admin who checks can tell, after the fact, that the
    address had an account somewhere; not where, not whose, and without any access to it. Likewise, once
    the holder declines, the address can be invited again (201 where a created account's second request is
    409). Closing that too needs every new account to be activated by its holder through an emailed link.
    """
    actor.require(Role.admin)
    email = normalise_email(email)
    _check_profile(role, profession, timezone)
    existing = await session.scalar(select(User).where(User.email == email))
    if existing is not None and await _member_or_invited(session, existing.id, actor.organization_id):
        raise Conflict("this address is already a member of your organization or invited to it", field="email")
    password_hash = await passwords.hash(password)  # for an invitation too: both answers take as long
    if existing is None:
        user = await _new_account(
            session,
            organization_id=actor.organization_id,
            email=email,
            role=role,
            display_name=display_name,
            password_hash=password_hash,
            profession=profession,
            languages=languages,
            timezone=timezone,
        )
        user_id = user.id
    else:
        user_id = existing.id
        invitation = MembershipInvitation(
            user_id=user_id, organization_id=actor.organization_id, role=role, invited_by_id=actor.user_id
        )
        session.add(invitation)
        await _flush_unless_taken(session)
        invited = audit.event(
            actor,
            "membership.invited",
            "user",
            user_id,
            invitation_id=str(invitation.id),
            inviting_organization_id=str(actor.organization_id),
            role=role.value,
        )
        # For operators only (no organization): in the inviting organization's trail it would tell the admin
        # that the address had an account. The holder's acceptance is recorded there.
        invited.organization_id = None
        session.add(invited)
    audit.record(session, actor, "user.added", "user", user_id, role=role.value)
    return user_id


async def pending_invitations(
    session: AsyncSession, user_id: uuid.UUID
) -> list[tuple[MembershipInvitation, Organization]]:
    rows = await session.execute(
        select(MembershipInvitation, Organization)
        .join(Organization, Organization.id == MembershipInvitation.organization_id)
        .where(MembershipInvitation.user_id == user_id)
        .order_by(MembershipInvitation.created_at)
    )
    return [(i, o) for i, o in rows]


async def accept_invitation(
    session: AsyncSession, actor: Actor, invitation_id: uuid.UUID
) -> tuple[Membership, Organization]:
    """The account holder accepts an organization's invitation: only now does the membership exist."""
    invitation, organization = await _own_invitation(session, actor, invitation_id)
    if await membership_of(session, actor.user_id, invitation.organization_id) is not None:
        raise Conflict("you are already a member of this organization", field="invitation_id")
    membership = Membership(user_id=actor.user_id, organization_id=invitation.organization_id, role=invitation.role)
    session.add(membership)
    await session.delete(invitation)
    audit.record(
        session,
        actor,
        "membership.accepted",
        "user",
        actor.user_id,
        organization_id=invitation.organization_id,
        role=invitation.role.value,
    )
    await session.flush()
    return membership, organization


async def decline_invitation(session: AsyncSession, actor: Actor, invitation_id: uuid.UUID) -> None:
    """The account holder declines; the inviting organization is not told (the invitation just stays unanswered)."""
    invitation, _ = await _own_invitation(session, actor, invitation_id)
    declined = audit.event(
        actor,
        "membership.declined",
        "user",
        actor.user_id,
        invitation_id=str(invitation.id),
        inviting_organization_id=str(invitation.organization_id),
    )
    declined.organization_id = None  # for operators only, like the invitation itself
    session.add(declined)
    await session.delete(invitation)
    await session.flush()


async def _own_invitation(
    session: AsyncSession, actor: Actor, invitation_id: uuid.UUID
) -> tuple[MembershipInvitation, Organization]:
    row = (
        await session.execute(
            select(MembershipInvitation, Organization)
            .join(Organization, Organization.id == MembershipInvitation.organization_id)
            .where(MembershipInvitation.id == invitation_id, MembershipInvitation.user_id == actor.user_id)
        )
    ).first()
    if row is None:
        raise NotFound("no such invitation", field="invitation_id")
    return row[0], row[1]


async def _member_or_invited(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> bool:
    if await membership_of(session, user_id, organization_id) is not None:
        return True
    invited = await session.scalar(
        select(MembershipInvitation.id).where(
            MembershipInvitation.user_id == user_id, MembershipInvitation.organization_id == organization_id
        )
    )
    return invited is not None


def _check_profile(role: Role, profession: Profession | None, timezone: str) -> None:
    check_timezone(timezone)
    if role is Role.specialist and profession is None:
        raise InvalidInput("a specialist needs a profession", field="profession")


async def _new_account(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    email: str,
    role: Role,
    display_name: str,
    password_hash: str,
    profession: Profession | None,
    languages: Sequence[str],
    timezone: str,
) -> User:
    user = User(
        email=email,
        display_name=display_name,
        password_hash=password_hash,
        profession=profession,
        languages=list(languages),
        timezone=timezone,
    )
    session.add(user)
    await _flush_unless_taken(session)
    session.add(Membership(user_id=user.id, organization_id=organization_id, role=role))
    await session.flush()
    return user


async def _flush_unless_taken(session: AsyncSession) -> None:
    """Flush a new account or invitation; the same address added by a request running at the same moment
    is a 409, as it would have been a moment later (the request's transaction is rolled back with it)."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict("this address was added at the same moment; look it up again", field="email") from None


# Built once: every authenticated request asks it (see telecon.app.provide_actor).
_ROLE_IN = eligibility.current_role(bindparam("user_id"), bindparam("organization_id"))


async def role_in(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> Role | None:
    """The user's role in the organization, or ``None`` when the membership is gone or switched off."""
    # On the session's connection: a plain Core query skips the ORM's execution path (measured: it matters here).
    connection = await session.connection()
    role: Role | None = await connection.scalar(_ROLE_IN, {"user_id": user_id, "organization_id": organization_id})
    return role


async def membership_of(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> Membership | None:
    """The user's membership in the organization while it counts (see ``eligibility.active_member_of``)."""
    return await session.scalar(
        select(Membership).join(User, eligibility.active_member_of(organization_id)).where(User.id == user_id)
    )


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Membership, Organization]]:
    """The organizations the user may act in now, oldest membership first."""
    rows = await session.execute(
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.organization_id)
        .join(User, eligibility.active_member_of(Organization.id))
        .where(User.id == user_id)
        .order_by(Membership.created_at, Organization.name)
    )
    return [(m, o) for m, o in rows]


async def list_specialists(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    profession: Profession | None = None,
    professions: Sequence[str] | None = None,
    language: str | None = None,
) -> list[User]:
    query = (
        select(User).join(Membership, eligibility.bookable_specialist_of(organization_id)).order_by(User.display_name)
    )
    if profession is not None:
        query = query.where(User.profession == profession)
    if professions:
        query = query.where(User.profession.in_([Profession(p) for p in professions]))
    specialists = list(await session.scalars(query))
    if language is not None:
        # Few specialists per organization; filtering the JSON list here keeps the query portable.
        specialists = [s for s in specialists if language in s.languages]
    return specialists


async def get_specialist(session: AsyncSession, organization_id: uuid.UUID, specialist_id: uuid.UUID) -> User:
    """A bookable specialist of the organization; a deactivated or former one is not found, like a stranger."""
    user = await session.scalar(
        select(User)
        .join(Membership, eligibility.bookable_specialist_of(organization_id))
        .where(User.id == specialist_id)
    )
    if user is None:
        raise NotFound("no such specialist", field="specialist_id")
    return user


async def own_specialist(session: AsyncSession, actor: Actor, specialist_id: uuid.UUID) -> User:
    """The acting specialist themself: only they change their own calendar (hours, absences, connected calendar);
    anyone else's is just not found."""
    specialist = await get_specialist(session, actor.organization_id, specialist_id)
    actor.require(Role.specialist)
    if specialist.id != actor.user_id:
        raise NotFound("no such specialist", field="specialist_id")
    return specialist


@dataclass(frozen=True, slots=True)
class Member:
    """A user's membership in the admin's organization, as the admin's list shows it."""

    user: User
    membership: Membership
    other_organizations: int
    """For a specialist: how many other organizations they serve now (a network's shared specialist); else 0.

    A count only: which organizations those are, and anything of their data, stays theirs.
    """


async def list_members(session: AsyncSession, actor: Actor) -> list[Member]:
    """Everyone with a membership in the admin's organization, switched off or not, by name.

    Pending invitations are not members and are not listed: an invitation exists only for an address that
    already had an account, which ``add_user`` keeps from the inviting admin (see there).
    """
    actor.require(Role.admin)
    rows = (
        await session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == actor.organization_id)
            .order_by(User.display_name, User.email)
        )
    ).all()
    specialists = [user.id for membership, user in rows if membership.role is Role.specialist]
    shared: dict[uuid.UUID, int] = {}
    if specialists:
        counted = await session.execute(
            select(Membership.user_id, func.count())
            .where(
                Membership.user_id.in_(specialists),
                Membership.organization_id != actor.organization_id,
                Membership.role == Role.specialist,
                Membership.deactivated_at.is_(None),
            )
            .group_by(Membership.user_id)
        )
        shared = {user_id: int(count) for user_id, count in counted}
    return [Member(user, membership, shared.get(user.id, 0)) for membership, user in rows]
