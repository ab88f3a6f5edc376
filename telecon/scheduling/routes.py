from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, Response, get, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from telecon.access import Actor
from telecon.organizations.models import Profession
from telecon.scheduling import availability, booking, services
from telecon.scheduling.booking import Guest
from telecon.scheduling.models import Attendee, ConsultationStatus
from telecon.scheduling.schemas import (
    AvailabilityIn,
    AvailabilityOut,
    BookingIn,
    CancelIn,
    ConsultationOut,
    ConsultationSummaryOut,
    ConsultationTypeCreate,
    ConsultationTypeOut,
    OverrideIn,
    OverrideOut,
    RescheduleIn,
    SlotOut,
    SlotsOut,
    parse_clock,
)
from telecon.scheduling.services import SchedulingPolicy
from telecon.video.services import visible_join_url
from telecon.web import CurrentActor, DbSession, current_time, require_aware, token_caller


def _policy(state: State) -> SchedulingPolicy:
    """Set by ``create_app``; see ``telecon.app`` for why it is state, not a dependency."""
    policy: SchedulingPolicy = state.scheduling_policy
    return policy


IdempotencyKey = Annotated[str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200)]


def _join_urls(policy: SchedulingPolicy, actor: Actor) -> Callable[[Attendee], str | None]:
    return lambda attendee: visible_join_url(policy.links, actor, attendee)


@get("/api/v1/consultation-types")
async def list_consultation_types(db_session: DbSession, actor: CurrentActor) -> list[ConsultationTypeOut]:
    return [ConsultationTypeOut.of(t) for t in await availability.list_consultation_types(db_session, actor)]


@post("/api/v1/consultation-types")
async def create_consultation_type(
    data: JSONBody[ConsultationTypeCreate], db_session: DbSession, actor: CurrentActor
) -> ConsultationTypeOut:
    created = await availability.create_consultation_type(
        db_session,
        actor,
        name=data.name,
        duration_minutes=data.duration_minutes,
        professions=data.professions,
        buffer_minutes=data.buffer_minutes,
    )
    return ConsultationTypeOut.of(created)


@put("/api/v1/specialists/{specialist_id:uuid}/availability")
async def set_availability(
    specialist_id: FromPath[uuid.UUID], data: JSONBody[AvailabilityIn], db_session: DbSession, actor: CurrentActor
) -> AvailabilityOut:
    """Replace the weekly rules, given in the specialist's own time zone; weekday 0 is Monday."""
    rules = await availability.set_weekly_availability(
        db_session,
        actor,
        specialist_id,
        timezone=data.timezone,
        weekly=[availability.WeeklyWindow(w.weekday, parse_clock(w.start), parse_clock(w.end)) for w in data.weekly],
    )
    return AvailabilityOut.of(specialist_id, data.timezone, rules)


@get("/api/v1/specialists/{specialist_id:uuid}/availability")
async def get_availability(
    specialist_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> AvailabilityOut:
    specialist, rules = await availability.weekly_availability(db_session, actor, specialist_id)
    return AvailabilityOut.of(specialist.id, specialist.timezone, rules)


@post("/api/v1/specialists/{specialist_id:uuid}/overrides")
async def add_override(
    specialist_id: FromPath[uuid.UUID], data: JSONBody[OverrideIn], db_session: DbSession, actor: CurrentActor
) -> OverrideOut:
    """An absence removes time (holiday, illness); extra hours add time outside the weekly rules."""
    override = await availability.add_override(
        db_session, actor, specialist_id, starts_at=data.start, ends_at=data.end, kind=data.kind
    )
    return OverrideOut.of(override)


@get("/api/v1/specialists/{specialist_id:uuid}/overrides")
async def list_overrides(
    specialist_id: FromPath[uuid.UUID],
    start: FromQuery[datetime],
    end: FromQuery[datetime],
    db_session: DbSession,
    actor: CurrentActor,
) -> list[OverrideOut]:
    require_aware(start, "start")
    require_aware(end, "end")
    found = await availability.list_overrides(db_session, actor, specialist_id, start=start, end=end)
    return [OverrideOut.of(o) for o in found]


@get("/api/v1/slots")
async def find_slots(
    consultation_type_id: FromQuery[uuid.UUID],
    start: FromQuery[datetime],
    end: FromQuery[datetime],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    specialist_id: FromQuery[uuid.UUID | None] = None,
    profession: FromQuery[Profession | None] = None,
) -> SlotsOut:
    """Free start times of one specialist, or of every specialist of a profession the type allows."""
    policy = _policy(state)
    require_aware(start, "start")
    require_aware(end, "end")
    found = await services.find_slots(
        db_session,
        actor,
        policy,
        consultation_type_id=consultation_type_id,
        start=start,
        end=end,
        specialist_id=specialist_id,
        profession=profession,
        now=current_time(state),
    )
    return SlotsOut(slots=[SlotOut.of(s) for s in found])


@post("/api/v1/consultations")
async def book_consultation(
    request: Request[Any, Any, Any],
    data: JSONBody[BookingIn],
    db_session: DbSession,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> Response[ConsultationOut]:
    """Book a slot: 201 when created, 200 when the same ``Idempotency-Key`` and body came before."""
    # No CurrentActor here: the booking checks the caller's membership in its own first query.
    policy = _policy(state)
    booked = await booking.book_consultation(
        db_session,
        token_caller(request),
        policy,
        participant_id=data.participant_id,
        specialist_id=data.specialist_id,
        consultation_type_id=data.consultation_type_id,
        starts_at=data.start,
        purpose=data.purpose,
        invite_coach=data.invite_coach,
        guests=[Guest(g.name, g.email, g.language) for g in data.guests],
        idempotency_key=idempotency_key,
        now=current_time(state),
    )
    body = ConsultationOut.of_view(booked.view, _join_urls(policy, booked.actor))
    return Response(body, status_code=201 if booked.created else 200)


@get("/api/v1/consultations")
async def list_consultations(
    db_session: DbSession,
    actor: CurrentActor,
    start: FromQuery[datetime | None] = None,
    end: FromQuery[datetime | None] = None,
    specialist_id: FromQuery[uuid.UUID | None] = None,
    participant_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[ConsultationStatus | None] = None,
) -> list[ConsultationSummaryOut]:
    require_aware(start, "start")
    require_aware(end, "end")
    found = await services.list_consultations(
        db_session,
        actor,
        start=start,
        end=end,
        specialist_id=specialist_id,
        participant_id=participant_id,
        status=status,
    )
    return [ConsultationSummaryOut.of(c, available) for c, available in found]


@get("/api/v1/consultations/{consultation_id:uuid}")
async def get_consultation(
    consultation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> ConsultationOut:
    policy = _policy(state)
    return ConsultationOut.of_view(
        await services.get_consultation(db_session, actor, consultation_id), _join_urls(policy, actor)
    )


@post("/api/v1/consultations/{consultation_id:uuid}/reschedule", status_code=200)
async def reschedule_consultation(
    consultation_id: FromPath[uuid.UUID],
    data: JSONBody[RescheduleIn],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> ConsultationOut:
    policy = _policy(state)
    view = await services.reschedule_consultation(
        db_session, actor, policy, consultation_id, starts_at=data.start, now=current_time(state)
    )
    return ConsultationOut.of_view(view, _join_urls(policy, actor))


@post("/api/v1/consultations/{consultation_id:uuid}/cancel", status_code=200)
async def cancel_consultation(
    consultation_id: FromPath[uuid.UUID],
    data: JSONBody[CancelIn],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> ConsultationOut:
    policy = _policy(state)
    view = await services.cancel_consultation(db_session, actor, consultation_id, reason=data.reason)
    return ConsultationOut.of_view(view, _join_urls(policy, actor))
