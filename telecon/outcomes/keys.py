"""Key rotation for clinical notes: re-encrypt every note still under a retired key with the current one.

``telecon reencrypt-notes`` wires this (with the webhook secrets, ``telecon.webhooks.services.SEALED_SECRETS``).
Rotation: restart every app and worker process with the new secret in ``TELECON_ENCRYPTION_KEY`` and the old one
in ``TELECON_ENCRYPTION_OLD_KEYS`` (so new notes go under the new key), then run the command; once it reports
nothing left, the old secret can leave ``TELECON_ENCRYPTION_OLD_KEYS``.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.crypto import KeyRing
from telecon.outcomes.models import OutcomeVersion
from telecon.rotation import BATCH_SIZE, Sealed, reencrypt


def associated_data(version_id: uuid.UUID) -> bytes:
    """What a version's notes are bound to: ``outcome_version:<uuid>``, so they cannot move to another row."""
    return f"outcome_version:{version_id}".encode()


SEALED_NOTES = Sealed(OutcomeVersion, "clinical_notes", "notes_key_id", associated_data)


async def reencrypt_notes(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing, *, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """``(re-encrypted, left unchanged)`` for the clinical notes; see ``telecon.rotation.reencrypt``."""
    return await reencrypt(sessionmaker, keys, SEALED_NOTES, batch_size=batch_size)
