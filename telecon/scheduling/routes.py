from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Annotated, Any

from litestar import Request, Response, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody

from telecon.access import Actor, Role
from telecon.db import end_reads
from telecon.openapi import problems
from telecon.organizations.models import Profession
from telecon.participants import services as participants
from telecon.participants.schemas import ParticipantOut, ParticipantUpdate
from telecon.scheduling import availability, booking, contacts, services
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
    NotificationOut,
    OverrideIn,
    OverrideOut,
    RescheduleIn,
    SlotOut,
    SlotsOut,
    parse_clock,
)
from telecon.scheduling.services import SchedulingPolicy, visible_join_url
from telecon.schemas import AwareDatetime
from telecon.web import CurrentActor, DbSession, current_time, token_caller


def policy_of(state: State) -> SchedulingPolicy:
    """Set by ``create_app``; see ``telecon.app`` for why it is state, not a dependency."""
    policy: SchedulingPolicy = state.scheduling_policy
    return policy


IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
]
BOOKERS = {"roles": services.BOOKERS}


def join_urls(policy: SchedulingPolicy, actor: Actor) -> Callable[[Attendee], str | None]:
    return lambda attendee: visible_join_url(policy.links, actor, attendee)


@get("/api/v1/consultation-types")
async def list_consultation_types(db_session: DbSession, actor: CurrentActor) -> list[ConsultationTypeOut]:
    """List the organization's consultation types.

    A type sets the duration, the buffer after it and the professions that may hold it.
    """
    return [ConsultationTypeOut.of(t) for t in await availability.list_consultation_types(db_session, actor)]


@post(
    "/api/v1/consultation-types",
    opt={"roles": (Role.admin,)},
    responses=problems({409: "A consultation type with this name already exists in the organization."}),
)
async def create_consultation_type(
    data: JSONBody[ConsultationTypeCreate], db_session: DbSession, actor: CurrentActor
) -> ConsultationTypeOut:
    """Add a consultation type, e.g. a 30-minute first consultation with a physician.

    An empty `professions` list allows every profession; `buffer_minutes` keeps the specialist free after it.
    """
    created = await availability.create_consultation_type(
        db_session,
        actor,
        name=data.name,
        duration_minutes=data.duration_minutes,
        professions=data.professions,
        buffer_minutes=data.buffer_minutes,
    )
    return ConsultationTypeOut.of(created)


@put("/api/v1/specialists/{specialist_id:uuid}/availability", opt={"roles": (Role.specialist,)})
async def set_availability(
    specialist_id: FromPath[uuid.UUID], data: JSONBody[AvailabilityIn], db_session: DbSession, actor: CurrentActor
) -> AvailabilityOut:
    """Replace a specialist's weekly availability.

    Specialists keep their own hours; anyone else's are not found. Times are wall-clock times in the given
    IANA `timezone` (so DST changes need no edit); weekday 0 is Monday.
    """
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
    """A specialist's weekly availability, in the specialist's own time zone.

    Free slots are these hours less absences, other consultations and the minimum notice; see `/slots`.
    """
    specialist, rules = await availability.weekly_availability(db_session, actor, specialist_id)
    return AvailabilityOut.of(specialist.id, specialist.timezone, rules)


@post("/api/v1/specialists/{specialist_id:uuid}/overrides", opt={"roles": (Role.specialist,)})
async def add_override(
    specialist_id: FromPath[uuid.UUID], data: JSONBody[OverrideIn], db_session: DbSession, actor: CurrentActor
) -> OverrideOut:
    """Add an absence or extra hours to a specialist's own calendar.

    An absence removes time (holiday, illness); extra hours add time outside the weekly rules. Times need
    an offset. Specialists change only their own calendar; anyone else's is not found.
    """
    override = await availability.add_override(
        db_session, actor, specialist_id, starts_at=data.start, ends_at=data.end, kind=data.kind
    )
    return OverrideOut.of(override)


@delete(
    "/api/v1/specialists/{specialist_id:uuid}/overrides/{override_id:uuid}",
    opt={"roles": (Role.specialist,)},
    status_code=204,
    responses=problems({404: "No such absence or extra hours in the specialist's own calendar."}),
)
async def remove_override(
    specialist_id: FromPath[uuid.UUID], override_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> None:
    """Remove an absence or extra hours from a specialist's own calendar.

    Consultations already booked in removed extra hours stay booked; only the slots offered from now on change.
    Specialists change only their own calendar; anyone else's is not found.
    """
    await availability.remove_override(db_session, actor, specialist_id, override_id)


@get("/api/v1/specialists/{specialist_id:uuid}/overrides")
async def list_overrides(
    specialist_id: FromPath[uuid.UUID],
    start: FromQuery[AwareDatetime],
    end: FromQuery[AwareDatetime],
    db_session: DbSession,
    actor: CurrentActor,
) -> list[OverrideOut]:
    """A specialist's absences and extra hours that overlap `start` to `end`.

    Both bounds need an offset, e.g. `2027-03-01T00:00:00+01:00`.
    """
    found = await availability.list_overrides(db_session, actor, specialist_id, start=start, end=end)
    return [OverrideOut.of(o) for o in found]


@get(
    "/api/v1/slots",
    responses=problems(
        {
            400: "`end` is not after `start`, the span is too long, or not exactly one of `specialist_id` and "
            "`profession` is given.",
            404: "No such consultation type or specialist in the caller's organization.",
        }
    ),
)
async def find_slots(
    consultation_type_id: FromQuery[uuid.UUID],
    start: FromQuery[AwareDatetime],
    end: FromQuery[AwareDatetime],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    specialist_id: FromQuery[uuid.UUID | None] = None,
    profession: FromQuery[Profession | None] = None,
) -> SlotsOut:
    """Find free start times for a consultation type.

    Give `specialist_id` for one specialist, or `profession` for every specialist of that profession whom
    the type allows. Slots respect the weekly hours, absences, other consultations with their buffers, the
    busy times of the specialist's own connected calendar and the minimum notice. `start` and `end` need an
    offset; the span is bounded.
    """
    search = await services.read_slots(
        db_session,
        actor.organization_id,
        policy_of(state),
        consultation_type_id=consultation_type_id,
        start=start,
        end=end,
        specialist_id=specialist_id,
        profession=profession,
        now=current_time(state),
    )
    await end_reads(db_session)  # no connection held while the slots are computed and encoded
    return SlotsOut(slots=[SlotOut.of(s) for s in search.slots()])


@post(
    "/api/v1/consultations",
    opt=BOOKERS,
    responses={
        200: ResponseSpec(
            ConsultationOut, description="The same `Idempotency-Key` and body came before: the booking made then."
        ),
        **problems(
            {
                404: "No such participant, specialist or consultation type in the caller's organization.",
                409: "The specialist is already booked at this time, or the participant has not consented to "
                "video consultations.",
                422: "A value is invalid: `errors` names each field. Also: the start is no free slot, or the "
                "`Idempotency-Key` came before with a different body.",
            }
        ),
    },
)
async def book_consultation(
    request: Request[Any, Any, Any],
    data: JSONBody[BookingIn],
    db_session: DbSession,
    state: State,
    idempotency_key: IdempotencyKey = None,
) -> Response[ConsultationOut]:
    """Book a consultation in a free slot.

    Needs the participant's consent to video consultations. The invitations (email with a calendar entry)
    are queued in the same transaction as the booking. Send an `Idempotency-Key` to retry safely: the same key and body
    answer 200 with the same consultation. The answer carries the join links the caller may see, never the
    specialist's.
    """
    # No CurrentActor here: the booking checks the caller's membership in its own first query.
    policy = policy_of(state)
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
    body = ConsultationOut.of_view(booked.view, join_urls(policy, booked.actor))
    return Response(body, status_code=201 if booked.created else 200)


@get("/api/v1/consultations")
async def list_consultations(
    db_session: DbSession,
    actor: CurrentActor,
    start: FromQuery[AwareDatetime | None] = None,
    end: FromQuery[AwareDatetime | None] = None,
    specialist_id: FromQuery[uuid.UUID | None] = None,
    participant_id: FromQuery[uuid.UUID | None] = None,
    status: FromQuery[ConsultationStatus | None] = None,
) -> list[ConsultationSummaryOut]:
    """List consultations, soonest first, filtered by time, specialist, participant or status.

    A specialist sees only their own consultations. Times need an offset.
    """
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
    """One consultation with its attendees and the state of its notifications.

    A specialist sees only their own consultations; join links are shown as the caller may see them.
    """
    policy = policy_of(state)
    return ConsultationOut.of_view(
        await services.get_consultation(db_session, actor, consultation_id), join_urls(policy, actor)
    )


@post(
    "/api/v1/consultations/{consultation_id:uuid}/reschedule",
    status_code=200,
    opt=BOOKERS,
    responses=problems({409: "The consultation is no longer scheduled, or the specialist is booked at that time."}),
)
async def reschedule_consultation(
    consultation_id: FromPath[uuid.UUID],
    data: JSONBody[RescheduleIn],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> ConsultationOut:
    """Move a consultation to another free slot of the same specialist.

    Attendees keep their links; an updated calendar entry is queued for each of them.
    """
    policy = policy_of(state)
    view = await services.reschedule_consultation(
        db_session, actor, policy, consultation_id, starts_at=data.start, now=current_time(state)
    )
    return ConsultationOut.of_view(view, join_urls(policy, actor))


@post(
    "/api/v1/consultations/{consultation_id:uuid}/cancel",
    status_code=200,
    opt=BOOKERS,
    responses=problems({409: "The consultation is already cancelled or completed."}),
)
async def cancel_consultation(
    consultation_id: FromPath[uuid.UUID],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    data: JSONBody[CancelIn | None] = None,
) -> ConsultationOut:
    """Cancel a consultation: the slot is freed and every join link stops working.

    A cancellation with a calendar update is queued for each attendee; `reason` is optional.
    """
    policy = policy_of(state)
    reason = data.reason if data is not None else None
    view = await services.cancel_consultation(
        db_session, actor, consultation_id, reason=reason, now=current_time(state)
    )
    return ConsultationOut.of_view(view, join_urls(policy, actor))


@post(
    "/api/v1/consultations/{consultation_id:uuid}/attendees/{attendee_id:uuid}/resend",
    status_code=202,
    opt=BOOKERS,
    responses=problems(
        {409: "The consultation is cancelled or completed, or the attendee has no address or email consent."}
    ),
)
async def resend_invitation(
    consultation_id: FromPath[uuid.UUID],
    attendee_id: FromPath[uuid.UUID],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> NotificationOut:
    """Send one attendee's invitation again.

    For an invitation that bounced or got lost: a new message is queued with the attendee's current link and
    calendar entry; its delivery shows on the consultation like the first one's.
    """
    message = await services.resend_invitation(db_session, actor, consultation_id, attendee_id, now=current_time(state))
    return NotificationOut.of(message)


# Correcting a participant reaches their consultations to come (``contacts``): the route lives here, where both
# are known, and is listed with the participants' operations.
@patch(
    "/api/v1/participants/{participant_id:uuid}",
    opt={"roles": participants.STAFF_WHO_MANAGE_PARTICIPANTS},
    tags=["participants"],
    responses=problems({409: "Another participant of the organization has this `case_reference`."}),
)
async def update_participant(
    participant_id: FromPath[uuid.UUID],
    data: JSONBody[ParticipantUpdate],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> ParticipantOut:
    """Correct a participant's details.

    A field left out stays as it is; `null` clears an optional one. Consents are not changed here (they are a
    history). The participant's consultations still to come follow the change (name, email address, language):
    their waiting reminders go to the new address, and where the invitation already went to the old one, a new
    invitation is sent to the new one. Past and cancelled consultations keep what they had.
    """
    participant = await contacts.update_participant(
        db_session, actor, participant_id, data.changes(), now=current_time(state)
    )
    return ParticipantOut.of(participant, await participants.active_consents(db_session, participant.id))
