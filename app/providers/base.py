"""The adapter interface every ESP implements, and small helpers adapters share.

An adapter does two things, in this order: `verify` the request's authenticity over the raw
bytes (raise SignatureInvalid), then `parse` the same bytes into normalised events plus the
items it could not interpret (raise MalformedPayload when the body as a whole is unreadable).
Provider quirks live in the adapter that has them; nothing outside app/providers/ knows them.
"""

from __future__ import annotations

import hashlib
import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar
from uuid import UUID

import orjson
from pydantic import BaseModel, SecretStr, ValidationError

from app.config import Settings
from app.domain.events import ParsedBatch
from app.errors import MalformedPayload, SignatureInvalid

Headers = Mapping[str, str]  # case-insensitive in practice (Starlette's Headers)


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """What an adapter may look at: the raw bytes (read once), headers, the peer, the URL."""

    raw: bytes
    headers: Headers
    client_ip: str | None = None
    url: str = ""


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified request. `nonce`, when set, is stored so the same signature cannot be replayed
    with another body (the webhook service refuses a known nonce whose body hash differs)."""

    nonce: str | None = None


class WebhookAdapter(ABC):
    name: ClassVar[str]
    # Shown in the OpenAPI description of the webhook route.
    summary: ClassVar[str] = ""

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        """The adapter, or None when its secrets are not configured (the route then answers 404)."""

    @classmethod
    def canonical_message_id(cls, value: str) -> str:
        """The provider message id as stored on emails and events (adapters may trim suffixes)."""
        return value.strip()

    @abstractmethod
    async def verify(self, request: InboundRequest) -> Verified:
        """Raise SignatureInvalid unless the request provably comes from the provider."""

    @abstractmethod
    def parse(self, request: InboundRequest) -> ParsedBatch:
        """Normalised events plus rejected items; MalformedPayload if the body is unreadable."""

    async def handle_control(self, request: InboundRequest) -> bool:
        """Handle a verified provider control message (e.g. a subscription confirmation).
        Return True when the request carried no events and needs no ingestion."""
        return False


# ---- helpers shared by adapters ------------------------------------------------------------

SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def provider_settings(settings: Settings, name: str, model: type[SettingsModel]) -> SettingsModel:
    """This provider's part of the settings (LANDED_<NAME>__*), validated by its own model.
    A bad value stops start-up with a message naming the variable."""
    raw = {k: v.get_secret_value() for k, v in settings.providers.get(name, {}).items()}
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"Invalid LANDED_{name.upper()}__* settings: {exc}") from None


def split_secrets(value: str | SecretStr | None) -> list[str]:
    """Comma-separated secrets (several are active during a rotation)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return [part.strip() for part in (value or "").split(",") if part.strip()]


# Signatures dated this far in the future are refused whatever the tolerance (clock skew only).
FUTURE_SKEW_SECONDS = 300


def check_signed_at(signed_at: float, *, now: float, tolerance: int, what: str) -> None:
    """Refuse a signature older than `tolerance` seconds or dated in the future."""
    age = now - signed_at
    if age > tolerance or age < -FUTURE_SKEW_SECONDS:
        raise SignatureInvalid(f"The {what} is outside the accepted window.")


# No ESP nests its events anywhere near this deep. orjson reads up to 1,024 levels but writes
# at most 254, and every event is stored as JSON, so deeper bodies are refused whole (400).
MAX_NESTING = 254
# Upper bounds far above any ESP's real batches; beyond them a request is refused (400), so one
# signed request cannot keep a worker busy for minutes.
MAX_BATCH_ITEMS = 20_000
MAX_RECIPIENTS_PER_EVENT = 100


def load_json(raw: bytes) -> Any:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedPayload("The body is not valid JSON.", details={"error": str(exc)}) from None
    try:
        orjson.dumps(body)  # in C: far cheaper than walking the tree to measure its depth
    except TypeError:
        raise MalformedPayload(f"The body is nested deeper than {MAX_NESTING} levels.") from None
    return body


def check_batch_size(count: int, what: str = "events") -> None:
    if count > MAX_BATCH_ITEMS:
        raise MalformedPayload(f"Too many {what} in one request (limit {MAX_BATCH_ITEMS}).")


def constant_time_equal(a: str | bytes, b: str | bytes) -> bool:
    a_bytes = a.encode() if isinstance(a, str) else a
    b_bytes = b.encode() if isinstance(b, str) else b
    return hmac.compare_digest(a_bytes, b_bytes)


def clean_text(value: object, *, limit: int = 2000) -> str | None:
    """A string fit for a text column: NUL removed (PostgreSQL refuses it), length capped."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value[:limit] if value else None


def parse_uuid(value: object) -> UUID | None:
    if not isinstance(value, str):
        return None
    try:
        return UUID(value.strip())
    except ValueError:
        return None


def content_key(item: Any) -> str:
    """A dedupe key derived from an event's content, for events without a provider id."""
    digest = hashlib.sha256(orjson.dumps(item, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"content:{digest}"
