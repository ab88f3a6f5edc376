from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.audit import services as audit
from telecon.auth.actor import Actor
from telecon.auth.passwords import hash_password
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations.models import Membership, Organization, Profession, Role, User


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
    join_existing: bool = False,
) -> User:
    """Create a staff user with a membership; ``join_existing`` adds a known user to one more organization.

    A specialist may serve several organizations of a network; the API never joins existing users, so one
    organization's admin cannot learn which addresses another organization uses.
    """
    email = normalise_email(email)
    check_timezone(timezone)
    if role is Role.specialist and profession is None:
        raise InvalidInput("a specialist needs a profession", field="profession")
    user = await session.scalar(select(User).where(User.email == email))
    if user is not None and not join_existing:
        raise Conflict("a user with this email already exists", field="email")
    if user is None:
        if password_hash is None:
            if not password:
                raise InvalidInput("a password is required", field="password")
            password_hash = hash_password(password)
        user = User(
            email=email,
            display_name=display_name,
            password_hash=password_hash,
            profession=profession,
            languages=list(languages),
            timezone=timezone,
        )
        session.add(user)
        await session.flush()
    else:
        membership = await session.scalar(
            select(Membership).where(Membership.user_id == user.id, Membership.organization_id == organization_id)
        )
        if membership is not None:
            raise Conflict("this user is already a member of the organization", field="email")
    session.add(Membership(user_id=user.id, organization_id=organization_id, role=role))
    await session.flush()
    return user


async def add_user(
    session: AsyncSession,
    actor: Actor,
    *,
    email: str,
    password: str,
    role: Role,
    display_name: str,
    profession: Profession | None,
    languages: Sequence[str],
    timezone: str,
) -> User:
    actor.require(Role.admin)
    user = await create_user(
        session,
        organization_id=actor.organization_id,
        email=email,
        password=password,
        role=role,
        display_name=display_name,
        profession=profession,
        languages=languages,
        timezone=timezone,
    )
    audit.record(session, actor, "user.created", "user", user.id, role=role.value)
    return user


# Built once: every authenticated request asks it (see telecon.web.provide_actor).
_ROLE_IN = select(Membership.role).where(
    Membership.user_id == bindparam("user_id"), Membership.organization_id == bindparam("organization_id")
)


async def role_in(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> Role | None:
    """The user's role in the organization, or ``None`` when the membership is gone."""
    # On the session's connection: a plain Core query skips the ORM's execution path (measured: it matters here).
    connection = await session.connection()
    role: Role | None = await connection.scalar(_ROLE_IN, {"user_id": user_id, "organization_id": organization_id})
    return role


async def membership_of(session: AsyncSession, user_id: uuid.UUID, organization_id: uuid.UUID) -> Membership | None:
    return await session.scalar(
        select(Membership).where(Membership.user_id == user_id, Membership.organization_id == organization_id)
    )


async def memberships_of(session: AsyncSession, user_id: uuid.UUID) -> list[tuple[Membership, Organization]]:
    rows = await session.execute(
        select(Membership, Organization)
        .join(Organization, Organization.id == Membership.organization_id)
        .where(Membership.user_id == user_id)
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
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.organization_id == organization_id,
            Membership.role == Role.specialist,
            User.is_active.is_(True),
        )
        .order_by(User.display_name)
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
    user = await session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(
            User.id == specialist_id,
            Membership.organization_id == organization_id,
            Membership.role == Role.specialist,
        )
    )
    if user is None:
        raise NotFound("no such specialist", field="specialist_id")
    return user
