"""The operator's commands, run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.audit.models import AuditEvent
from telecon.organizations.models import Membership, Organization, Profession, User
from telecon.settings import Settings
from tests.conftest import LiveServer


def telecon(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TELECON_DATABASE_URL": settings.database_url}
    return subprocess.run(
        [sys.executable, "-m", "telecon", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


async def test_create_user_bootstraps_an_organization_and_can_log_in(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    done = telecon(
        settings,
        "create-user",
        "--email", "Dr.Lang@Example.org",
        "--password", "a long enough password",
        "--role", "specialist",
        "--organization", "Jobcenter Nord",
        "--profession", "psychologist",
        "--language", "de",
        "--language", "ar",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Jobcenter Nord" in done.stdout
    assert "a long enough password" not in done.stdout + done.stderr

    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "dr.lang@example.org"))
        assert user is not None
        assert user.languages == ["de", "ar"]
        organizations = await session.scalars(
            select(Organization.name).join(Membership).where(Membership.user_id == user.id)
        )
        assert sorted(organizations) == ["Jobcenter Nord"]

    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post(
                "/api/v1/auth/login", json={"email": "dr.lang@example.org", "password": "a long enough password"}
            )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "specialist"


async def test_create_user_refuses_an_existing_email_without_add_membership(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Organization B's admin created the address first; an operator of A must not silently attach it."""
    first = telecon(
        settings, "create-user", "--email", "shared@example.org", "--password", "the holder's password",
        "--role", "coach", "--organization", "Jobcenter B", "--name", "Holder",
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    again = telecon(
        settings, "create-user", "--email", "Shared@Example.org", "--password", "the operator's password",
        "--role", "admin", "--organization", "Jobcenter A", "--name", "Operator's idea",
    )  # fmt: skip
    assert again.returncode == 2
    assert "already exists" in again.stderr
    assert "--add-membership" in again.stderr
    assert "Traceback" not in again.stderr
    assert await _organizations_of(sessionmaker, "shared@example.org") == ["Jobcenter B"]
    assert await _logs_in(settings, "shared@example.org", "the holder's password")
    assert not await _logs_in(settings, "shared@example.org", "the operator's password")
    # A new account still needs its password.
    no_password = telecon(settings, "create-user", "--email", "new@example.org", "--role", "coach",
                          "--organization", "Jobcenter A")  # fmt: skip
    assert no_password.returncode == 2
    assert "--password" in no_password.stderr


async def test_add_membership_attaches_the_account_and_says_what_it_left_alone(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    created = telecon(
        settings, "create-user", "--email", "dr.lang@example.org", "--password", "a long enough password",
        "--role", "specialist", "--organization", "Jobcenter Nord", "--profession", "psychologist",
        "--language", "de", "--language", "ar",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr

    # A typo must not create an account: --add-membership needs one that exists.
    typo = telecon(
        settings, "create-user", "--email", "dr.lnag@example.org", "--role", "specialist",
        "--organization", "Jobcenter Süd", "--add-membership",
    )  # fmt: skip
    assert typo.returncode == 2
    assert "no account has this email" in typo.stderr
    async with sessionmaker() as session:
        assert await session.scalar(select(User).where(User.email == "dr.lnag@example.org")) is None

    # The same specialist joins a second organization of the network; what else was given changes nothing.
    joined = telecon(
        settings, "create-user", "--email", "dr.lang@example.org", "--password", "a different password",
        "--role", "specialist", "--organization", "Jobcenter Süd", "--profession", "physician",
        "--name", "Someone Else", "--language", "tr", "--timezone", "Europe/Istanbul", "--add-membership",
    )  # fmt: skip
    assert joined.returncode == 0, joined.stderr
    assert "Jobcenter Süd" in joined.stdout
    assert "password, name, profession, languages and time zone were NOT changed" in joined.stdout
    assert "a different password" not in joined.stdout + joined.stderr
    assert await _organizations_of(sessionmaker, "dr.lang@example.org") == ["Jobcenter Nord", "Jobcenter Süd"]
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "dr.lang@example.org"))
        assert user is not None
        assert (user.display_name, user.profession, user.languages, user.timezone) == (
            "dr.lang", Profession.psychologist, ["de", "ar"], "Europe/Berlin",
        )  # fmt: skip
        south = await session.scalar(select(Organization.id).where(Organization.name == "Jobcenter Süd"))
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "membership.added_by_operator"))
        assert event is not None
        assert (event.actor_id, event.organization_id, event.object_id) == (None, south, user.id)
        assert event.details == {"role": "specialist"}
    assert await _logs_in(settings, "dr.lang@example.org", "a long enough password")
    assert not await _logs_in(settings, "dr.lang@example.org", "a different password")

    twice = telecon(
        settings, "create-user", "--email", "dr.lang@example.org", "--role", "specialist",
        "--organization", "Jobcenter Süd", "--add-membership",
    )  # fmt: skip
    assert twice.returncode == 2
    assert "already a member" in twice.stderr


async def _organizations_of(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> list[str]:
    async with sessionmaker() as session:
        names = await session.scalars(
            select(Organization.name)
            .join(Membership)
            .join(User, User.id == Membership.user_id)
            .where(User.email == email)
        )
        return sorted(names)


async def _logs_in(settings: Settings, email: str, password: str) -> bool:
    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code in (200, 401), response.text
    return response.status_code == 200


def test_create_user_refuses_a_specialist_without_profession(settings: Settings) -> None:
    done = telecon(
        settings, "create-user", "--email", "x@example.org", "--password", "a long enough password",
        "--role", "specialist", "--organization", "Jobcenter Ost",
    )  # fmt: skip
    assert done.returncode == 2
    assert "profession" in done.stderr


async def test_demo_seeds_once_and_prints_logins(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = telecon(settings, "demo")
    second = telecon(settings, "demo")
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "admin@demo.telecon.invalid" in first.stdout
    assert first.stdout == second.stdout
    async with sessionmaker() as session:
        specialists = await session.scalars(select(User).where(User.profession.is_not(None)))
        assert len({s.profession for s in specialists}) == 3


def test_production_without_secrets_refuses_to_start_with_a_clear_message(settings: Settings) -> None:
    env = {**os.environ, "TELECON_DATABASE_URL": settings.database_url, "TELECON_ENV": "production"}
    done = subprocess.run(
        [sys.executable, "-m", "telecon", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "TELECON_SECRET_KEY" in done.stderr
    assert "Traceback" not in done.stderr
