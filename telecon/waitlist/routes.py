from __future__ import annotations

import uuid

from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody

from telecon.openapi import problems
from telecon.scheduling.routes import BOOKERS, join_urls, policy_of
from telecon.scheduling.schemas import ConsultationOut
from telecon.waitlist import services
from telecon.waitlist.schemas import ConfirmIn, WaitlistIn, WaitlistOut
from telecon.web import CurrentActor, DbSession, current_time


@post(
    "/api/v1/waitlist",
    opt=BOOKERS,
    responses=problems(
        {
            404: "No such participant or consultation type in the caller's organization.",
            409: "The participant is already waiting for this consultation type, or has not consented to video "
            "consultations.",
            422: "A value is invalid: `errors` names each field. Also: the type does not allow the profession, or "
            "the latest date has passed.",
        }
    ),
)
async def add_to_waitlist(
    data: JSONBody[WaitlistIn], db_session: DbSession, actor: CurrentActor, state: State
) -> WaitlistOut:
    """Put a participant on the waitlist for a consultation type with a specialist of a profession.

    When a fitting slot is free (now, or later after a cancellation or new hours), the oldest waiting entry gets a
    hold on it for a while (`TELECON_WAITLIST_HOLD_MINUTES`, 2 hours by default), and the coach an email. Nobody
    else can book a held slot. Confirm the hold to book it; a hold that runs out goes to the next entry.
    """
    view = await services.add_entry(
        db_session,
        actor,
        policy_of(state),
        participant_id=data.participant_id,
        consultation_type_id=data.consultation_type_id,
        profession=data.profession,
        language=data.language,
        latest_date=data.latest_date,
        now=current_time(state),
    )
    return WaitlistOut.of(view)


@get("/api/v1/waitlist", opt=BOOKERS)
async def list_waitlist(
    db_session: DbSession,
    actor: CurrentActor,
    participant_id: FromQuery[uuid.UUID | None] = None,
    include_ended: FromQuery[bool] = False,
) -> list[WaitlistOut]:
    """The organization's waitlist in queue order, oldest first, each entry with the slot held for it.

    Ended entries (booked, withdrawn, expired) only with `include_ended=true`.
    """
    views = await services.list_entries(db_session, actor, open_only=not include_ended, participant_id=participant_id)
    return [WaitlistOut.of(v) for v in views]


@get(
    "/api/v1/waitlist/{entry_id:uuid}",
    opt=BOOKERS,
    responses=problems({404: "No such waitlist entry in the caller's organization."}),
)
async def get_waitlist_entry(entry_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> WaitlistOut:
    """One waitlist entry with the slot held for it.

    Ended entries stay readable: `booked` ones name their consultation.
    """
    return WaitlistOut.of(await services.get_entry(db_session, actor, entry_id))


@post(
    "/api/v1/waitlist/{entry_id:uuid}/confirm",
    opt=BOOKERS,
    responses=problems(
        {
            404: "No such waitlist entry in the caller's organization.",
            409: "No slot is held for the entry (or its hold ran out), or the booking's own checks refuse it "
            "(consent withdrawn, the specialist no longer available).",
        }
    ),
)
async def confirm_hold(
    entry_id: FromPath[uuid.UUID],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    data: JSONBody[ConfirmIn | None] = None,
) -> ConsultationOut:
    """Book the slot held for a waitlist entry.

    The booking is an ordinary one (invitations, calendar entries, reminders); the entry ends as `booked`.
    """
    policy = policy_of(state)
    body = data or ConfirmIn()
    booked = await services.confirm(
        db_session,
        actor,
        policy,
        entry_id,
        purpose=body.purpose,
        invite_coach=body.invite_coach,
        now=current_time(state),
    )
    return ConsultationOut.of_view(booked.view, join_urls(policy, booked.actor))


@post(
    "/api/v1/waitlist/{entry_id:uuid}/withdraw",
    status_code=200,
    opt=BOOKERS,
    responses=problems(
        {
            404: "No such waitlist entry in the caller's organization.",
            409: "The entry has already ended (booked, withdrawn or expired).",
        }
    ),
)
async def withdraw_from_waitlist(
    entry_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> WaitlistOut:
    """Take a participant off the waitlist.

    A slot held for them is free again at once (and offered to the next entry that fits).
    """
    return WaitlistOut.of(await services.withdraw(db_session, actor, entry_id, now=current_time(state)))
