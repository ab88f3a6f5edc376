"""Recording an outcome and showing it: exactly as far as the participant consented.

Who sees what (``visible_part``, the one rule; the API, the case file, webhooks and emails all go through it):

================================  =========================================================================
reader                            sees
================================  =========================================================================
the author (the specialist)       everything, the clinical notes included, every version
coach or admin, with release      attendance, summary, recommendations, work capacity, follow-up
coach or admin, without release   attendance and that an outcome exists (``release_missing: true``)
anyone else                       nothing (the consultation itself answers 404)
================================  =========================================================================

"With release" is the participant's latest ``share_outcome_with_coach`` entry granting *now*: a withdrawal
hides from then on what was visible. Clinical notes are encrypted (``telecon.crypto``) and are decrypted
only for their author. Every read of an outcome is an audit event (who, which consultation, from where;
never the content).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from telecon.access import Actor, Role
from telecon.audit import services as audit
from telecon.crypto import KeyRing
from telecon.errors import Conflict, Forbidden, NotFound
from telecon.organizations import eligibility
from telecon.outbox import messages as outbox
from telecon.outbox.models import Topic
from telecon.outcomes.keys import associated_data
from telecon.outcomes.models import Attendance, Outcome, OutcomeVersion, WorkCapacity
from telecon.participants import services as participants
from telecon.participants.models import CaseFileKind, ConsentKind
from telecon.scheduling.links import hash_join_token
from telecon.scheduling.models import BOOKED, Attendee, AttendeeKind, Consultation, ConsultationStatus

LINK_WRITES_FOR = timedelta(days=14)
"""How long after the consultation's end the specialist's join link alone may still record an outcome."""
READERS = (Role.admin, Role.coach, Role.specialist)


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str
    text: str | None = None


@dataclass(frozen=True, slots=True)
class OutcomeData:
    attendance: Attendance
    summary_for_coach: str | None = None
    recommendations: list[Recommendation] = field(default_factory=list)
    work_capacity: WorkCapacity = WorkCapacity.not_assessed
    follow_up_weeks: int | None = None
    clinical_notes: str | None = None


@dataclass(frozen=True, slots=True)
class OutcomeView:
    """An outcome as one reader may see it; ``None`` means "not for you", never "empty"."""

    consultation_id: uuid.UUID
    version: int
    recorded_at: datetime
    attendance: Attendance
    release_missing: bool
    """The coach would see more with the participant's ``share_outcome_with_coach`` consent."""
    summary_for_coach: str | None = None
    recommendations: list[Recommendation] | None = None
    work_capacity: WorkCapacity | None = None
    follow_up_weeks: int | None = None
    clinical_notes: str | None = None
    is_author: bool = False


def visible_part(
    version: OutcomeVersion,
    consultation_id: uuid.UUID,
    *,
    is_author: bool,
    released: bool,
    notes: str | None = None,
) -> OutcomeView:
    """The rule of the module docstring: what of ``version`` a reader sees. ``notes``: decrypted, author only."""
    view = OutcomeView(
        consultation_id=consultation_id,
        version=version.version,
        recorded_at=version.recorded_at,
        attendance=version.attendance,
        release_missing=not (is_author or released),
    )
    if view.release_missing:
        return view
    return replace(
        view,
        summary_for_coach=version.summary_for_coach,
        recommendations=[Recommendation(r["code"], r.get("text")) for r in version.recommendations],
        work_capacity=version.work_capacity,
        follow_up_weeks=version.follow_up_weeks,
        clinical_notes=notes if is_author else None,
        is_author=is_author,
    )


# --- recording ---------------------------------------------------------------------------------------------


class StaleOutcome(Conflict):
    """The outcome was saved again since the author's form was loaded (a second tab, the join link)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the outcome is at version {current_version} by now", field="version")
        self.current_version = current_version


async def record_outcome(
    session: AsyncSession,
    actor: Actor,
    keys: KeyRing,
    consultation_id: uuid.UUID,
    data: OutcomeData,
    *,
    now: datetime,
    via: str = "account",
    expected_version: int | None = None,
) -> OutcomeView:
    """Record (or amend) the outcome of a specialist's own consultation.

    The first version completes the consultation (``no_show`` when the participant did not come), writes a
    case-file entry and tells the booking coach by email that there is an outcome (not what it says); webhook
    events: ``consultation.completed`` (first version only) and ``outcome.recorded`` (every version).
    ``expected_version``: the version the author saw (0: none yet); another one by now is a ``StaleOutcome``.
    """
    actor.require(Role.specialist)
    consultation = await session.scalar(
        select(Consultation)
        .where(
            Consultation.id == consultation_id,
            Consultation.organization_id == actor.organization_id,
            Consultation.specialist_id == actor.user_id,
            BOOKED,
        )
        .with_for_update()
    )
    if consultation is None:
        raise NotFound("no such consultation", field="consultation_id")
    if consultation.status is ConsultationStatus.cancelled:
        raise Conflict("a cancelled consultation has no outcome", field="consultation_id")
    if now < consultation.starts_at:
        raise Conflict("the consultation has not started yet", field="consultation_id")
    outcome = await session.scalar(select(Outcome).where(Outcome.consultation_id == consultation.id))
    current = 0 if outcome is None else outcome.version
    if expected_version is not None and expected_version != current:
        raise StaleOutcome(current)
    if outcome is None:
        outcome = Outcome(
            id=uuid.uuid4(),
            organization_id=consultation.organization_id,
            consultation_id=consultation.id,
            author_id=actor.user_id,
            version=1,
            created_at=now,
            updated_at=now,
        )
        session.add(outcome)
        await session.flush()
        amended = False
    else:
        if outcome.author_id != actor.user_id:
            raise Forbidden("only the outcome's author may amend it")
        outcome.version += 1
        outcome.updated_at = now
        amended = True
    version = OutcomeVersion(
        id=uuid.uuid4(),
        outcome_id=outcome.id,
        version=outcome.version,
        attendance=data.attendance,
        summary_for_coach=data.summary_for_coach,
        recommendations=[{"code": r.code, "text": r.text} for r in data.recommendations],
        work_capacity=data.work_capacity,
        follow_up_weeks=data.follow_up_weeks,
        clinical_notes=None,
        notes_key_id=None,
        recorded_at=now,
        recorded_by_id=actor.user_id,
        via=via,
    )
    if data.clinical_notes:
        version.notes_key_id, version.clinical_notes = keys.encrypt(
            data.clinical_notes, associated=associated_data(version.id)
        )
    session.add(version)
    consultation.status = (
        ConsultationStatus.no_show
        if data.attendance is Attendance.participant_no_show
        else ConsultationStatus.completed
    )
    action = "outcome.amended" if amended else "outcome.recorded"
    session.add(
        participants.case_file_entry(
            consultation.organization_id,
            consultation.participant_id,
            CaseFileKind.outcome_recorded,
            author_id=actor.user_id,
            consultation_id=consultation.id,
            data={"consultation_id": str(consultation.id), "version": outcome.version, "amended": amended},
        )
    )
    audit.record(session, actor, action, "consultation", consultation.id, version=outcome.version, via=via)
    if not amended and consultation.booked_by_id is not None:
        session.add(
            outbox.message(
                organization_id=consultation.organization_id,
                consultation_id=consultation.id,
                user_id=consultation.booked_by_id,
                topic=Topic.outcome_recorded,
                dedupe_key=f"{Topic.outcome_recorded}:{consultation.id}",
                now=now,
            )
        )
    # Webhooks (``telecon.outbox.messages``): the first version completes the consultation, every version is
    # an outcome recorded; the body is built when sent, as far as the participant's consent then allows.
    events = ["outcome.recorded"] if amended else ["consultation.completed", "outcome.recorded"]
    session.add_all(
        outbox.webhook_event(
            event,
            organization_id=consultation.organization_id,
            consultation_id=consultation.id,
            key=str(outcome.version),
            now=now,
        )
        for event in events
    )
    await session.flush()
    return visible_part(version, consultation.id, is_author=True, released=True, notes=data.clinical_notes)


async def link_actor(
    session: AsyncSession, token: str, *, remote_address: str | None, now: datetime
) -> tuple[Actor, uuid.UUID]:
    """The specialist behind a join link, as an actor who may record its consultation's outcome.

    Only the specialist's own link, only while they still serve the organization, and only until 14 days after
    the consultation's end; an unknown link is a 404, another attendee's link a 403.
    """
    row = (
        await session.execute(
            select(
                Attendee,
                Consultation,
                eligibility.specialist_available(Consultation.specialist_id, Consultation.organization_id),
            )
            .join(Consultation, Consultation.id == Attendee.consultation_id)
            .where(Attendee.token_hash == hash_join_token(token))
        )
    ).first()
    if row is None:
        raise NotFound("no such join link", field="token", source="path")
    attendee, consultation, available = row
    if attendee.kind is not AttendeeKind.specialist or attendee.user_id is None:
        raise Forbidden("only the specialist's link can record an outcome")
    if attendee.revoked_at is not None or not available:
        raise Forbidden("this link can no longer record an outcome")
    if now > consultation.ends_at + LINK_WRITES_FOR:
        raise Forbidden(f"a link records an outcome until {LINK_WRITES_FOR.days} days after the consultation")
    actor = Actor(attendee.user_id, consultation.organization_id, Role.specialist, remote_address)
    return actor, consultation.id


# --- reading -----------------------------------------------------------------------------------------------


async def _released(session: AsyncSession, participant_id: uuid.UUID) -> bool:
    return ConsentKind.share_outcome_with_coach in await participants.active_consents(session, participant_id)


async def read_outcome(session: AsyncSession, actor: Actor, keys: KeyRing, consultation_id: uuid.UUID) -> OutcomeView:
    """The outcome as ``actor`` may see it (the module docstring); the read is audited."""
    actor.require(*READERS)
    query = select(Consultation).where(
        Consultation.id == consultation_id, Consultation.organization_id == actor.organization_id, BOOKED
    )
    if actor.role is Role.specialist:
        query = query.where(Consultation.specialist_id == actor.user_id)
    consultation = await session.scalar(query)
    if consultation is None:
        raise NotFound("no such consultation", field="consultation_id")
    found = (
        await session.execute(
            select(Outcome, OutcomeVersion)
            .join(
                OutcomeVersion, (OutcomeVersion.outcome_id == Outcome.id) & (OutcomeVersion.version == Outcome.version)
            )
            .where(Outcome.consultation_id == consultation.id)
        )
    ).first()
    if found is None:
        raise NotFound("no outcome has been recorded for this consultation", field="consultation_id")
    outcome, version = found
    is_author = actor.role is Role.specialist and outcome.author_id == actor.user_id
    notes = _decrypt(keys, version) if is_author else None
    audit.record(session, actor, "outcome.read", "consultation", consultation.id, version=version.version)
    return visible_part(
        version,
        consultation.id,
        is_author=is_author,
        released=await _released(session, consultation.participant_id),
        notes=notes,
    )


async def outcome_versions(
    session: AsyncSession, actor: Actor, keys: KeyRing, consultation_id: uuid.UUID
) -> list[OutcomeView]:
    """Every version of an outcome, oldest first: for its author only (others get 404)."""
    actor.require(Role.specialist)
    rows = await session.execute(
        select(OutcomeVersion)
        .join(Outcome, Outcome.id == OutcomeVersion.outcome_id)
        .join(Consultation, Consultation.id == Outcome.consultation_id)
        .where(
            Outcome.consultation_id == consultation_id,
            Outcome.author_id == actor.user_id,
            Consultation.organization_id == actor.organization_id,
        )
        .order_by(OutcomeVersion.version)
    )
    versions = list(rows.scalars())
    if not versions:
        raise NotFound("no outcome of yours for this consultation", field="consultation_id")
    audit.record(session, actor, "outcome.versions_read", "consultation", consultation_id, versions=len(versions))
    return [visible_part(v, consultation_id, is_author=True, released=True, notes=_decrypt(keys, v)) for v in versions]


async def own_outcomes(
    session: AsyncSession, actor: Actor, keys: KeyRing, *, limit: int = 100
) -> list[tuple[Consultation, OutcomeView]]:
    """The caller's own outcomes in the organization, newest version first, clinical notes included.

    For their author only; each outcome shown is an audited read, as ``read_outcome``'s.
    """
    actor.require(Role.specialist)
    rows = await session.execute(
        select(Consultation, OutcomeVersion)
        .join(Outcome, Outcome.consultation_id == Consultation.id)
        .join(OutcomeVersion, (OutcomeVersion.outcome_id == Outcome.id) & (OutcomeVersion.version == Outcome.version))
        .where(Outcome.author_id == actor.user_id, Consultation.organization_id == actor.organization_id)
        .order_by(OutcomeVersion.recorded_at.desc(), Consultation.id)
        .limit(limit)
    )
    shown: list[tuple[Consultation, OutcomeView]] = []
    for consultation, version in rows:
        audit.record(
            session, actor, "outcome.read", "consultation", consultation.id, version=version.version, via="own_list"
        )
        view = visible_part(version, consultation.id, is_author=True, released=True, notes=_decrypt(keys, version))
        shown.append((consultation, view))
    return shown


def _decrypt(keys: KeyRing, version: OutcomeVersion) -> str | None:
    if version.clinical_notes is None or version.notes_key_id is None:
        return None
    return keys.decrypt(version.notes_key_id, version.clinical_notes, associated=associated_data(version.id))


async def visible_outcomes(
    session: AsyncSession, actor: Actor, participant_id: uuid.UUID, consultation_ids: list[uuid.UUID]
) -> dict[uuid.UUID, OutcomeView]:
    """The current outcomes of a participant's consultations as a coach or admin sees them (the case file).

    Never clinical notes (the case file is no place for them, the author's own included); each shown outcome
    is an audited read.
    """
    if not consultation_ids:
        return {}
    rows = await session.execute(
        select(Outcome.consultation_id, OutcomeVersion)
        .join(OutcomeVersion, (OutcomeVersion.outcome_id == Outcome.id) & (OutcomeVersion.version == Outcome.version))
        .where(Outcome.consultation_id.in_(consultation_ids), Outcome.organization_id == actor.organization_id)
    )
    released = await _released(session, participant_id)
    shown: dict[uuid.UUID, OutcomeView] = {}
    for consultation_id, version in rows:
        shown[consultation_id] = visible_part(version, consultation_id, is_author=False, released=released)
        audit.record(
            session, actor, "outcome.read", "consultation", consultation_id, version=version.version, via="case_file"
        )
    return shown


async def missing_outcomes(
    session: AsyncSession, actor: Actor, *, now: datetime, limit: int = 500
) -> list[tuple[Consultation, bool]]:
    """Consultations that have ended without an outcome (cancelled ones need none), oldest first, each with
    whether its specialist is still available: a specialist's own, the organization's for coaches and admins.
    """
    actor.require(*READERS)
    query = select(
        Consultation, eligibility.specialist_available(Consultation.specialist_id, Consultation.organization_id)
    ).where(
        Consultation.organization_id == actor.organization_id,
        Consultation.ends_at <= now,
        Consultation.status.not_in([ConsultationStatus.cancelled, ConsultationStatus.held]),
        ~exists().where(Outcome.consultation_id == Consultation.id),
    )
    if actor.role is Role.specialist:
        query = query.where(Consultation.specialist_id == actor.user_id)
    rows = await session.execute(query.order_by(Consultation.ends_at, Consultation.id).limit(limit))
    return [(consultation, bool(available)) for consultation, available in rows]


def details(view: OutcomeView) -> dict[str, Any]:
    """An outcome view as plain JSON values (webhook bodies, the case file)."""
    return {
        "version": view.version,
        "recorded_at": view.recorded_at.isoformat(),
        "attendance": view.attendance.value,
        "release_missing": view.release_missing,
        **(
            {}
            if view.release_missing
            else {
                "summary_for_coach": view.summary_for_coach,
                "recommendations": [{"code": r.code, "text": r.text} for r in view.recommendations or []],
                "work_capacity": view.work_capacity.value if view.work_capacity else None,
                "follow_up_weeks": view.follow_up_weeks,
            }
        ),
    }
