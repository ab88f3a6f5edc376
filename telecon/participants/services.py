from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypedDict

from sqlalchemy import ScalarSelect, and_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.db import folded, utcnow
from telecon.errors import Conflict, InvalidInput, NotFound
from telecon.organizations import services as organizations
from telecon.participants.models import CaseFileEntry, CaseFileKind, Consent, ConsentKind, Participant

STAFF_WHO_MANAGE_PARTICIPANTS = (Role.admin, Role.coach)


async def create_participant(
    session: AsyncSession,
    actor: Actor,
    *,
    display_name: str,
    email: str | None,
    preferred_language: str,
    case_reference: str | None,
    coach_id: uuid.UUID | None = None,
    interpreter_language: str | None = None,
    easy_language: bool = False,
) -> Participant:
    actor.require(*STAFF_WHO_MANAGE_PARTICIPANTS)
    if coach_id is None and actor.role is Role.coach:
        coach_id = actor.user_id
    elif coach_id is not None:
        await _require_coach(session, actor, coach_id)
    participant = Participant(
        organization_id=actor.organization_id,
        display_name=display_name,
        email=organizations.normalise_email(email) if email else None,
        preferred_language=preferred_language,
        case_reference=case_reference,
        coach_id=coach_id,
        interpreter_language=interpreter_language,
        easy_language=easy_language,
    )
    session.add(participant)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a participant with this case reference already exists", field="case_reference") from None
    audit.record(session, actor, "participant.created", "participant", participant.id)
    return participant


async def get_participant(session: AsyncSession, actor: Actor, participant_id: uuid.UUID) -> Participant:
    """Another organization's participant is indistinguishable from none at all."""
    actor.require(*STAFF_WHO_MANAGE_PARTICIPANTS)
    participant = await session.scalar(
        select(Participant).where(
            Participant.id == participant_id, Participant.organization_id == actor.organization_id
        )
    )
    if participant is None:
        raise NotFound("no such participant", field="participant_id")
    return participant


async def find_by_case_reference(session: AsyncSession, actor: Actor, case_reference: str) -> Participant | None:
    """The organization's participant with this case reference (the job centre's own number), if any.

    The roles that may read participants only: a specialist knows participants through consultations alone.
    """
    actor.require(*STAFF_WHO_MANAGE_PARTICIPANTS)
    found: Participant | None = await session.scalar(
        select(Participant).where(
            Participant.organization_id == actor.organization_id, Participant.case_reference == case_reference
        )
    )
    return found


async def case_references(
    session: AsyncSession, actor: Actor, participant_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """The case references of these participants of the organization that have one, as far as the actor may
    read participants; for anyone else (a specialist) none, without an error."""
    ids = list(set(participant_ids))
    if actor.role not in STAFF_WHO_MANAGE_PARTICIPANTS or not ids:
        return {}
    rows = await session.execute(
        select(Participant.id, Participant.case_reference).where(
            Participant.id.in_(ids),
            Participant.organization_id == actor.organization_id,
            Participant.case_reference.is_not(None),
        )
    )
    return {participant_id: reference for participant_id, reference in rows if reference}


async def _require_coach(session: AsyncSession, actor: Actor, coach_id: uuid.UUID) -> None:
    membership = await organizations.membership_of(session, coach_id, actor.organization_id)
    if membership is None or membership.role is not Role.coach:
        raise InvalidInput("no coach with this id in the organization", field="coach_id")


class ParticipantChanges(TypedDict, total=False):
    """What ``update_participant`` may change: the fields ``create_participant`` sets; absent ones stay."""

    display_name: str
    email: str | None
    preferred_language: str
    case_reference: str | None
    coach_id: uuid.UUID | None
    interpreter_language: str | None
    easy_language: bool


async def update_participant(
    session: AsyncSession, actor: Actor, participant_id: uuid.UUID, changes: ParticipantChanges
) -> Participant:
    """Correct a participant's details; ``None`` clears an optional one.

    This changes the participant only; ``telecon.scheduling.contacts.update_participant`` (what the API and the
    pages call) also carries the change to their consultations still to come.
    """
    participant = await get_participant(session, actor, participant_id)
    wanted: dict[str, Any] = dict(changes)
    if wanted.get("email"):
        wanted["email"] = organizations.normalise_email(wanted["email"])
    changed = sorted(name for name, value in wanted.items() if getattr(participant, name) != value)
    if not changed:
        return participant
    if "coach_id" in changed and wanted["coach_id"] is not None:
        await _require_coach(session, actor, wanted["coach_id"])
    for name in changed:
        setattr(participant, name, wanted[name])
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("a participant with this case reference already exists", field="case_reference") from None
    # Which fields changed, never their values: the audit log holds no personal data beyond identifiers.
    audit.record(session, actor, "participant.updated", "participant", participant.id, fields=changed)
    return participant


LIKE_ESCAPE = "/"


def _contains(text: str) -> str:
    """A LIKE pattern that finds ``text`` anywhere, its own ``%``, ``_`` and ``/`` taken literally."""
    escaped = text.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return f"%{escaped}%"


async def list_participants(
    session: AsyncSession, actor: Actor, *, query: str | None = None, limit: int = 200
) -> list[Participant]:
    """The organization's participants by name, at most ``limit``; with ``query`` only those whose name, case
    reference or email address contains it, ignoring case."""
    actor.require(*STAFF_WHO_MANAGE_PARTICIPANTS)
    statement = select(Participant).where(Participant.organization_id == actor.organization_id)
    needle = (query or "").strip().lower()
    if needle:
        pattern = _contains(needle)
        statement = statement.where(
            or_(
                *(
                    folded(column).like(pattern, escape=LIKE_ESCAPE)
                    for column in (Participant.display_name, Participant.case_reference, Participant.email)
                )
            )
        )
    result = await session.scalars(statement.order_by(Participant.display_name, Participant.id).limit(limit))
    return list(result)


async def record_consent(
    session: AsyncSession,
    actor: Actor,
    participant_id: uuid.UUID,
    *,
    kind: ConsentKind,
    granted: bool,
    evidence: str | None,
) -> Consent:
    participant = await get_participant(session, actor, participant_id)
    consent = Consent(
        organization_id=participant.organization_id,
        participant_id=participant.id,
        kind=kind,
        granted=granted,
        recorded_by_id=actor.user_id,
        evidence=evidence,
    )
    session.add(consent)
    await session.flush()
    session.add(
        case_file_entry(
            participant.organization_id,
            participant.id,
            CaseFileKind.consent_recorded,
            author_id=actor.user_id,
            data={"consent": kind.value, "granted": granted},
        )
    )
    audit.record(session, actor, "consent.recorded", "participant", participant.id, kind=kind.value, granted=granted)
    return consent


async def consent_history(session: AsyncSession, actor: Actor, participant_id: uuid.UUID) -> list[Consent]:
    participant = await get_participant(session, actor, participant_id)
    result = await session.scalars(
        select(Consent).where(Consent.participant_id == participant.id).order_by(Consent.recorded_at, Consent.id)
    )
    return list(result)


def latest_consent(participant_id: Any, kind: ConsentKind) -> ScalarSelect[bool | None]:
    """Whether the participant's latest entry of ``kind`` grants, as a column of a bigger query (NULL: none).

    The SQL form of ``active_consents``, for queries that decide in one round trip (booking, the mail relay).
    """
    return (
        select(Consent.granted)
        .where(Consent.participant_id == participant_id, Consent.kind == kind)
        .order_by(Consent.recorded_at.desc(), Consent.id.desc())
        .limit(1)
        .scalar_subquery()
    )


async def active_consents(session: AsyncSession, participant_id: uuid.UUID) -> set[ConsentKind]:
    """The kinds whose latest entry grants; a withdrawal is simply a later entry."""
    return (await active_consents_of(session, [participant_id]))[participant_id]


async def active_consents_of(
    session: AsyncSession, participant_ids: list[uuid.UUID]
) -> dict[uuid.UUID, set[ConsentKind]]:
    rows = await session.execute(
        select(Consent.participant_id, Consent.kind, Consent.granted)
        .where(Consent.participant_id.in_(participant_ids))
        .order_by(Consent.recorded_at, Consent.id)
    )
    latest: dict[uuid.UUID, dict[ConsentKind, bool]] = {pid: {} for pid in participant_ids}
    for participant_id, kind, granted in rows:
        latest[participant_id][kind] = granted
    return {pid: {kind for kind, granted in kinds.items() if granted} for pid, kinds in latest.items()}


def case_file_entry(
    organization_id: uuid.UUID,
    participant_id: uuid.UUID,
    kind: CaseFileKind,
    *,
    author_id: uuid.UUID | None,
    consultation_id: uuid.UUID | None = None,
    text: str | None = None,
    data: dict[str, Any] | None = None,
) -> CaseFileEntry:
    return CaseFileEntry(
        id=uuid.uuid4(),
        organization_id=organization_id,
        participant_id=participant_id,
        kind=kind,
        occurred_at=utcnow(),
        author_id=author_id,
        consultation_id=consultation_id,
        text=text,
        data=data or {},
    )


async def add_note(session: AsyncSession, actor: Actor, participant_id: uuid.UUID, text: str) -> CaseFileEntry:
    participant = await get_participant(session, actor, participant_id)
    entry = case_file_entry(
        participant.organization_id, participant.id, CaseFileKind.note, author_id=actor.user_id, text=text
    )
    session.add(entry)
    audit.record(session, actor, "case_file.note_added", "participant", participant.id)
    await session.flush()
    return entry


async def case_file(
    session: AsyncSession,
    actor: Actor,
    participant_id: uuid.UUID,
    *,
    limit: int = 100,
    after: tuple[datetime, uuid.UUID] | None = None,
) -> tuple[list[CaseFileEntry], tuple[datetime, uuid.UUID] | None]:
    """A page of the case file, oldest first, from just after ``after``; and the cursor of the next page."""
    participant = await get_participant(session, actor, participant_id)
    query = select(CaseFileEntry).where(CaseFileEntry.participant_id == participant.id)
    if after is not None:
        occurred_at, entry_id = after
        query = query.where(
            or_(
                CaseFileEntry.occurred_at > occurred_at,
                and_(CaseFileEntry.occurred_at == occurred_at, CaseFileEntry.id > entry_id),
            )
        )
    result = await session.scalars(query.order_by(CaseFileEntry.occurred_at, CaseFileEntry.id).limit(limit + 1))
    entries = list(result)
    if len(entries) <= limit:
        return entries, None
    last = entries[limit - 1]
    return entries[:limit], (last.occurred_at, last.id)
