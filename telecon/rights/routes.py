from __future__ import annotations

import uuid

from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath

from telecon.access import Role
from telecon.rights import services
from telecon.rights.schemas import ErasureOut, ExportOut
from telecon.web import CurrentActor, DbSession, current_time

ADMIN = {"roles": (Role.admin,)}


@get("/api/v1/participants/{participant_id:uuid}/export", opt=ADMIN)
async def export_participant(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> ExportOut:
    """Everything telecon holds about a participant, as one document (Art. 15 GDPR).

    The participant's data, consent history, case file, consultations (with who opened their link when,
    never the links) and outcomes as the admin sees them: never clinical notes, which only their author
    reads. Audit events about the participant and their consultations appear as ids. The export is audited.
    """
    export = await services.export_participant(db_session, actor, participant_id)
    return ExportOut.of(export, current_time(state))


@post("/api/v1/participants/{participant_id:uuid}/erase", opt=ADMIN, status_code=200)
async def erase_participant(
    participant_id: FromPath[uuid.UUID], db_session: DbSession, actor: CurrentActor, state: State
) -> ErasureOut:
    """Erase a participant's personal data (Art. 17 GDPR); answers how many rows changed.

    Future consultations are cancelled first, as any cancellation (the other attendees are emailed; the
    participant is not, their address is gone). Then names, addresses, the case reference and every free text
    (notes, consent evidence, purposes, outcome summaries, recommendation texts, clinical notes) are removed;
    dates, statuses, attendance and codes stay for the statistics, ids for the audit trail. Not undone.
    """
    counts = await services.erase_participant(db_session, actor, participant_id, now=current_time(state))
    return ErasureOut(participant_id=participant_id, **counts)
