"""Encryption at rest for clinical notes: AES-256-GCM under a ring of keys that can rotate.

Pure: no web framework, no database. Each secret (``TELECON_ENCRYPTION_KEY``, and the retired ones in
``TELECON_ENCRYPTION_OLD_KEYS``) becomes a 32-byte key by HKDF-SHA256 (info ``b"telecon clinical notes v1"``,
no salt). A key's id is the first 16 hex digits of SHA-256 over the derived key: stored next to each
ciphertext, it says which key to decrypt with and reveals nothing usable about the key or its secret.

Every encryption draws a fresh 96-bit random nonce and stores it in front of the ciphertext (which ends in
GCM's 16-byte tag). ``associated`` is authenticated, not stored: the caller names the row
(``b"outcome_version:<uuid>"``), so a ciphertext copied into another row does not decrypt there.

>>> until_today, from_today = "the secret we used until today, 32+ chars", "the new secret, from today on, 32+ chars"
>>> old = KeyRing.from_secrets(until_today)
>>> key_id, sealed = old.encrypt("Rückenschmerzen seit 2019", associated=b"outcome_version:42")
>>> key_id == old.current_id and len(key_id) == 16
True
>>> old.decrypt(key_id, sealed, associated=b"outcome_version:42")
'Rückenschmerzen seit 2019'
>>> ring = KeyRing.from_secrets(from_today, old=[until_today])
>>> ring.decrypt(key_id, sealed, associated=b"outcome_version:42")  # an old key still decrypts
'Rückenschmerzen seit 2019'
>>> ring.encrypt("neu", associated=b"outcome_version:42")[0] == ring.current_id != key_id  # new ones: the new key
True
>>> ring.decrypt(key_id, sealed, associated=b"outcome_version:43")  # another row's data: refused
Traceback (most recent call last):
...
cryptography.exceptions.InvalidTag
>>> stranger = KeyRing.from_secrets("a third secret")
>>> stranger.decrypt(key_id, sealed, associated=b"outcome_version:42")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
telecon.crypto.UnknownKey: no key with id ... is configured (TELECON_ENCRYPTION_KEY, TELECON_ENCRYPTION_OLD_KEYS)

Errors: an id that no configured secret yields raises ``UnknownKey``; a ciphertext that was altered, cut
short, or decrypted with other associated data (or a wrong key that happens to share the id, which SHA-256
makes impossible in practice) raises ``cryptography.exceptions.InvalidTag``, unwrapped: it means the data
is not authentic, never that a key is missing.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from telecon.settings import Settings

HKDF_INFO = b"telecon clinical notes v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_HEX = 16


class UnknownKey(LookupError):
    """A ciphertext names a key id that none of the configured secrets yields."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no key with id {key_id} is configured (TELECON_ENCRYPTION_KEY, TELECON_ENCRYPTION_OLD_KEYS)")
        self.key_id = key_id


def derive_key(secret: str) -> bytes:
    """The 32-byte AES key of a secret: HKDF-SHA256, no salt, info ``b"telecon clinical notes v1"``."""
    if not secret:
        raise ValueError("an encryption secret must not be empty")
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=HKDF_INFO).derive(secret.encode())


def key_id(key: bytes) -> str:
    """The first 16 hex digits of SHA-256 over the derived key."""
    return hashlib.sha256(key).hexdigest()[:KEY_ID_HEX]


class KeyRing:
    """The current key (encrypts) and the retired ones (only decrypt), each found by its id."""

    current_id: str

    def __init__(self, current: bytes, old: Sequence[bytes] = ()) -> None:
        self.current_id = key_id(current)
        self._ciphers: dict[str, AESGCM] = {key_id(key): AESGCM(key) for key in old}
        self._ciphers[self.current_id] = AESGCM(current)

    @classmethod
    def from_secrets(cls, current: str, old: Sequence[str] = ()) -> KeyRing:
        return cls(derive_key(current), [derive_key(secret) for secret in old])

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        """``TELECON_ENCRYPTION_KEY`` encrypts; ``TELECON_ENCRYPTION_OLD_KEYS`` still decrypt."""
        return cls.from_secrets(
            settings.encryption_key.get_secret_value(),
            [secret.get_secret_value() for secret in settings.encryption_old_keys],
        )

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._ciphers)

    def encrypt(self, plaintext: str, *, associated: bytes) -> tuple[str, bytes]:
        """``(current key id, nonce + ciphertext + tag)``; a fresh random nonce every time."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[self.current_id].encrypt(nonce, plaintext.encode(), associated)
        return self.current_id, nonce + sealed

    def decrypt(self, key_id: str, ciphertext: bytes, *, associated: bytes) -> str:
        """The plaintext; ``UnknownKey`` for an id no secret yields, ``InvalidTag`` for data not authentic."""
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise UnknownKey(key_id)
        if len(ciphertext) < NONCE_BYTES + TAG_BYTES:
            raise InvalidTag
        plaintext = cipher.decrypt(ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], associated)
        return plaintext.decode()
