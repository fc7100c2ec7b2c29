"""Settings: one object, built once in create_app and passed down. Environment prefix LANDED_."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

ENV_PREFIX = "LANDED_"


class JWTSettings(BaseModel):
    secret: SecretStr | None = None  # HS256
    public_key: SecretStr | None = None  # PEM, RS256 or ES256
    audience: str | None = None
    issuer: str | None = None
    leeway_seconds: int = 30


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
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
    # Per-provider settings, read from LANDED_<PROVIDER>__<NAME> (e.g. LANDED_SENDGRID__
    # VERIFICATION_KEY). Each adapter validates its own part, so adding a provider never
    # touches this file. Values are secrets until an adapter says otherwise.
    providers: dict[str, dict[str, SecretStr]] = Field(default_factory=dict)

    metadata_key: str = "landed_email_id"
    max_webhook_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    # Every route (a 10,000-email batch is a few MB), refused before it is read; webhooks
    # also have their own, lower cap above.
    max_request_body_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    retry_after_seconds: int = 30
    # Group commit of concurrent webhook requests (see app/webhooks/coalescer.py).
    ingest_flushers: int = Field(2, ge=1, le=32)
    ingest_max_group_events: int = Field(5000, ge=1)
    ingest_window_ms: float = Field(0.0, ge=0, le=50)
    log_level: str = "INFO"

    @property
    def service_token_list(self) -> list[str]:
        tokens = self.service_tokens
        return [
            t.strip() for t in (tokens.get_secret_value() if tokens else "").split(",") if t.strip()
        ]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, ProviderEnvSource(settings_cls), file_secret_settings)


class ProviderEnvSource(PydanticBaseSettingsSource):
    """Collect LANDED_<PROVIDER>__<NAME> variables that no declared field claims."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        declared = {name.upper() for name in self.settings_cls.model_fields}
        providers: dict[str, dict[str, str]] = {}
        for key, value in os.environ.items():
            if not key.startswith(ENV_PREFIX) or "__" not in key:
                continue
            provider, _, name = key[len(ENV_PREFIX) :].partition("__")
            if provider and name and provider.upper() not in declared:
                providers.setdefault(provider.lower(), {})[name.lower()] = value
        return {"providers": providers} if providers else {}
