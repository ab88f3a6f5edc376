from __future__ import annotations

import uuid

from litestar import get, post
from litestar.params import FromPath, JSONBody

from telecon.participants import services
from telecon.participants.schemas import (
    CaseFileEntryOut,
    CaseFileOut,
    ConsentCreate,
    ConsentOut,
    NoteCreate,
    ParticipantCreate,
    ParticipantOut,
)
from telecon.web import CurrentActor, DbSession


@post("/api/v1/participants")
async def create_participant(
    data: JSONBody[ParticipantCreate], db_session: DbSession, actor: CurrentActor
) -> ParticipantOut:
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


@get("/api/v1/participants")
async def list_participants(db_session: DbSession, actor: CurrentActor) -> list[ParticipantOut]:
    found = await services.list_participants(db_session, actor)
    consents = await services.active_consents_of(db_session, [p.id for p in found])
    return [ParticipantOut.of(p, consents[p.id]) for p in found]


@get("/api/v1/participants/{participant_id:uuid}")
async def get_participant(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> ParticipantOut:
    participant = await services.get_participant(db_session, actor, participant_id)
    return ParticipantOut.of(participant, await services.active_consents(db_session, participant.id))


@post("/api/v1/participants/{participant_id:uuid}/consents")
async def record_consent(
    participant_id: FromPath[uuid.UUID], data: JSONBody[ConsentCreate], db_session: DbSession, actor: CurrentActor
) -> ConsentOut:
    """Consents are a history: withdrawing is a new entry with ``granted: false``."""
    consent = await services.record_consent(
        db_session, actor, participant_id, kind=data.kind, granted=data.granted, evidence=data.evidence
    )
    return ConsentOut.of(consent)


@get("/api/v1/participants/{participant_id:uuid}/consents")
async def consent_history(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor
) -> list[ConsentOut]:
    return [ConsentOut.of(c) for c in await services.consent_history(db_session, actor, participant_id)]


@post("/api/v1/participants/{participant_id:uuid}/notes")
async def add_note(
    participant_id: FromPath[uuid.UUID], data: JSONBody[NoteCreate], db_session: DbSession, actor: CurrentActor
) -> CaseFileEntryOut:
    return CaseFileEntryOut.of(await services.add_note(db_session, actor, participant_id, data.text))


@get("/api/v1/participants/{participant_id:uuid}/case-file")
async def case_file(participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor) -> CaseFileOut:
    entries = await services.case_file(db_session, actor, participant_id)
    return CaseFileOut(participant_id=participant_id, entries=[CaseFileEntryOut.of(e) for e in entries])
