"""The booking's fast context query and the single lookups agree on who counts, for every way of not counting.

Both are built from ``telecon.organizations.eligibility``; these tests hold them to it on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Actor, Role
from telecon.errors import NotAuthenticated, NotFound
from telecon.organizations import services as organizations
from telecon.organizations.models import Membership, Profession, User
from telecon.scheduling.booking import book_consultation
from telecon.scheduling.links import JoinLinks, derive_link_key
from telecon.scheduling.services import SchedulingPolicy, get_consultation, read_slots
from tests.conftest import World, next_weekday, now, seed_world

pytestmark = pytest.mark.dates  # bookings lie a week or two after the test day
POLICY = SchedulingPolicy(links=JoinLinks(derive_link_key("x" * 32), "http://telecon.test"))
Change = Callable[[AsyncSession, World, uuid.UUID], Awaitable[None]]


async def deactivated(session: AsyncSession, world: World, user_id: uuid.UUID) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.user_id == user_id, Membership.organization_id == world.organization_id)
        .values(deactivated_at=datetime.now(UTC))
    )


async def ended(session: AsyncSession, world: World, user_id: uuid.UUID) -> None:
    await session.execute(
        delete(Membership).where(Membership.user_id == user_id, Membership.organization_id == world.organization_id)
    )


async def account_switched_off(session: AsyncSession, world: World, user_id: uuid.UUID) -> None:
    await session.execute(update(User).where(User.id == user_id).values(is_active=False))


async def another_role(session: AsyncSession, world: World, user_id: uuid.UUID) -> None:
    await session.execute(
        update(Membership)
        .where(Membership.user_id == user_id, Membership.organization_id == world.organization_id)
        .values(role=Role.coach)
    )


async def only_in_another_organization(session: AsyncSession, world: World, user_id: uuid.UUID) -> None:
    other = world.other["organization_id"]
    await session.execute(
        update(Membership)
        .where(Membership.user_id == user_id, Membership.organization_id == world.organization_id)
        .values(organization_id=other)
    )


SPECIALIST_WAYS = [deactivated, ended, account_switched_off, another_role, only_in_another_organization]
CALLER_WAYS = [deactivated, ended, account_switched_off]


def start_on(weekday: int, hour: int) -> datetime:
    day = next_weekday(weekday)
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def coach_of(session: AsyncSession, world: World) -> Actor:
    coach_id = await session.scalar(select(User.id).where(User.email == world.coach))
    assert coach_id is not None
    return Actor(coach_id, world.organization_id, Role.coach)


async def book(session: AsyncSession, actor: Actor, world: World, starts_at: datetime) -> uuid.UUID:
    booking = await book_consultation(
        session,
        actor,
        POLICY,
        participant_id=world.participant_id,
        specialist_id=world.specialist_id,
        consultation_type_id=world.type_id,
        starts_at=starts_at,
        purpose=None,
        now=now(),
    )
    return booking.view.consultation.id


@pytest.fixture
async def two_worlds(sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    world = await seed_world(sessionmaker)
    other = await seed_world(sessionmaker, name="Jobcenter Other", prefix="other-")
    world.other["organization_id"] = other.organization_id
    return world


@pytest.mark.parametrize("change", SPECIALIST_WAYS, ids=lambda change: change.__name__)
async def test_an_ineligible_specialist_is_refused_by_the_booking_query_and_every_lookup(
    sessionmaker: async_sessionmaker[AsyncSession], two_worlds: World, change: Change
) -> None:
    world = two_worlds
    # 9:00 UTC is 10:00 or 11:00 in Berlin, inside the seeded 9-12 hours.
    async with sessionmaker() as session, session.begin():
        actor = await coach_of(session, world)
        earlier = await book(session, actor, world, start_on(0, 9))  # while the specialist still counts
    async with sessionmaker() as session, session.begin():
        await change(session, world, world.specialist_id)

    async with sessionmaker() as session, session.begin():
        # The fast query finds no row, and the single lookup behind its fallback names the specialist.
        with pytest.raises(NotFound) as refused:
            await book(session, actor, world, start_on(1, 9))
        assert refused.value.field == "specialist_id"
        with pytest.raises(NotFound):
            await organizations.get_specialist(session, world.organization_id, world.specialist_id)
        listed = await organizations.list_specialists(session, world.organization_id)
        assert world.specialist_id not in {s.id for s in listed}
        assert world.psychologist_id in {s.id for s in listed}
        window = {
            "consultation_type_id": world.type_id,
            "start": start_on(1, 0),
            "end": start_on(1, 0) + timedelta(days=1),
        }
        with pytest.raises(NotFound):
            await read_slots(session, world.organization_id, POLICY, specialist_id=world.specialist_id, **window)
        physicians = await read_slots(session, world.organization_id, POLICY, profession=Profession.physician, **window)
        assert physicians.specialists == []
        assert physicians.slots() == []
        assert (await get_consultation(session, actor, earlier)).specialist_available is False


@pytest.mark.parametrize("change", CALLER_WAYS, ids=lambda change: change.__name__)
async def test_an_ineligible_caller_is_refused_by_the_booking_query_and_the_token_check(
    sessionmaker: async_sessionmaker[AsyncSession], two_worlds: World, change: Change
) -> None:
    world = two_worlds
    async with sessionmaker() as session, session.begin():
        actor = await coach_of(session, world)
        assert await organizations.role_in(session, actor.user_id, world.organization_id) is Role.coach
        await change(session, world, actor.user_id)
    async with sessionmaker() as session, session.begin():
        assert await organizations.role_in(session, actor.user_id, world.organization_id) is None
        with pytest.raises(NotAuthenticated):
            await book(session, actor, world, start_on(0, 9))
        # The same when the fast query finds nothing for another reason: who asks is checked first.
        with pytest.raises(NotAuthenticated):
            await book_consultation(
                session,
                actor,
                POLICY,
                participant_id=uuid.uuid4(),
                specialist_id=world.specialist_id,
                consultation_type_id=world.type_id,
                starts_at=start_on(0, 9) + timedelta(hours=1),
                purpose=None,
            )
