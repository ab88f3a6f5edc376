"""One typed settings object, read from ``TELECON_`` environment variables."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_SECRET_KEY = "development-secret-key-change-me-in-production"  # noqa: S105 (refused in production)
DEV_ENCRYPTION_KEY = "development-encryption-key-change-me"
DEV_JITSI_APP_SECRET = "development-jitsi-app-secret-change-me"  # noqa: S105
MIN_SECRET_LENGTH = 32
MIN_SECRET_VARIETY = 8
"""Different characters a production secret needs at least: 32 spaces or "ab" × 16 are not secrets."""


class Settings(BaseSettings):
    """Everything telecon reads from its environment; safe embedded defaults for development."""

    model_config = SettingsConfigDict(env_prefix="TELECON_", extra="ignore", hide_input_in_errors=True)
    """``hide_input_in_errors``: a refusal is logged, and pydantic would print the (secret) input with it."""

    env: Literal["development", "production"] = "development"
    log_format: Literal["json", "text"] | None = None
    """One JSON object a line, or plain text; unset: JSON in production, text in development (``telecon.logs``)."""
    shutdown_seconds: int = Field(default=30, ge=0, le=3600)
    """On SIGTERM, how long ``serve`` lets requests in flight finish (then the in-process relay its sends,
    as long again) and ``worker`` its running jobs, before cancelling what is left."""
    database_url: str = "sqlite+aiosqlite:///var/telecon.db"
    """SQLAlchemy async URL: ``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``."""
    database_pool_size: int = Field(default=40, ge=1, le=500)
    """PostgreSQL connections each process keeps open; a request waits when all are busy (never more)."""
    redis_url: str | None = None
    """Redis for arq; unset means the web process runs the background loop itself."""
    public_url: str = "http://127.0.0.1:8000"
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = []
    """Proxies whose ``X-Forwarded-For`` is believed: addresses or networks, comma-separated; nobody's by default."""
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    encryption_key: SecretStr = SecretStr(DEV_ENCRYPTION_KEY)
    """Encrypts clinical notes (``telecon.crypto``); to rotate, move the old one to ``encryption_old_keys``."""
    encryption_old_keys: Annotated[list[SecretStr], NoDecode] = []
    """Retired encryption keys, comma-separated (so none may contain a comma; blanks around each are dropped):
    they only decrypt. ``telecon reencrypt-notes`` moves the notes under them to ``encryption_key``."""
    access_token_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    session_minutes: int = Field(default=480, ge=5, le=7 * 24 * 60)
    """How long a sign-in to the staff web pages lasts (the session cookie and the token in it)."""

    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "tls"] = "starttls"
    """``none`` (a relay on loopback), ``starttls`` (port 587) or ``tls`` (implicit TLS, port 465)."""
    smtp_timeout_seconds: float = Field(default=30, gt=0, le=600)
    mail_from: str = "telecon <no-reply@telecon.invalid>"
    mail_dir: Path = Path("var/mail")
    """Without ``smtp_host`` every message is written here as an ``.eml`` file (the path is logged)."""

    reminder_minutes: Annotated[list[int], NoDecode] = [1440, 60]
    """How long before the start participants and guests get a reminder, comma-separated minutes."""
    outbox_retention_days: int = Field(default=90, ge=1)
    """Sent and void messages older than this are deleted; pending and failed ones never."""
    participant_retention_days: int = Field(default=730, ge=1)
    """A participant with no consultation for this long (and registered longer ago) is erased by housekeeping,
    as by ``POST /api/v1/participants/{id}/erase``."""
    outbox_give_up_hours: int = Field(default=24, ge=1)
    """A message still undelivered this long after it was written is marked failed (a person must act)."""
    outbox_lease_seconds: int = Field(default=300, ge=1)
    """A relay holds a claimed message this long; if it dies meanwhile, another relay sends it afterwards."""
    relay_poll_seconds: float = Field(default=0.25, gt=0, le=60)
    """How often an idle relay looks for due messages."""
    relay_concurrency: int = Field(default=32, ge=1, le=1000)
    """Messages one relay process sends at once (in-process loop and each arq worker alike)."""

    calendar_sync_minutes: int = Field(default=5, ge=1, le=1440)
    """How often the worker reads each specialist's own calendar (CalDAV or ICS URL) for busy times."""
    allowed_private_networks: Annotated[list[IPv4Network | IPv6Network], NoDecode] = []
    """Networks outside the public internet that telecon may connect to for an address a user gave: a specialist's
    calendar, an organization's webhook (e.g. the job centre's own CalDAV server or case system), comma-separated;
    none by default: such an address that resolves to a private, loopback or link-local one is refused
    (``telecon.egress``)."""

    min_notice_minutes: int = Field(default=120, ge=0)
    max_slot_search_days: int = Field(default=62, ge=1)
    waitlist_hold_minutes: int = Field(default=120, ge=5, le=7 * 24 * 60)
    """How long a slot found for a waitlist entry is held for its coach to confirm."""
    join_opens_minutes: int = Field(default=15, ge=0)
    join_closes_minutes: int = Field(default=30, ge=0)

    login_free_failures: int = Field(default=3, ge=1)
    """Wrong passwords one address may try for one account before each further try has to wait."""
    login_max_delay_seconds: int = Field(default=900, ge=1)
    """The wait doubles with every further failure (2 s, 4 s, 8 s, …) up to this."""
    login_max_failures_per_address: int = Field(default=20, ge=1)
    """Failures from one address across all accounts within the window before it gets 429."""
    login_max_failures_per_account: int = Field(default=10, ge=1)
    """Failures for one account across all addresses within the window before unknown addresses get 429."""
    login_failure_window_minutes: int = Field(default=15, ge=1)
    login_known_address_days: int = Field(default=90, ge=1)
    """How long an address an account logged in from stays exempt from the account-wide cap."""
    password_hashing_concurrency: int = Field(default=2, ge=1, le=64)
    """Argon2 hashes (64 MiB each) one process computes at once, in worker threads; more wait in line."""

    jitsi_domain: str = "meet.jitsi.example"
    jitsi_app_id: str = "telecon"
    jitsi_app_secret: SecretStr = SecretStr(DEV_JITSI_APP_SECRET)
    jitsi_sub: str | None = None
    """The token's ``sub``: the Prosody XMPP domain or tenant; defaults to ``jitsi_domain``."""
    jitsi_private_key_file: Path | None = None
    jitsi_kid: str | None = None
    jitsi_external_api_url: str | None = None
    """Where the join page loads ``external_api.js``; defaults to the Jitsi server's own copy."""
    join_max_misses_per_address: int = Field(default=30, ge=1)

    @field_validator("trusted_proxies", "allowed_private_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        networks = []
        for item in value.replace(",", " ").split():
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                name = f"TELECON_{(info.field_name or '').upper()}"
                raise ValueError(f"{name}: {item!r} is not an IP address or network") from None
        return networks

    @field_validator("reminder_minutes", mode="before")
    @classmethod
    def _split_minutes(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            minutes = [int(item) for item in value.replace(",", " ").split()]
        except ValueError:
            raise ValueError("TELECON_REMINDER_MINUTES: whole minutes, comma-separated, e.g. 1440,60") from None
        if any(m <= 0 for m in minutes):
            raise ValueError("TELECON_REMINDER_MINUTES: each lead must be more than 0 minutes")
        return minutes

    @field_validator("encryption_old_keys", mode="before")
    @classmethod
    def _split_old_keys(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return [SecretStr(item.strip()) for item in value.split(",") if item.strip()]

    @property
    def external_api_url(self) -> str:
        if self.jitsi_external_api_url:
            return self.jitsi_external_api_url
        if self.jitsi_private_key_file is not None:
            return f"https://8x8.vc/{self.jitsi_app_id}/external_api.js"
        return f"https://{self.jitsi_domain}/external_api.js"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        """Production refuses development secrets, weak or shared secrets and a public URL without https.

        Messages name the variables, never their values.
        """
        if self.env != "production":
            return self
        secrets = {
            "TELECON_SECRET_KEY": (self.secret_key.get_secret_value(), DEV_SECRET_KEY),
            "TELECON_ENCRYPTION_KEY": (self.encryption_key.get_secret_value(), DEV_ENCRYPTION_KEY),
        }
        if self.jitsi_private_key_file is None:  # RS256 (JaaS) does not use the app secret
            secrets["TELECON_JITSI_APP_SECRET"] = (self.jitsi_app_secret.get_secret_value(), DEV_JITSI_APP_SECRET)
        still_default = [name for name, (value, dev) in secrets.items() if value == dev]
        if still_default:
            raise ValueError(f"production refuses development defaults for: {', '.join(still_default)}")
        short = [name for name, (value, _) in secrets.items() if len(value) < MIN_SECRET_LENGTH]
        if short:
            raise ValueError(f"production needs secrets of at least {MIN_SECRET_LENGTH} characters: {', '.join(short)}")
        weak = [
            name
            for name, (value, _) in secrets.items()
            if value != value.strip() or len(set(value)) < MIN_SECRET_VARIETY
        ]
        if weak:
            raise ValueError(
                "production needs random secrets (at least "
                f"{MIN_SECRET_VARIETY} different characters, no surrounding blanks): {', '.join(weak)}"
            )
        names = sorted(secrets)
        shared = [f"{a} = {b}" for i, a in enumerate(names) for b in names[i + 1 :] if secrets[a][0] == secrets[b][0]]
        if shared:
            raise ValueError(f"production needs a different secret for each purpose: {', '.join(shared)}")
        public = urlsplit(self.public_url)
        if public.scheme != "https" or not public.hostname:
            raise ValueError("production needs an https:// TELECON_PUBLIC_URL: join links go out by mail")
        return self
