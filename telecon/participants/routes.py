from __future__ import annotations

import uuid
from typing import Annotated

from litestar import get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from telecon.openapi import problems
from telecon.participants import services
from telecon.participants.schemas import (
    CaseFileEntryOut,
    ConsentCreate,
    ConsentOut,
    NoteCreate,
    ParticipantCreate,
    ParticipantOut,
)
from telecon.schemas import SINGLE_LINE
from telecon.web import CurrentActor, DbSession

STAFF = {"roles": services.STAFF_WHO_MANAGE_PARTICIPANTS}
SearchQuery = Annotated[str | None, QueryParameter(max_length=200, pattern=SINGLE_LINE)]
"""What a search box sends: one line, possibly empty (then nothing is filtered)."""


@post(
    "/api/v1/participants",
    opt=STAFF,
    responses=problems({409: "A participant with this `case_reference` already exists in the organization."}),
)
async def create_participant(
    data: JSONBody[ParticipantCreate], db_session: DbSession, actor: CurrentActor
) -> ParticipantOut:
    """Register a participant of the project.

    `case_reference` is the job centre's own number; `coach_id` must be a coach of the organization
    (default: the caller, when a coach). Consents are recorded separately, as a history.
    """
    participant = await services.create_participant(
        db_session,
        actor,
        display_name=data.display_name,
        email=data.email,
        preferred_language=data.preferred_language,
        case_reference=data.case_reference,
        coach_id=data.coach_id,
        interpreter_language=data.interpreter_language,
        easy_language=data.easy_language,
    )
    return ParticipantOut.of(participant, set())


@get("/api/v1/participants", opt=STAFF)
async def list_participants(
    db_session: DbSession,
    actor: CurrentActor,
    q: SearchQuery = None,
) -> list[ParticipantOut]:
    """List the organization's participants with their current consents, by name, at most 200.

    `q` finds those whose name, case reference or email address contains it, ignoring case (`%` and `_` are
    plain characters). Only the caller's own organization is listed; specialists see participants only
    through consultations.
    """
    found = await services.list_participants(db_session, actor, query=q)
    consents = await services.active_consents_of(db_session, [p.id for p in found])
    return [ParticipantOut.of(p, consents[p.id]) for p in found]


@get("/api/v1/participants/{participant_id:uuid}", opt=STAFF)
async def get_participant(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> ParticipantOut:
    """One participant, with the consents in force now.

    Another organization's participant is not found.
    """
    participant = await services.get_participant(db_session, actor, participant_id)
    return ParticipantOut.of(participant, await services.active_consents(db_session, participant.id))


@post("/api/v1/participants/{participant_id:uuid}/consents", opt=STAFF)
async def record_consent(
    participant_id: FromPath[uuid.UUID], data: JSONBody[ConsentCreate], db_session: DbSession, actor: CurrentActor
) -> ConsentOut:
    """Record that a participant grants or withdraws a consent.

    Consents are a history: withdrawing is a new entry with `granted: false`. `video_consultation` is
    needed to book, `email_contact` to email the participant, `share_outcome_with_coach` before a coach
    reads an outcome's summary. `evidence` notes how the consent was given.
    """
    consent = await services.record_consent(
        db_session, actor, participant_id, kind=data.kind, granted=data.granted, evidence=data.evidence
    )
    return ConsentOut.of(consent)


@get("/api/v1/participants/{participant_id:uuid}/consents", opt=STAFF)
async def consent_history(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> list[ConsentOut]:
    """A participant's consent history, every grant and withdrawal.

    The latest entry of each kind is the one in force.
    """
    return [ConsentOut.of(c) for c in await services.consent_history(db_session, actor, participant_id)]


@post("/api/v1/participants/{participant_id:uuid}/notes", opt=STAFF)
async def add_note(
    participant_id: FromPath[uuid.UUID], data: JSONBody[NoteCreate], db_session: DbSession, actor: CurrentActor
) -> CaseFileEntryOut:
    """Add a note to a participant's case file.

    Case file entries are never edited in place; a correction is a new note.
    """
    return CaseFileEntryOut.of(await services.add_note(db_session, actor, participant_id, data.text))
