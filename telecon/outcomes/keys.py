"""Key rotation for clinical notes: re-encrypt every note still under a retired key with the current one.

``telecon reencrypt-notes`` wires this. Rotation: restart every app and worker process with the new secret in
``TELECON_ENCRYPTION_KEY`` and the old one in ``TELECON_ENCRYPTION_OLD_KEYS`` (so new notes go under the new key),
then run the command; once it reports nothing left, the old secret can leave ``TELECON_ENCRYPTION_OLD_KEYS``.
"""

from __future__ import annotations

import logging
import uuid

from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.crypto import KeyRing, UnknownKey
from telecon.outcomes.models import OutcomeVersion

log = logging.getLogger(__name__)

BATCH_SIZE = 500


def associated_data(version_id: uuid.UUID) -> bytes:
    """What a version's notes are bound to: ``outcome_version:<uuid>``, so they cannot move to another row."""
    return f"outcome_version:{version_id}".encode()


async def reencrypt_notes(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing, *, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Re-encrypt, under ``keys.current_id``, every note whose ``notes_key_id`` is another key's.

    Returns ``(re-encrypted, left unchanged)``: the second counts notes none of ``keys`` can decrypt (a key id
    no configured secret yields, or a ciphertext that is not authentic); they keep their old ciphertext and
    key id, and are logged by row id and key id, never by content. Rows go in order of id, ``batch_size`` per
    transaction, so an interruption leaves whole batches done and the rest untouched; running it again goes on.
    """
    reencrypted = undecryptable = 0
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session, session.begin():
            query = (
                select(OutcomeVersion)
                .where(
                    OutcomeVersion.clinical_notes.is_not(None),
                    or_(OutcomeVersion.notes_key_id.is_(None), OutcomeVersion.notes_key_id != keys.current_id),
                )
                .order_by(OutcomeVersion.id)
                .limit(batch_size)
                .with_for_update()
            )
            if after is not None:
                query = query.where(OutcomeVersion.id > after)
            batch = list(await session.scalars(query))
            for version in batch:
                sealed, associated = version.clinical_notes or b"", associated_data(version.id)
                try:
                    notes = keys.decrypt(version.notes_key_id or "(none)", sealed, associated=associated)
                except (UnknownKey, InvalidTag) as error:
                    undecryptable += 1
                    reason = "not authentic" if isinstance(error, InvalidTag) else "unknown key"
                    log.warning(
                        "outcome_version %s: notes under key %s left unchanged (%s)",
                        version.id,
                        version.notes_key_id,
                        reason,
                    )
                    continue
                version.notes_key_id, version.clinical_notes = keys.encrypt(notes, associated=associated)
                reencrypted += 1
        if len(batch) < batch_size:
            return reencrypted, undecryptable
        after = batch[-1].id
