from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from litestar import Request, get, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from telecon.access import Role
from telecon.addresses import client_address
from telecon.crypto import KeyRing
from telecon.errors import InvalidInput
from telecon.openapi import problems
from telecon.outcomes import services
from telecon.outcomes.schemas import OutcomeIn, OutcomeOut
from telecon.participants import services as participants
from telecon.participants.models import CaseFileEntry, CaseFileKind
from telecon.participants.schemas import CaseFileEntryOut, CaseFileOut
from telecon.scheduling.schemas import ConsultationSummaryOut
from telecon.web import CurrentActor, DbSession, current_time


def _keys(state: State) -> KeyRing:
    keys: KeyRing = state.key_ring
    return keys


@put(
    "/api/v1/consultations/{consultation_id:uuid}/outcome",
    opt={"roles": (Role.specialist,)},
    responses=problems({409: "The consultation is cancelled or has not started yet."}),
)
async def record_outcome(
    consultation_id: FromPath[uuid.UUID],
    data: JSONBody[OutcomeIn],
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
) -> OutcomeOut:
    """Record the outcome of one of the caller's own consultations, or amend it (every version is kept).

    The first version completes the consultation (`no_show` when the participant did not attend), adds a
    case-file entry and emails the booking coach that an outcome exists (nothing of its content).
    """
    view = await services.record_outcome(
        db_session, actor, _keys(state), consultation_id, data.data(), now=current_time(state)
    )
    return OutcomeOut.of(view)


@get("/api/v1/consultations/{consultation_id:uuid}/outcome")
async def read_outcome(
    consultation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> OutcomeOut:
    """The consultation's outcome, as far as the caller may see it; every read is audited.

    Coaches and admins see attendance and that an outcome exists; with the participant's
    `share_outcome_with_coach` consent also the summary, recommendations, work capacity and follow-up. Clinical
    notes only ever reach their author.
    """
    return OutcomeOut.of(await services.read_outcome(db_session, actor, _keys(state), consultation_id))


@get("/api/v1/consultations/{consultation_id:uuid}/outcome/versions", opt={"roles": (Role.specialist,)})
async def outcome_versions(
    consultation_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> list[OutcomeOut]:
    """Every version of the caller's own outcome of a consultation, oldest first.

    Amendments never overwrite: each version is kept with when and how (account or join link) it was recorded.
    Only the author reads them, clinical notes included; the read is audited.
    """
    views = await services.outcome_versions(db_session, actor, _keys(state), consultation_id)
    return [OutcomeOut.of(v) for v in views]


@get("/api/v1/outcomes/missing")
async def missing_outcomes(db_session: DbSession, actor: CurrentActor, state: State) -> list[ConsultationSummaryOut]:
    """Consultations that have ended without an outcome, oldest end first.

    A specialist sees their own (the outcomes they still owe), coaches and admins the organization's.
    Cancelled consultations need no outcome; a participant's no-show is an outcome too, so it leaves the list.
    Who opened their link, and when, is on each consultation's attendees.
    """
    found = await services.missing_outcomes(db_session, actor, now=current_time(state))
    return [ConsultationSummaryOut.of(c, available) for c, available in found]


@get("/api/v1/outcomes/mine", opt={"roles": (Role.specialist,)})
async def own_outcomes(
    db_session: DbSession,
    actor: CurrentActor,
    state: State,
    limit: FromQuery[int] = 100,
) -> list[OutcomeOut]:
    """The caller's own outcomes in this organization, the most recently saved first, clinical notes included.

    Only the author's; every outcome listed is an audited read. At most `limit` (default 100, at most 500).
    """
    views = await services.own_outcomes(db_session, actor, _keys(state), limit=max(1, min(limit, 500)))
    return [OutcomeOut.of(view) for _, view in views]


@put(
    "/api/v1/join/{token:str}/outcome",
    opt={"public": True},
    responses=problems(
        {
            403: "Not the specialist's link, the link was withdrawn, or more than 14 days have passed since the end.",
            404: "No such join link.",
            409: "The consultation is cancelled or has not started yet.",
        }
    ),
)
async def record_outcome_by_link(
    token: FromPath[str],
    data: JSONBody[OutcomeIn],
    request: Request[Any, Any, Any],
    db_session: DbSession,
    state: State,
) -> OutcomeOut:
    """Record or amend an outcome with the specialist's join link alone (no account needed).

    Only the specialist's own link, until 14 days after the consultation's end.
    """
    now = current_time(state)
    actor, consultation_id = await services.link_actor(
        db_session, token, remote_address=client_address(request), now=now
    )
    view = await services.record_outcome(
        db_session, actor, _keys(state), consultation_id, data.data(), now=now, via="join_link"
    )
    return OutcomeOut.of(view)


def _cursor(value: str | None) -> tuple[datetime, uuid.UUID] | None:
    if value is None:
        return None
    instant, _, entry_id = value.partition("_")
    try:
        occurred_at = datetime.fromisoformat(instant)
        if occurred_at.tzinfo is None:
            raise ValueError(instant)
        return occurred_at, uuid.UUID(entry_id)
    except ValueError:
        raise InvalidInput("not a cursor from a case file's `next`", field="after", source="query") from None


@get("/api/v1/participants/{participant_id:uuid}/case-file", opt={"roles": participants.STAFF_WHO_MANAGE_PARTICIPANTS})
async def case_file(
    participant_id: FromPath[uuid.UUID],
    db_session: DbSession,
    actor: CurrentActor,
    limit: FromQuery[int] = 100,
    after: FromQuery[Annotated[str | None, Parameter(max_length=100)]] = None,
) -> CaseFileOut:
    """A participant's case file: the timeline of notes, bookings, changes and outcomes.

    Entries are written by the services as things happen, oldest first. Pages hold `limit` entries (default
    100, at most 500); pass an answer's `next` as `after` for the following page.
    """
    entries, following = await participants.case_file(
        db_session, actor, participant_id, limit=max(1, min(limit, 500)), after=_cursor(after)
    )
    with_outcome = [e.consultation_id for e in entries if e.kind is CaseFileKind.outcome_recorded and e.consultation_id]
    shown = await services.visible_outcomes(db_session, actor, participant_id, list(set(with_outcome)))

    def outcome_of(entry: CaseFileEntry) -> dict[str, Any] | None:
        if entry.kind is not CaseFileKind.outcome_recorded or entry.consultation_id not in shown:
            return None
        return services.details(shown[entry.consultation_id])

    return CaseFileOut(
        participant_id=participant_id,
        entries=[CaseFileEntryOut.of(e, outcome_of(e)) for e in entries],
        next=None if following is None else f"{following[0].isoformat()}_{following[1]}",
    )
