from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.pool import QueuePool

from telecon.db import make_engine
from telecon.settings import Settings


def test_development_defaults_are_embedded() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.env == "development"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert settings.min_notice_minutes == 120


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(env="production")
    message = str(refused.value)
    assert "TELECON_SECRET_KEY" in message
    assert "TELECON_ENCRYPTION_KEY" in message


SECRET = "s3cr3t-Kf9xQ2mZ7pL4vB8nR1tY6wE0uH5jA"
ENCRYPTION = "3ncr-Gq8Zr2Lx6Vb0Nm4Pc7Jw1Ht5Ys9Kd3F"
JITSI = "j1tsi-Xa7Mq3Wz9Le5Rn1Tb8Yc2Uv6Ho0Kp4D"
PUBLIC_URL = "https://telecon.jobcenter.example"


def production(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": "production",
        "secret_key": SECRET,
        "encryption_key": ENCRYPTION,
        "jitsi_app_secret": JITSI,
        "public_url": PUBLIC_URL,
    }
    return Settings(**(values | overrides))


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_ENV", "production")
    monkeypatch.setenv("TELECON_SECRET_KEY", SECRET)
    monkeypatch.setenv("TELECON_ENCRYPTION_KEY", ENCRYPTION)
    monkeypatch.setenv("TELECON_JITSI_APP_SECRET", JITSI)
    monkeypatch.setenv("TELECON_PUBLIC_URL", PUBLIC_URL)
    settings = Settings()
    assert settings.env == "production"
    assert settings.secret_key.get_secret_value() == SECRET
    assert SECRET not in repr(settings)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        production(secret_key="short")


def test_production_refuses_an_empty_secret() -> None:
    with pytest.raises(ValidationError, match="TELECON_JITSI_APP_SECRET"):
        production(jitsi_app_secret="")


@pytest.mark.parametrize("weak", [" " * 32, "\t" * 40, "a" * 40, "ab" * 20, "0123456" * 6, f" {SECRET}", f"{SECRET}\n"])
def test_production_refuses_blank_or_monotonous_secrets(weak: str) -> None:
    with pytest.raises(ValidationError, match="TELECON_ENCRYPTION_KEY") as refused:
        production(encryption_key=weak)
    assert "random" in str(refused.value)


def test_production_refuses_one_secret_for_two_purposes() -> None:
    with pytest.raises(ValidationError, match="different secret") as refused:
        production(secret_key=SECRET, encryption_key=SECRET, jitsi_app_secret=SECRET)
    message = str(refused.value)
    assert "TELECON_ENCRYPTION_KEY = TELECON_SECRET_KEY" in message
    assert "TELECON_JITSI_APP_SECRET = TELECON_SECRET_KEY" in message
    with pytest.raises(ValidationError, match="TELECON_JITSI_APP_SECRET = TELECON_SECRET_KEY"):
        production(jitsi_app_secret=SECRET)


def test_the_unused_jitsi_secret_may_be_anything_with_a_private_key(tmp_path: Path) -> None:
    key = tmp_path / "jaas.pem"
    key.write_text("not read by the settings")
    settings = production(jitsi_private_key_file=key, jitsi_app_secret=SECRET)
    assert settings.jitsi_private_key_file == key


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://telecon.jobcenter.example", "telecon.jobcenter.example", "https://"]
)
def test_production_refuses_a_public_url_without_https(url: str) -> None:
    with pytest.raises(ValidationError, match="TELECON_PUBLIC_URL"):
        production(public_url=url)


def test_a_refusal_never_shows_the_secrets() -> None:
    with pytest.raises(ValidationError) as refused:
        production(encryption_key=SECRET)
    with pytest.raises(ValidationError) as short:
        production(jitsi_app_secret="short-secret-tail-xyz")
    for message in (str(refused.value), str(short.value), repr(refused.value)):
        assert SECRET[-12:] not in message
        assert JITSI[-12:] not in message
        assert "tail-xyz" not in message


def test_development_accepts_anything() -> None:
    settings = Settings(_env_file=None, secret_key=" " * 32, encryption_key=" " * 32)  # type: ignore[call-arg]
    assert settings.public_url == "http://127.0.0.1:8000"


async def test_the_postgresql_pool_is_fixed_at_the_configured_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_DATABASE_POOL_SIZE", "7")
    settings = Settings(database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)  # connects only when used
    try:
        assert engine.pool.size() == 7
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool._max_overflow == 0  # no connections opened for a burst and closed after it
    finally:
        await engine.dispose()
    with pytest.raises(ValidationError):
        Settings(database_pool_size=0)


def test_reminder_minutes_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_REMINDER_MINUTES", "2880, 90")
    assert Settings().reminder_minutes == [2880, 90]
    monkeypatch.setenv("TELECON_REMINDER_MINUTES", "")
    assert Settings().reminder_minutes == []  # no reminders at all
    monkeypatch.setenv("TELECON_REMINDER_MINUTES", "24h")
    with pytest.raises(ValueError, match="TELECON_REMINDER_MINUTES"):
        Settings()


def test_old_encryption_keys_read_as_a_comma_separated_list_of_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings(_env_file=None).encryption_old_keys == []  # type: ignore[call-arg]
    monkeypatch.setenv("TELECON_ENCRYPTION_OLD_KEYS", " first-old-secret , second old secret,")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.encryption_old_keys] == ["first-old-secret", "second old secret"]
    assert "first-old-secret" not in repr(settings)
    monkeypatch.setenv("TELECON_ENCRYPTION_OLD_KEYS", "")
    assert Settings().encryption_old_keys == []


def test_old_encryption_keys_do_not_relax_the_production_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_ENCRYPTION_OLD_KEYS", ENCRYPTION)
    with pytest.raises(ValidationError, match="TELECON_ENCRYPTION_KEY"):
        production(encryption_key="development-encryption-key-change-me")
    assert production().encryption_old_keys[0].get_secret_value() == ENCRYPTION


def test_allowed_private_networks_read_as_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().allowed_private_networks == []
    monkeypatch.setenv("TELECON_ALLOWED_PRIVATE_NETWORKS", "10.1.2.0/24, fd00::/8 192.168.5.7")
    assert [str(n) for n in Settings().allowed_private_networks] == ["10.1.2.0/24", "fd00::/8", "192.168.5.7/32"]
    monkeypatch.setenv("TELECON_ALLOWED_PRIVATE_NETWORKS", "10.1.2.0/24, caldav.jobcenter.example")
    with pytest.raises(ValueError, match=r"TELECON_ALLOWED_PRIVATE_NETWORKS: 'caldav.jobcenter.example' is not"):
        Settings()
