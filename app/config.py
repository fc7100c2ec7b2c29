"""Settings: one object, built once in create_app and passed down. Environment prefix LANDED_."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# SendGrid retries for up to 24 h after an event and does not document whether retries are
# re-signed, so a signature may legitimately be a day old. 36 h keeps every retry; replays are
# harmless because events are deduplicated.
DEFAULT_SENDGRID_TOLERANCE_SECONDS = 36 * 3600


def split_csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class SendGridSettings(BaseModel):
    # Base64 DER public key(s) exactly as SendGrid shows them; comma-separated for rotation.
    verification_key: SecretStr | None = None
    timestamp_tolerance_seconds: int = Field(DEFAULT_SENDGRID_TOLERANCE_SECONDS, ge=1)

    @property
    def verification_keys(self) -> list[str]:
        return split_csv(
            self.verification_key.get_secret_value() if self.verification_key else None
        )


class JWTSettings(BaseModel):
    secret: SecretStr | None = None  # HS256
    public_key: SecretStr | None = None  # PEM, RS256 or ES256
    audience: str | None = None
    issuer: str | None = None
    leeway_seconds: int = 30


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LANDED_",
        env_nested_delimiter="__",
        env_file=None,
        extra="ignore",
    )

    # postgresql+asyncpg://user@host:5432/db; unset: an embedded PostgreSQL under data_dir.
    database_url: str | None = None
    data_dir: Path = Path(".landed")
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_seconds: float = 5.0
    migrate_on_start: bool = True

    service_tokens: SecretStr | None = None  # comma-separated bearer tokens of internal callers
    jwt: JWTSettings = Field(default_factory=JWTSettings)
    sendgrid: SendGridSettings = Field(default_factory=SendGridSettings)

    metadata_key: str = "landed_email_id"
    max_webhook_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    retry_after_seconds: int = 30
    log_level: str = "INFO"

    @property
    def service_token_list(self) -> list[str]:
        return split_csv(self.service_tokens.get_secret_value() if self.service_tokens else None)
