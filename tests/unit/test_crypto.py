"""AES-256-GCM under a key ring: round trips, fresh nonces, authenticated rows, rotation, unknown keys."""

from __future__ import annotations

import doctest
import hashlib

import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr

import telecon.crypto
from telecon.crypto import HKDF_INFO, KeyRing, UnknownKey, derive_key
from telecon.settings import Settings

OLD = "the old secret, long enough and varied: Qx7#mZ2!"
NEW = "the new secret, long enough and varied: Lp4$wR9&"
ROW = b"outcome_version:0b6f6d2e-8a43-4bb2-9a8e-3c2d1f0e5a77"
NOTES = "Lumbago seit 2019; Verdacht auf depressive Episode (F32.1)"


def test_round_trip() -> None:
    ring = KeyRing.from_secrets(NEW)
    key_id, sealed = ring.encrypt(NOTES, associated=ROW)
    assert key_id == ring.current_id
    assert ring.decrypt(key_id, sealed, associated=ROW) == NOTES
    assert ring.decrypt(*ring.encrypt("", associated=ROW), associated=ROW) == ""


def test_a_fresh_nonce_every_time() -> None:
    ring = KeyRing.from_secrets(NEW)
    sealed = [ring.encrypt(NOTES, associated=ROW)[1] for _ in range(20)]
    assert len({s[:12] for s in sealed}) == 20
    assert len(set(sealed)) == 20
    assert all(len(s) == 12 + len(NOTES.encode()) + 16 for s in sealed)


def test_the_plaintext_is_not_in_the_ciphertext() -> None:
    _, sealed = KeyRing.from_secrets(NEW).encrypt(NOTES, associated=ROW)
    assert NOTES.encode() not in sealed
    assert b"Lumbago" not in sealed
    assert b"F32.1" not in sealed


@pytest.mark.parametrize("position", [0, 5, 12, 20, -1])
def test_a_tampered_ciphertext_fails(position: int) -> None:
    ring = KeyRing.from_secrets(NEW)
    key_id, sealed = ring.encrypt(NOTES, associated=ROW)
    tampered = bytearray(sealed)
    tampered[position] ^= 0x01
    with pytest.raises(InvalidTag):
        ring.decrypt(key_id, bytes(tampered), associated=ROW)


@pytest.mark.parametrize("sealed", [b"", b"short", bytes(27)])
def test_a_truncated_ciphertext_fails(sealed: bytes) -> None:
    ring = KeyRing.from_secrets(NEW)
    with pytest.raises(InvalidTag):
        ring.decrypt(ring.current_id, sealed, associated=ROW)


def test_other_associated_data_fails() -> None:
    """A ciphertext copied into another row does not decrypt there."""
    ring = KeyRing.from_secrets(NEW)
    key_id, sealed = ring.encrypt(NOTES, associated=ROW)
    for other in (b"outcome_version:another-row", b"", ROW + b" "):
        with pytest.raises(InvalidTag):
            ring.decrypt(key_id, sealed, associated=other)


def test_an_unknown_key_id_fails_clearly() -> None:
    key_id, sealed = KeyRing.from_secrets(OLD).encrypt(NOTES, associated=ROW)
    with pytest.raises(UnknownKey) as unknown:
        KeyRing.from_secrets(NEW).decrypt(key_id, sealed, associated=ROW)
    assert unknown.value.key_id == key_id
    assert key_id in str(unknown.value)
    assert "TELECON_ENCRYPTION_OLD_KEYS" in str(unknown.value)
    assert OLD not in str(unknown.value)
    assert NEW not in str(unknown.value)


def test_an_old_key_still_decrypts_after_rotation() -> None:
    old_id, sealed = KeyRing.from_secrets(OLD).encrypt(NOTES, associated=ROW)
    rotated = KeyRing.from_secrets(NEW, [OLD])
    assert rotated.current_id != old_id
    assert rotated.decrypt(old_id, sealed, associated=ROW) == NOTES
    new_id, resealed = rotated.encrypt(NOTES, associated=ROW)
    assert new_id == rotated.current_id == KeyRing.from_secrets(NEW).current_id
    assert KeyRing.from_secrets(NEW).decrypt(new_id, resealed, associated=ROW) == NOTES
    assert rotated.key_ids == {old_id, new_id}


def test_key_ids_differ_per_secret_and_are_stable() -> None:
    ids = {KeyRing.from_secrets(secret).current_id for secret in (OLD, NEW, OLD + " ", "x")}
    assert len(ids) == 4
    assert KeyRing.from_secrets(NEW).current_id == KeyRing.from_secrets(NEW, [OLD]).current_id
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in ids)


def test_the_key_id_is_a_hash_of_the_derived_key_not_of_the_secret() -> None:
    key = derive_key(NEW)
    assert len(key) == 32
    assert KeyRing.from_secrets(NEW).current_id == hashlib.sha256(key).hexdigest()[:16]
    assert KeyRing.from_secrets(NEW).current_id != hashlib.sha256(NEW.encode()).hexdigest()[:16]
    assert HKDF_INFO == b"telecon clinical notes v1"


def test_a_key_ring_from_settings() -> None:
    settings = Settings(_env_file=None, encryption_key=SecretStr(NEW), encryption_old_keys=[SecretStr(OLD)])  # type: ignore[call-arg]
    ring = KeyRing.from_settings(settings)
    assert ring.current_id == KeyRing.from_secrets(NEW).current_id
    old_id, sealed = KeyRing.from_secrets(OLD).encrypt(NOTES, associated=ROW)
    assert ring.decrypt(old_id, sealed, associated=ROW) == NOTES


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        KeyRing.from_secrets("")


def test_the_module_docstring_example_runs() -> None:
    failed, attempted = doctest.testmod(telecon.crypto)
    assert attempted > 5
    assert failed == 0
