"""Key rotation for everything ``telecon.crypto`` seals: re-encrypt what is still under a retired key.

One loop for every sealed column (clinical notes, webhook secrets): ``reencrypt(sessionmaker, keys, Sealed(...))``
walks the rows in order of id, ``batch_size`` per transaction, so an interruption leaves whole batches done and
the rest untouched, and running it again goes on. ``telecon reencrypt-notes`` runs it for each sealed column.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from telecon.crypto import KeyRing, UnknownKey

log = logging.getLogger(__name__)

BATCH_SIZE = 500


@dataclass(frozen=True, slots=True)
class Sealed:
    """A sealed column: the model, its ciphertext and key-id attributes, and its rows' associated data."""

    model: Any
    ciphertext: str
    key_id: str
    associated: Callable[[uuid.UUID], bytes]


async def reencrypt(
    sessionmaker: async_sessionmaker[AsyncSession], keys: KeyRing, sealed: Sealed, *, batch_size: int = BATCH_SIZE
) -> tuple[int, int]:
    """Re-encrypt, under ``keys.current_id``, every value of ``sealed`` under another key.

    Returns ``(re-encrypted, left unchanged)``: the second counts values none of ``keys`` can decrypt (a key id no
    configured secret yields, or a ciphertext that is not authentic); they keep their ciphertext and key id and
    are logged by row id and key id, never by content.
    """
    model = sealed.model
    ciphertext, key_id = getattr(model, sealed.ciphertext), getattr(model, sealed.key_id)
    reencrypted = undecryptable = 0
    after: uuid.UUID | None = None
    while True:
        async with sessionmaker() as session, session.begin():
            query = (
                select(model)
                .where(ciphertext.is_not(None), or_(key_id.is_(None), key_id != keys.current_id))
                .order_by(model.id)
                .limit(batch_size)
                .with_for_update()
            )
            if after is not None:
                query = query.where(model.id > after)
            batch = list(await session.scalars(query))
            for row in batch:
                associated = sealed.associated(row.id)
                try:
                    plain = keys.decrypt(
                        getattr(row, sealed.key_id) or "(none)", getattr(row, sealed.ciphertext), associated=associated
                    )
                except (UnknownKey, InvalidTag) as error:
                    undecryptable += 1
                    reason = "not authentic" if isinstance(error, InvalidTag) else "unknown key"
                    log.warning(
                        "%s %s: left under key %s (%s)",
                        model.__tablename__,
                        row.id,
                        getattr(row, sealed.key_id),
                        reason,
                    )
                    continue
                new_key, sealed_value = keys.encrypt(plain, associated=associated)
                setattr(row, sealed.key_id, new_key)
                setattr(row, sealed.ciphertext, sealed_value)
                reencrypted += 1
        if len(batch) < batch_size:
            return reencrypted, undecryptable
        after = batch[-1].id
