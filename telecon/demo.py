"""Demo data for trying telecon out: one job centre with staff, specialists and participants."""

from __future__ import annotations

import uuid
from datetime import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.access import Role
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession, User
from telecon.participants.models import CaseFileKind, Consent, ConsentKind, Participant
from telecon.participants.services import case_file_entry
from telecon.passwords import hash_password
from telecon.scheduling.models import AvailabilityRule, ConsultationType
from telecon.waitlist.models import WaitlistEntry, WaitlistStatus

DEMO_ORGANIZATION = "Jobcenter Demo (Service Point Gesundheit und Arbeit)"
DEMO_PHONE = "030 5555 0100"
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 (printed for the demo)

STAFF: list[tuple[str, str, Role, Profession | None, list[str]]] = [
    ("admin@demo.telecon.invalid", "Anna Admin", Role.admin, None, ["de"]),
    ("coach.mueller@demo.telecon.invalid", "Claudia Müller", Role.coach, None, ["de"]),
    ("coach.yilmaz@demo.telecon.invalid", "Deniz Yılmaz", Role.coach, None, ["de", "tr"]),
    ("dr.weber@demo.telecon.invalid", "Dr. Petra Weber", Role.specialist, Profession.physician, ["de", "en"]),
    ("dipl.psych.kaya@demo.telecon.invalid", "Emre Kaya", Role.specialist, Profession.psychologist, ["de", "tr"]),
    (
        "dr.schulz@demo.telecon.invalid",
        "Dr. Jonas Schulz",
        Role.specialist,
        Profession.occupational_physician,
        ["de"],
    ),
]
PARTICIPANTS = [
    ("Michael B.", "de", "JC-2026-0001"),
    ("Olena K.", "uk", "JC-2026-0002"),
    ("Sabine R.", "de-x-simple", "JC-2026-0003"),
    ("Ahmet T.", "tr", "JC-2026-0004"),
    ("Lukas F.", "de", "JC-2026-0005"),
    ("Samira H.", "ar", "JC-2026-0006"),
]
# Monday–Friday mornings and two afternoons, in the specialist's zone (Europe/Berlin).
WEEKLY = [(d, time(9), time(12, 30)) for d in range(5)] + [(1, time(14), time(17)), (3, time(14), time(17))]


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    """Create the demo organization once; later calls only list the logins."""
    async with sessionmaker() as session, session.begin():
        organization = await organizations.get_or_create_organization(session, DEMO_ORGANIZATION)
        existing = await session.scalar(select(User).where(User.email == STAFF[0][0]))
        if existing is None:
            organization.contact_phone = DEMO_PHONE
            await _seed(session, organization.id)
    return [f"{role.value:<10} {email:<42} {DEMO_PASSWORD}" for email, _, role, _, _ in STAFF]


async def _seed(session: AsyncSession, organization_id: uuid.UUID) -> None:
    password_hash = hash_password(DEMO_PASSWORD)
    users: dict[str, User] = {}
    for email, name, role, profession, languages in STAFF:
        users[email] = await organizations.create_user(
            session,
            organization_id=organization_id,
            email=email,
            role=role,
            display_name=name,
            password_hash=password_hash,
            profession=profession,
            languages=languages,
        )
    for user in users.values():
        if user.profession is not None:
            session.add_all(
                AvailabilityRule(specialist_id=user.id, weekday=d, start_time=a, end_time=b) for d, a, b in WEEKLY
            )
    first_consultation = ConsultationType(
        organization_id=organization_id,
        name="Erstgespräch (30 Minuten)",
        duration_minutes=30,
        buffer_minutes=10,
        professions=[],
    )
    session.add_all(
        [
            first_consultation,
            ConsultationType(
                organization_id=organization_id,
                # A neutral name: it is what invitations and calendar entries show.
                name="Beratungsgespräch (50 Minuten)",
                duration_minutes=50,
                buffer_minutes=10,
                professions=[Profession.psychologist.value, Profession.psychotherapist.value],
            ),
        ]
    )
    coaches = [u for u in users.values() if u.email.startswith("coach.")]
    for index, (name, language, reference) in enumerate(PARTICIPANTS):
        coach = coaches[index % len(coaches)]
        participant = Participant(
            organization_id=organization_id,
            display_name=name,
            email=f"teilnehmer{index + 1}@demo.telecon.invalid",
            preferred_language=language,
            case_reference=reference,
            coach_id=coach.id,
        )
        session.add(participant)
        await session.flush()
        kinds = [ConsentKind.video_consultation, ConsentKind.email_contact]
        if index % 2 == 0:
            kinds.append(ConsentKind.share_outcome_with_coach)
        for kind in kinds:
            session.add(
                Consent(
                    organization_id=organization_id,
                    participant_id=participant.id,
                    kind=kind,
                    granted=True,
                    recorded_by_id=coach.id,
                    evidence="demo: signed form on file",
                )
            )
            session.add(
                case_file_entry(
                    organization_id,
                    participant.id,
                    CaseFileKind.consent_recorded,
                    author_id=coach.id,
                    data={"consent": kind.value, "granted": True},
                )
            )
        if index == 0:
            # Waiting for a physician: the first sweep holds Dr. Weber's next slot, shown on the coach's home page.
            await session.flush()
            session.add(
                WaitlistEntry(
                    organization_id=organization_id,
                    participant_id=participant.id,
                    consultation_type_id=first_consultation.id,
                    profession=Profession.physician,
                    created_by_id=coach.id,
                    status=WaitlistStatus.waiting,
                )
            )
