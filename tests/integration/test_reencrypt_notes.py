"""Key rotation: ``reencrypt_notes`` moves clinical notes from retired keys to the current one, on both databases."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon import cli
from telecon.crypto import KeyRing
from telecon.db import make_engine, make_sessionmaker
from telecon.outcomes.keys import associated_data, reencrypt_notes
from telecon.outcomes.models import Attendance, Outcome, OutcomeVersion
from telecon.scheduling.models import Consultation
from telecon.settings import Settings
from tests.conftest import seed_world


@pytest.fixture(autouse=True)
def _root_logger_put_back() -> Iterator[None]:
    """``cli.main`` sets up the process's logging: a root handler on this test's captured stderr, which is closed
    after the test. Put the root logger back, or every later log line in this process hits a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


A = "secret A: the one retired: Hk3#pW8!qZ"
B = "secret B: the current one: Rt6$mN2&vX"
C = "secret C: configured nowhere: Yd9%cJ4*bL"


def notes_of(n: int) -> str:
    return f"Befund {n}: Rückenschmerzen, Schlafstörung (F51.0) — Notiz {uuid.uuid4()}"


async def seed_notes(
    sessionmaker: async_sessionmaker[AsyncSession], secrets: list[str | None], *, first_hour: int = 0
) -> dict[uuid.UUID, str]:
    """One consultation with an outcome per entry, with one version each: its notes under that secret
    (``None``: a version without notes). Returns each noted version's id and its plaintext."""
    world = await seed_world(sessionmaker, name=f"Jobcenter {uuid.uuid4().hex[:8]}", prefix=uuid.uuid4().hex[:8])
    start = datetime(2030, 1, 7, 6, tzinfo=UTC) + timedelta(hours=first_hour)
    plaintexts: dict[uuid.UUID, str] = {}
    async with sessionmaker() as session, session.begin():
        for n, secret in enumerate(secrets):
            starts_at = start + timedelta(hours=n)
            consultation = Consultation(
                organization_id=world.organization_id,
                participant_id=world.participant_id,
                specialist_id=world.specialist_id,
                consultation_type_id=world.type_id,
                starts_at=starts_at,
                ends_at=starts_at + timedelta(minutes=30),
                blocked_until=starts_at + timedelta(minutes=30),
                room_name=f"room-{uuid.uuid4().hex}",
            )
            session.add(consultation)
            await session.flush()
            outcome = Outcome(
                organization_id=world.organization_id, consultation_id=consultation.id, author_id=world.specialist_id
            )
            session.add(outcome)
            await session.flush()
            version = OutcomeVersion(
                id=uuid.uuid4(),
                outcome_id=outcome.id,
                version=1,
                attendance=Attendance.attended,
                recorded_by_id=world.specialist_id,
            )
            if secret is not None:
                plaintexts[version.id] = notes_of(n)
                version.notes_key_id, version.clinical_notes = KeyRing.from_secrets(secret).encrypt(
                    plaintexts[version.id], associated=associated_data(version.id)
                )
            session.add(version)
    return plaintexts


async def stored(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[uuid.UUID, tuple[str | None, bytes | None]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(OutcomeVersion.id, OutcomeVersion.notes_key_id, OutcomeVersion.clinical_notes)
        )
        return {row.id: (row.notes_key_id, row.clinical_notes) for row in rows}


def key_id(secret: str) -> str:
    return KeyRing.from_secrets(secret).current_id


async def test_every_note_moves_to_the_current_key_and_a_second_run_has_nothing_to_do(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    plaintexts = await seed_notes(sessionmaker, [A, A, None, A, B, A, A, A])
    before = await stored(sessionmaker)

    assert await reencrypt_notes(sessionmaker, KeyRing.from_secrets(B, [A]), batch_size=3) == (6, 0)

    after = await stored(sessionmaker)
    only_b = KeyRing.from_secrets(B)
    for version_id, text in plaintexts.items():
        notes_key_id, sealed = after[version_id]
        assert notes_key_id == key_id(B)
        assert sealed is not None
        assert only_b.decrypt(key_id(B), sealed, associated=associated_data(version_id)) == text
        if before[version_id][0] == key_id(A):
            assert sealed != before[version_id][1]
        else:  # already under B: not touched
            assert after[version_id] == before[version_id]
    assert [v for v, (k, s) in after.items() if s is None] == [v for v, (k, s) in before.items() if s is None]
    assert all(k is None for k, s in after.values() if s is None)

    assert await reencrypt_notes(sessionmaker, KeyRing.from_secrets(B, [A])) == (0, 0)
    assert await stored(sessionmaker) == after


async def test_notes_nobody_can_decrypt_are_counted_and_left_unchanged(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    plaintexts = await seed_notes(sessionmaker, [C, A, A, C, A, C, A])
    moved = next(iter(plaintexts))  # a ciphertext copied onto another row: a known key, but not authentic here
    async with sessionmaker() as session, session.begin():
        versions = {v.id: v for v in await session.scalars(select(OutcomeVersion))}
        donor = next(v for v in versions.values() if v.id != moved and v.notes_key_id == key_id(A))
        versions[moved].notes_key_id, versions[moved].clinical_notes = donor.notes_key_id, donor.clinical_notes
    before = await stored(sessionmaker)
    under_c = {v for v, (k, _) in before.items() if k == key_id(C)}
    assert len(under_c) == 2  # the third C row became the copied one

    ring = KeyRing.from_secrets(B, [A])
    assert await reencrypt_notes(sessionmaker, ring, batch_size=2) == (4, 3)

    after = await stored(sessionmaker)
    for version_id in [*under_c, moved]:
        assert after[version_id] == before[version_id]
    moved_ok = set(plaintexts) - under_c - {moved}
    assert len(moved_ok) == 4
    for version_id in moved_ok:
        notes_key_id, sealed = after[version_id]
        assert notes_key_id == key_id(B)
        assert sealed is not None
        assert ring.decrypt(key_id(B), sealed, associated=associated_data(version_id)) == plaintexts[version_id]

    assert await reencrypt_notes(sessionmaker, ring, batch_size=2) == (0, 3)
    assert await stored(sessionmaker) == after
    assert await reencrypt_notes(sessionmaker, KeyRing.from_secrets(B, [A, C])) == (2, 1)


def test_the_command_reencrypts_and_fails_while_notes_remain_under_an_unknown_key(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def seed(secrets: list[str | None], first_hour: int) -> dict[uuid.UUID, str]:
        engine = make_engine(settings.database_url)
        try:
            return await seed_notes(make_sessionmaker(engine), secrets, first_hour=first_hour)
        finally:
            await engine.dispose()

    async def read() -> dict[uuid.UUID, tuple[str | None, bytes | None]]:
        engine = make_engine(settings.database_url)
        try:
            return await stored(make_sessionmaker(engine))
        finally:
            await engine.dispose()

    plaintexts = asyncio.run(seed([A, A, B], first_hour=0))
    monkeypatch.setenv("TELECON_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TELECON_ENCRYPTION_KEY", B)
    monkeypatch.setenv("TELECON_ENCRYPTION_OLD_KEYS", f"{C[:5]}-not-it,{A}")

    assert cli.main(["reencrypt-notes"]) == 0
    out, err = capsys.readouterr()
    assert f"re-encrypted 2 clinical notes under the current key {key_id(B)}" in out
    assert "nothing is left under other keys" in out
    after = asyncio.run(read())
    assert {after[v][0] for v in plaintexts} == {key_id(B)}
    assert A not in out + err
    assert B not in out + err

    under_c = asyncio.run(seed([C], first_hour=24))
    assert cli.main(["reencrypt-notes"]) == 1
    out, err = capsys.readouterr()
    assert "re-encrypted 0 clinical notes" in out
    assert "1 clinical notes could not be decrypted" in err
    assert asyncio.run(read())[next(iter(under_c))][0] == key_id(C)
    assert C not in out + err


async def test_webhook_secrets_rotate_like_notes(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from telecon.rotation import reencrypt
    from telecon.webhooks.models import WebhookSubscription
    from telecon.webhooks.services import SEALED_SECRETS, associated

    world = await seed_world(sessionmaker)
    subscription_id = uuid.uuid4()
    key, sealed = KeyRing.from_secrets(A).encrypt("the receiver's secret", associated=associated(subscription_id))
    async with sessionmaker() as session, session.begin():
        session.add(
            WebhookSubscription(
                id=subscription_id,
                organization_id=world.organization_id,
                url="https://cms.example/hook",
                events=["outcome.recorded"],
                secret_ciphertext=sealed,
                secret_key_id=key,
            )
        )
    ring = KeyRing.from_secrets(B, [A])
    assert await reencrypt(sessionmaker, ring, SEALED_SECRETS) == (1, 0)
    async with sessionmaker() as session:
        row = await session.get_one(WebhookSubscription, subscription_id)
    assert row.secret_key_id == KeyRing.from_secrets(B).current_id
    plain = KeyRing.from_secrets(B).decrypt(row.secret_key_id, row.secret_ciphertext, associated=associated(row.id))
    assert plain == "the receiver's secret"


async def test_calendar_passwords_and_urls_rotate_like_notes(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    from telecon.calendars.models import CalendarKind, CalendarSource
    from telecon.calendars.services import SEALED_PASSWORDS, SEALED_URLS, associated, url_associated
    from telecon.rotation import reencrypt

    world = await seed_world(sessionmaker)
    old = KeyRing.from_secrets(A)
    source_id, ics_id = uuid.uuid4(), uuid.uuid4()
    key, sealed = old.encrypt("app password", associated=associated(source_id))

    def url_of(row_id: uuid.UUID, url: str) -> dict[str, Any]:
        key_id, ciphertext = old.encrypt(url, associated=url_associated(row_id))
        return {"shown_url": url.split("/", 3)[2], "url_ciphertext": ciphertext, "url_key_id": key_id}

    async with sessionmaker() as session, session.begin():
        session.add_all(
            [
                CalendarSource(
                    id=source_id,
                    specialist_id=world.specialist_id,
                    kind=CalendarKind.caldav,
                    username="doctor",
                    password_ciphertext=sealed,
                    password_key_id=key,
                    **url_of(source_id, "https://dav.example/cal/"),
                ),
                # An ICS link without a password: only its URL to re-encrypt.
                CalendarSource(
                    id=ics_id,
                    specialist_id=world.psychologist_id,
                    kind=CalendarKind.ics,
                    **url_of(ics_id, "https://x.example/private-token/a.ics"),
                ),
            ]
        )
    ring = KeyRing.from_secrets(B, [A])
    new = KeyRing.from_secrets(B)
    assert await reencrypt(sessionmaker, ring, SEALED_PASSWORDS) == (1, 0)
    assert await reencrypt(sessionmaker, ring, SEALED_URLS) == (2, 0)
    async with sessionmaker() as session:
        row = await session.get_one(CalendarSource, source_id)
        ics = await session.get_one(CalendarSource, ics_id)
    assert row.password_key_id == new.current_id
    assert row.password_ciphertext is not None
    plain = new.decrypt(row.password_key_id, row.password_ciphertext, associated=associated(row.id))
    assert plain == "app password"
    assert ics.url_key_id == row.url_key_id == new.current_id
    assert new.decrypt(ics.url_key_id, ics.url_ciphertext, associated=url_associated(ics.id)).endswith("/a.ics")
