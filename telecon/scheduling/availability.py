"""Consultation types and the specialists' own availability (weekly rules and date overrides)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession, User
from telecon.scheduling.models import AvailabilityOverride, AvailabilityRule, ConsultationType, OverrideKind


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    weekday: int
    start: time
    end: time


async def create_consultation_type(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str,
    duration_minutes: int,
    professions: Sequence[Profession],
    buffer_minutes: int,
) -> ConsultationType:
    actor.require(Role.admin)
    consultation_type = ConsultationType(
        organization_id=actor.organization_id,
        name=name,
        duration_minutes=duration_minutes,
        professions=sorted({p.value for p in professions}),
        buffer_minutes=buffer_minutes,
    )
    session.add(consultation_type)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a consultation type with this name already exists", field="name") from None
    audit.record(session, actor, "consultation_type.created", "consultation_type", consultation_type.id)
    return consultation_type


async def list_consultation_types(session: AsyncSession, actor: Actor) -> list[ConsultationType]:
    result = await session.scalars(
        select(ConsultationType)
        .where(ConsultationType.organization_id == actor.organization_id)
        .order_by(ConsultationType.name)
    )
    return list(result)


async def get_consultation_type(
    session: AsyncSession, organization_id: uuid.UUID, consultation_type_id: uuid.UUID
) -> ConsultationType:
    consultation_type = await session.scalar(
        select(ConsultationType).where(
            ConsultationType.id == consultation_type_id, ConsultationType.organization_id == organization_id
        )
    )
    if consultation_type is None:
        raise NotFound("no such consultation type", field="consultation_type_id")
    return consultation_type


async def _own_specialist_profile(session: AsyncSession, actor: Actor, specialist_id: uuid.UUID) -> User:
    """Only specialists edit availability, and only their own; someone else's is just not found."""
    return await organizations.own_specialist(session, actor, specialist_id)


async def set_weekly_availability(
    session: AsyncSession,
    actor: Actor,
    specialist_id: uuid.UUID,
    *,
    timezone: str,
    weekly: Sequence[WeeklyWindow],
) -> list[AvailabilityRule]:
    """Replace the specialist's weekly rules; they apply in every organization the specialist serves."""
    specialist = await _own_specialist_profile(session, actor, specialist_id)
    organizations.check_timezone(timezone)
    for index, window in enumerate(weekly):
        if not 0 <= window.weekday <= 6:
            raise InvalidInput("weekday must be 0 (Monday) to 6 (Sunday)", field=f"weekly[{index}].weekday")
        if window.start >= window.end:
            raise InvalidInput("a window must end after it starts", field=f"weekly[{index}].end")
    specialist.timezone = timezone
    await session.execute(delete(AvailabilityRule).where(AvailabilityRule.specialist_id == specialist.id))
    rules = [
        AvailabilityRule(specialist_id=specialist.id, weekday=w.weekday, start_time=w.start, end_time=w.end)
        for w in sorted(weekly, key=lambda w: (w.weekday, w.start))
    ]
    session.add_all(rules)
    await session.flush()
    audit.record(session, actor, "availability.replaced", "user", specialist.id, windows=len(rules))
    return rules


async def weekly_availability(
    session: AsyncSession, actor: Actor, specialist_id: uuid.UUID
) -> tuple[User, list[AvailabilityRule]]:
    specialist = await organizations.get_specialist(session, actor.organization_id, specialist_id)
    rules = await session.scalars(
        select(AvailabilityRule)
        .where(AvailabilityRule.specialist_id == specialist.id)
        .order_by(AvailabilityRule.weekday, AvailabilityRule.start_time)
    )
    return specialist, list(rules)


async def add_override(
    session: AsyncSession,
    actor: Actor,
    specialist_id: uuid.UUID,
    *,
    starts_at: datetime,
    ends_at: datetime,
    kind: OverrideKind,
) -> AvailabilityOverride:
    specialist = await _own_specialist_profile(session, actor, specialist_id)
    if starts_at >= ends_at:
        raise InvalidInput("an override must end after it starts", field="end")
    override = AvailabilityOverride(
        specialist_id=specialist.id, starts_at=starts_at.astimezone(UTC), ends_at=ends_at.astimezone(UTC), kind=kind
    )
    session.add(override)
    await session.flush()
    audit.record(session, actor, "availability.override_added", "user", specialist.id, kind=kind.value)
    return override


async def remove_override(
    session: AsyncSession, actor: Actor, specialist_id: uuid.UUID, override_id: uuid.UUID
) -> None:
    """Take an absence or extra hours off a specialist's own calendar (a holiday called off, a Saturday cancelled).

    Consultations already booked in removed extra hours stay booked: only future slots change.
    """
    specialist = await _own_specialist_profile(session, actor, specialist_id)
    removed = await session.execute(
        delete(AvailabilityOverride)
        .where(AvailabilityOverride.id == override_id, AvailabilityOverride.specialist_id == specialist.id)
        .returning(AvailabilityOverride.kind)
    )
    kind = removed.scalar_one_or_none()
    if kind is None:
        raise NotFound("no such absence or extra hours", field="override_id")
    audit.record(session, actor, "availability.override_removed", "user", specialist.id, kind=kind.value)


async def list_overrides(
    session: AsyncSession, actor: Actor, specialist_id: uuid.UUID, *, start: datetime, end: datetime
) -> list[AvailabilityOverride]:
    specialist = await organizations.get_specialist(session, actor.organization_id, specialist_id)
    result = await session.scalars(
        select(AvailabilityOverride)
        .where(
            AvailabilityOverride.specialist_id == specialist.id,
            AvailabilityOverride.starts_at < end,
            AvailabilityOverride.ends_at > start,
        )
        .order_by(AvailabilityOverride.starts_at)
    )
    return list(result)
