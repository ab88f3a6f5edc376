"""Jitsi claims, room names, join secrets and join windows, checked without a Jitsi server."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from telecon.scheduling.links import JoinLinks, derive_link_key, hash_join_token, new_room_name
from telecon.video.jitsi import JitsiConfig, iframe_room_name, mint_token, window_status

SECRET = "a-test-secret-that-is-at-least-32-bytes-long"
OPENS = datetime(2026, 3, 2, 8, 45, tzinfo=UTC)
CLOSES = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
ROOM = "tc-abcdefghijklmnopqrstuvwxyz"
JAAS_APP = "vpaas-magic-cookie-1fc542a3e4414a44b2611668195e2bfe"
JAAS_KID = f"{JAAS_APP}/4f4910"


@pytest.fixture
def self_hosted() -> JitsiConfig:
    return JitsiConfig(domain="meet.example.org", app_id="telecon", app_secret=SECRET)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jaas(rsa_key: rsa.RSAPrivateKey) -> JitsiConfig:
    pem = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return JitsiConfig(domain="8x8.vc", app_id=JAAS_APP, private_key_pem=pem, kid=JAAS_KID)


def _mint(config: JitsiConfig, **overrides: Any) -> str:
    kwargs: dict[str, Any] = {
        "room": ROOM,
        "user_id": "participant-7",
        "display_name": "Alex B.",
        "moderator": False,
        "not_before": OPENS,
        "expires_at": CLOSES,
    }
    return mint_token(config, **(kwargs | overrides))


def _decode_hs256(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, SECRET, algorithms=["HS256"], audience="telecon", options={"verify_exp": False}
    )
    return claims


def _walk_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _walk_keys(item)}
    return set()


# --- room names and join secrets ---


def test_room_name_format() -> None:
    name = new_room_name()
    assert re.fullmatch(r"tc-[a-z2-7]{26}", name)
    assert not name.isdigit()


def test_room_name_carries_128_random_bits() -> None:
    encoded = new_room_name().removeprefix("tc-").upper()
    assert len(base64.b32decode(encoded + "======")) == 16


def test_room_names_are_unique() -> None:
    names = {new_room_name() for _ in range(2000)}
    assert len(names) == 2000
    assert len({name[3:8] for name in names}) > 1900  # the random part really varies


LINKS = JoinLinks(derive_link_key(SECRET), "https://telecon.test")


def test_join_token_has_256_bits_and_is_url_safe() -> None:
    nonce, token_hash = LINKS.issue()
    token = LINKS.token(nonce)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    assert token_hash == hash_join_token(token)
    assert LINKS.token(LINKS.issue()[0]) != token
    assert LINKS.url(nonce) == f"https://telecon.test/join/{token}"


def test_join_token_hash_is_sha256_hex() -> None:
    token = LINKS.token(LINKS.issue()[0])
    digest = hash_join_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert digest == hash_join_token(token)
    assert digest != hash_join_token(LINKS.token(LINKS.issue()[0]))
    assert hash_join_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --- self-hosted HS256 ---


def test_self_hosted_header_and_claims(self_hosted: JitsiConfig) -> None:
    token = _mint(self_hosted)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    assert _decode_hs256(token) == {
        "iss": "telecon",
        "aud": "telecon",
        "sub": "meet.example.org",
        "room": ROOM,
        "nbf": int(OPENS.timestamp()),
        "exp": int(CLOSES.timestamp()),
        "context": {
            "user": {"id": "participant-7", "name": "Alex B.", "moderator": False},
            "features": {"recording": False, "livestreaming": False, "transcription": False},
        },
    }


def test_aud_is_a_plain_string_and_times_are_integers(self_hosted: JitsiConfig) -> None:
    payload = json.loads(base64.urlsafe_b64decode(_mint(self_hosted).split(".")[1] + "=="))
    assert payload["aud"] == "telecon"
    assert type(payload["nbf"]) is int
    assert type(payload["exp"]) is int
    assert type(payload["room"]) is str


def test_specialist_is_moderator(self_hosted: JitsiConfig) -> None:
    claims = _decode_hs256(_mint(self_hosted, user_id="specialist-1", display_name="Dr. K", moderator=True))
    assert claims["context"]["user"] == {"id": "specialist-1", "name": "Dr. K", "moderator": True}


def test_sub_setting_overrides_domain() -> None:
    config = JitsiConfig(domain="meet.example.org", app_id="telecon", app_secret=SECRET, sub="xmpp.internal")
    assert _decode_hs256(_mint(config))["sub"] == "xmpp.internal"


def test_room_claim_is_lowercased(self_hosted: JitsiConfig) -> None:
    assert _decode_hs256(_mint(self_hosted, room="TC-Room-1"))["room"] == "tc-room-1"


@pytest.mark.parametrize("room", ["*", "", "telecon/tc-room", "tc room", "-tc"])
def test_room_claim_rejects_wildcards_and_odd_names(self_hosted: JitsiConfig, room: str) -> None:
    with pytest.raises(ValueError, match="room"):
        _mint(self_hosted, room=room)


def test_token_is_refused_outside_its_window(self_hosted: JitsiConfig) -> None:
    token = _mint(self_hosted)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, SECRET, algorithms=["HS256"], audience="telecon")


def test_fractional_times_round_outward(self_hosted: JitsiConfig) -> None:
    claims = _decode_hs256(
        _mint(
            self_hosted,
            not_before=OPENS + timedelta(milliseconds=600),
            expires_at=CLOSES + timedelta(milliseconds=300),
        )
    )
    # exp = floor would already be refused during the last, still open, part-second of the window.
    assert claims["nbf"] == int(OPENS.timestamp())
    assert claims["exp"] == int(CLOSES.timestamp()) + 1


def test_other_time_zones_give_the_same_instants(self_hosted: JitsiConfig) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    claims = _decode_hs256(
        _mint(self_hosted, not_before=OPENS.astimezone(berlin), expires_at=CLOSES.astimezone(berlin))
    )
    assert (claims["nbf"], claims["exp"]) == (int(OPENS.timestamp()), int(CLOSES.timestamp()))


def test_no_email_or_avatar_anywhere(self_hosted: JitsiConfig, jaas: JitsiConfig) -> None:
    for config in (self_hosted, jaas):
        token = _mint(config, moderator=True)
        payload = jwt.decode(token, options={"verify_signature": False})
        header = jwt.get_unverified_header(token)
        keys = _walk_keys(payload) | _walk_keys(header)
        assert not {"email", "avatar"} & keys
        assert "email" not in json.dumps(payload)
        assert "avatar" not in json.dumps(payload)


@pytest.mark.parametrize("which", ["not_before", "expires_at"])
def test_naive_datetimes_rejected(self_hosted: JitsiConfig, which: str) -> None:
    naive = datetime(2026, 3, 2, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="timezone-aware"):
        _mint(self_hosted, **{which: naive})


@pytest.mark.parametrize("expires_at", [OPENS, OPENS - timedelta(seconds=1)])
def test_expiry_must_follow_start(self_hosted: JitsiConfig, expires_at: datetime) -> None:
    with pytest.raises(ValueError, match="after"):
        _mint(self_hosted, expires_at=expires_at)


def test_self_hosted_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        JitsiConfig(domain="meet.example.org", app_id="telecon")


def test_config_repr_hides_secrets(self_hosted: JitsiConfig, jaas: JitsiConfig) -> None:
    assert SECRET not in repr(self_hosted)
    assert "PRIVATE KEY" not in repr(jaas)


def test_self_hosted_iframe_room_is_the_room(self_hosted: JitsiConfig) -> None:
    assert not self_hosted.is_jaas
    assert iframe_room_name(self_hosted, ROOM) == ROOM


# --- 8x8 JaaS RS256 ---


def test_jaas_token_verifies_with_public_key(jaas: JitsiConfig, rsa_key: rsa.RSAPrivateKey) -> None:
    token = _mint(jaas, moderator=True)
    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": JAAS_KID}
    claims = jwt.decode(
        token, rsa_key.public_key(), algorithms=["RS256"], audience="jitsi", options={"verify_exp": False}
    )
    assert claims == {
        "iss": "chat",
        "aud": "jitsi",
        "sub": JAAS_APP,
        "room": ROOM,  # the bare room: the tenant travels in sub, not in room
        "nbf": int(OPENS.timestamp()),
        "exp": int(CLOSES.timestamp()),
        "context": {
            "user": {"id": "participant-7", "name": "Alex B.", "moderator": "true"},
            "features": {"recording": "false", "livestreaming": "false", "transcription": "false"},
        },
    }


def test_jaas_participant_is_not_moderator(jaas: JitsiConfig) -> None:
    claims = jwt.decode(_mint(jaas), options={"verify_signature": False})
    assert claims["context"]["user"]["moderator"] == "false"


def test_jaas_token_does_not_verify_with_another_key(jaas: JitsiConfig) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(_mint(jaas), other, algorithms=["RS256"], audience="jitsi", options={"verify_exp": False})


def test_jaas_iframe_room_has_app_prefix(jaas: JitsiConfig) -> None:
    assert jaas.is_jaas
    assert iframe_room_name(jaas, ROOM) == f"{JAAS_APP}/{ROOM}"


@pytest.mark.parametrize("kid", [None, "", "4f4910", "vpaas-magic-cookie-other/4f4910"])
def test_jaas_needs_a_matching_kid(jaas: JitsiConfig, kid: str | None) -> None:
    with pytest.raises(ValueError, match="kid"):
        JitsiConfig(domain="8x8.vc", app_id=JAAS_APP, private_key_pem=jaas.private_key_pem, kid=kid)


# --- join window ---


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (OPENS - timedelta(seconds=1), "early"),
        (OPENS, "open"),
        (CLOSES - timedelta(seconds=1), "open"),
        (CLOSES, "ended"),
        (CLOSES + timedelta(days=1), "ended"),
    ],
)
def test_window_edges(now: datetime, expected: str) -> None:
    assert window_status(now, OPENS, CLOSES, cancelled=False) == expected


@pytest.mark.parametrize("now", [OPENS - timedelta(seconds=1), OPENS, CLOSES])
def test_cancelled_wins(now: datetime) -> None:
    assert window_status(now, OPENS, CLOSES, cancelled=True) == "cancelled"


def test_window_status_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_status(OPENS.replace(tzinfo=None), OPENS, CLOSES, cancelled=False)


def test_token_is_accepted_in_every_open_second(self_hosted: JitsiConfig) -> None:
    claims = _decode_hs256(_mint(self_hosted))
    # Prosody accepts while nbf <= now < exp in whole seconds; the window is open in [opens_at, closes_at).
    for now in (OPENS, OPENS + timedelta(minutes=30), CLOSES - timedelta(seconds=1)):
        assert window_status(now, OPENS, CLOSES, cancelled=False) == "open"
        assert claims["nbf"] <= int(now.timestamp()) < claims["exp"]
    assert not int(CLOSES.timestamp()) < claims["exp"]
