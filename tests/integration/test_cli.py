"""The operator's commands, run as a real process against the test database."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.organizations.models import Membership, Organization, User
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

    # The same specialist joins a second organization of the network.
    again = telecon(
        settings, "create-user", "--email", "dr.lang@example.org", "--password", "ignored for existing users",
        "--role", "specialist", "--organization", "Jobcenter Süd", "--profession", "psychologist",
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    twice = telecon(
        settings, "create-user", "--email", "dr.lang@example.org", "--password", "x" * 12,
        "--role", "specialist", "--organization", "Jobcenter Süd", "--profession", "psychologist",
    )  # fmt: skip
    assert twice.returncode == 2
    assert "already a member" in twice.stderr

    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == "dr.lang@example.org"))
        assert user is not None
        assert user.languages == ["de", "ar"]
        organizations = await session.scalars(
            select(Organization.name).join(Membership).where(Membership.user_id == user.id)
        )
        assert sorted(organizations) == ["Jobcenter Nord", "Jobcenter Süd"]

    with LiveServer(settings) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.post(
                "/api/v1/auth/login", json={"email": "dr.lang@example.org", "password": "a long enough password"}
            )
    assert response.status_code == 200, response.text
    assert response.json()["role"] == "specialist"


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
