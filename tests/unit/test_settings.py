from __future__ import annotations

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


def test_production_starts_with_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECON_ENV", "production")
    monkeypatch.setenv("TELECON_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("TELECON_ENCRYPTION_KEY", "e" * 40)
    monkeypatch.setenv("TELECON_JITSI_APP_SECRET", "j" * 40)
    settings = Settings()
    assert settings.env == "production"
    assert settings.secret_key.get_secret_value() == "s" * 40
    assert "s" * 40 not in repr(settings)


def test_production_refuses_a_short_secret_key() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(env="production", secret_key="short", encryption_key="e" * 40, jitsi_app_secret="j" * 40)


def test_production_refuses_an_empty_secret() -> None:
    with pytest.raises(ValidationError, match="TELECON_JITSI_APP_SECRET"):
        Settings(env="production", secret_key="s" * 40, encryption_key="e" * 40, jitsi_app_secret="")


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
