"""Resend webhooks, delivered by Svix and signed the Standard Webhooks way (HMAC-SHA256).

Docs: https://resend.com/docs/dashboard/webhooks/event-types
      https://resend.com/docs/webhooks/verify-webhooks-requests
      https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
One event per request: {"type", "created_at", "data": {...}}. Svix signs
`{svix-id}.{svix-timestamp}.{raw body}` with the endpoint secret (`whsec_<base64>`) and sends
`svix-signature: v1,<base64> [v1,<base64> ...]` (several during a secret rotation). Each
retry is signed afresh with a new timestamp but keeps its `svix-id`, which is our dedupe key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel, Field, SecretStr

from app.config import Settings
from app.domain.events import (
    EventKind,
    FailureCategory,
    NormalizedEvent,
    ParsedBatch,
    RejectedEvent,
)
from app.domain.timestamps import InvalidTimestamp, from_iso
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import (
    MAX_RECIPIENTS_PER_EVENT,
    Headers,
    InboundRequest,
    Verified,
    WebhookAdapter,
    clean_text,
    constant_time_equal,
    content_key,
    load_json,
    parse_uuid,
    provider_settings,
    split_secrets,
)

# The Standard Webhooks libraries' window, applied both ways (too old and too new). Retries are
# re-signed, so a short window loses nothing.
DEFAULT_TOLERANCE_SECONDS = 5 * 60
SECRET_PREFIX = "whsec_"
# Branded (Svix, what Resend sends) first, then the unbranded Standard Webhooks names.
HEADER_SETS: tuple[tuple[str, str, str], ...] = (
    ("svix-id", "svix-timestamp", "svix-signature"),
    ("webhook-id", "webhook-timestamp", "webhook-signature"),
)
_MAX_ID_LENGTH = 200


class ResendSettings(BaseModel):
    """LANDED_RESEND__SIGNING_SECRET, LANDED_RESEND__TIMESTAMP_TOLERANCE_SECONDS."""

    # The endpoint's signing secret(s) as Resend shows them (whsec_...); comma-separated.
    signing_secret: SecretStr | None = None
    timestamp_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, ge=1)


# Event types from Resend's "Event Types" page. Checked there (docs corpus, 2026):
# - email.failed: "the email failed to send due to an error" (invalid recipients, API key,
#   domain verification, quota); Resend never handed it to a mail server → DROPPED.
# - email.suppressed: Resend refused to send because the address is on the account's
#   suppression list (earlier hard bounce or complaint), `data.suppressed{type,message}` → DROPPED.
# - email.scheduled: stored for sending later and still cancellable; `email.sent` follows when it
#   really goes out, so it is no evidence of sending yet → UNKNOWN (kept on the timeline).
# contact.*, domain.*, email.received (inbound mail) and anything new fall to UNKNOWN.
EVENT_KINDS: dict[str, EventKind] = {
    "email.sent": EventKind.ACCEPTED,
    "email.delivered": EventKind.DELIVERED,
    "email.delivery_delayed": EventKind.DEFERRED,
    "email.bounced": EventKind.HARD_BOUNCE,  # refined by data.bounce below
    "email.complained": EventKind.COMPLAINED,
    "email.opened": EventKind.OPENED,
    "email.clicked": EventKind.CLICKED,
    "email.failed": EventKind.DROPPED,
    "email.suppressed": EventKind.DROPPED,
    "email.scheduled": EventKind.UNKNOWN,
}

# data.bounce.type (Resend uses SES's bounce types; docs "Email bounces"). "Permanent" and
# "Undetermined" stay hard bounces (email.bounced means a permanent rejection).
BOUNCE_TYPES: dict[str, EventKind] = {
    "permanent": EventKind.HARD_BOUNCE,
    "transient": EventKind.SOFT_BOUNCE,
    "soft": EventKind.SOFT_BOUNCE,
    "undetermined": EventKind.HARD_BOUNCE,
}

# data.bounce.subType. "Suppressed"/"OnAccountSuppressionList": Resend never tried, because the
# address bounced before → DROPPED (handled in _bounce).
SUPPRESSED_SUBTYPES = frozenset({"suppressed", "onaccountsuppressionlist"})
BOUNCE_SUBTYPES: dict[str, FailureCategory] = {
    "general": FailureCategory.INVALID_ADDRESS,  # a hard bounce from the recipient's provider
    "noemail": FailureCategory.UNKNOWN,
    "mailboxfull": FailureCategory.MAILBOX_UNAVAILABLE,
    "messagetoolarge": FailureCategory.CONTENT,
    "contentrejected": FailureCategory.CONTENT,
    "attachmentrejected": FailureCategory.CONTENT,
    "suppressed": FailureCategory.SUPPRESSED_BOUNCE,
    "onaccountsuppressionlist": FailureCategory.SUPPRESSED_BOUNCE,
}

# data.failed.reason values seen in Resend's docs and SDK tests; others are UNKNOWN.
FAILED_REASONS: dict[str, FailureCategory] = {
    "reached_daily_quota": FailureCategory.TECHNICAL,
    "reached_monthly_quota": FailureCategory.TECHNICAL,
    "domain_not_verified": FailureCategory.TECHNICAL,
}

# email.suppressed does not say why the address is suppressed; its message text sometimes
# does. Words looked for, in order; the default is an earlier bounce (Resend's usual cause).
SUPPRESSION_WORDS: tuple[tuple[str, FailureCategory], ...] = (
    ("complain", FailureCategory.SUPPRESSED_COMPLAINT),
    ("spam", FailureCategory.SUPPRESSED_COMPLAINT),
    ("unsubscrib", FailureCategory.SUPPRESSED_UNSUBSCRIBE),
)


def decode_secret(secret: str) -> bytes:
    """The HMAC key: base64-decoded part after `whsec_` (the prefix is optional)."""
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("Invalid LANDED_RESEND__SIGNING_SECRET: not whsec_<base64>.") from None
    if not key:
        raise ValueError("Invalid LANDED_RESEND__SIGNING_SECRET: empty key.")
    return key


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 over `{id}.{timestamp}.{body}` (no `v1,` prefix)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _signature_headers(headers: Headers) -> tuple[str, str, str] | None:
    for id_name, ts_name, sig_name in HEADER_SETS:
        msg_id, timestamp, signature = (
            headers.get(id_name),
            headers.get(ts_name),
            headers.get(sig_name),
        )
        if msg_id or timestamp or signature:
            if not (msg_id and timestamp and signature):
                return None
            return msg_id, timestamp, signature
    return None


def _v1_signatures(header: str) -> list[bytes]:
    """The decoded `v1,<base64>` entries of a signature header; other versions are ignored."""
    found: list[bytes] = []
    for entry in header.split():
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


class ResendAdapter(WebhookAdapter):
    name = "resend"
    summary = "Resend webhooks, Svix / Standard Webhooks HMAC signatures (svix-* headers)."

    def __init__(
        self,
        keys: list[bytes],
        *,
        tolerance_seconds: int,
        metadata_key: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._tolerance = tolerance_seconds
        self._metadata_key = metadata_key
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        config = provider_settings(settings, cls.name, ResendSettings)
        secrets = split_secrets(config.signing_secret)
        if not secrets:
            return None
        return cls(
            [decode_secret(s) for s in secrets],
            tolerance_seconds=config.timestamp_tolerance_seconds,
            metadata_key=settings.metadata_key,
        )

    async def verify(self, request: InboundRequest) -> Verified:
        found = _signature_headers(request.headers)
        if found is None:
            raise SignatureInvalid("Missing svix-id, svix-timestamp or svix-signature header.")
        msg_id, timestamp, header = found
        if len(msg_id) > _MAX_ID_LENGTH or not msg_id.isascii():
            raise SignatureInvalid("The message id is not a Svix message id.")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise SignatureInvalid("The signature timestamp is not a Unix time in seconds.")
        if abs(self._clock() - int(timestamp)) > self._tolerance:
            raise SignatureInvalid("The signature timestamp is outside the accepted window.")
        given = _v1_signatures(header)
        if not given:
            raise SignatureInvalid("No v1 signature in base64.")
        matched = False
        for key in self._keys:
            expected = base64.b64decode(sign(key, msg_id, timestamp, request.raw))
            for signature in given:  # no early exit: every comparison runs
                matched |= constant_time_equal(expected, signature)
        if not matched:
            raise SignatureInvalid()
        # No nonce: the body is signed, so a signature cannot be moved to another body.
        return Verified()

    def parse(self, request: InboundRequest) -> ParsedBatch:
        body = load_json(request.raw)
        if not isinstance(body, dict):
            raise MalformedPayload("Expected a JSON object (one Resend event).")
        found = _signature_headers(request.headers)
        msg_id = clean_text(found[0], limit=_MAX_ID_LENGTH) if found else None
        try:
            return ParsedBatch(events=self._normalize(body, msg_id))
        except _Reject as exc:
            return ParsedBatch(events=[], rejects=[RejectedEvent(reason=str(exc), raw=body)])

    def _normalize(self, body: dict[str, Any], msg_id: str | None) -> list[NormalizedEvent]:
        event = body.get("type")
        if not isinstance(event, str) or not event.strip():
            raise _Reject("missing or non-string 'type'")
        event = event.strip()
        data = body.get("data")
        if not isinstance(data, dict):
            raise _Reject("missing or non-object 'data'")
        try:
            occurred_at = from_iso(body.get("created_at"))
        except InvalidTimestamp as exc:
            raise _Reject(f"bad 'created_at': {exc}") from None
        kind = EVENT_KINDS.get(event, EventKind.UNKNOWN)
        is_email = event.startswith("email.")
        recipients = _recipients(data.get("to")) if is_email else [None]
        if not recipients:
            raise _Reject("missing or non-string 'data.to'")
        category: FailureCategory | None = None
        reason: str | None = None
        if event == "email.bounced":
            kind, category, reason = _bounce(data)
        elif event == "email.failed":
            failed = data.get("failed")
            reason = clean_text(failed.get("reason")) if isinstance(failed, dict) else None
            category = FAILED_REASONS.get((reason or "").lower(), FailureCategory.UNKNOWN)
        elif event == "email.suppressed":
            category, reason = _suppression(data)
        message_id = clean_text(data.get("email_id"), limit=500) if is_email else None
        claimed = _claimed_id(data.get("tags"), self._metadata_key) if is_email else None
        url = None
        if event == "email.clicked" and isinstance(data.get("click"), dict):
            url = clean_text(data["click"].get("link"), limit=2000)
        if len(recipients) > MAX_RECIPIENTS_PER_EVENT:
            raise _Reject(f"more than {MAX_RECIPIENTS_PER_EVENT} recipients in one event")
        several = len(recipients) > 1
        events: list[NormalizedEvent] = []
        for recipient in recipients:
            if msg_id is None:
                key = content_key({"event": body, "recipient": recipient})
            elif several:
                key = f"svix:{msg_id}:{(recipient or '').lower()}"
            else:
                key = f"svix:{msg_id}"
            events.append(
                NormalizedEvent(
                    provider=self.name,
                    dedupe_key=key,
                    kind=kind,
                    provider_event_type=clean_text(event, limit=100) or "unknown",
                    occurred_at=occurred_at,
                    recipient=recipient,
                    provider_message_id=self.canonical_message_id(message_id)
                    if message_id
                    else None,
                    claimed_email_id=claimed,
                    # Resend flags no machine opens (no bot or proxy field in its payloads).
                    machine=False,
                    reason=reason,
                    failure_category=category,
                    url=url,
                    raw=body,
                )
            )
        return events


class _Reject(ValueError):
    """An event we cannot interpret; it goes to quarantine with this reason."""


def _recipients(value: object) -> list[str | None]:
    """`data.to` is a list of addresses (a bare string is accepted); one event per address."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        return []
    found: list[str | None] = []
    seen: set[str] = set()
    for item in items:
        address = clean_text(item, limit=320) if isinstance(item, str) else None
        if address is None:
            return []  # a list with a non-address in it is not something we can read
        if address.lower() not in seen:
            seen.add(address.lower())
            found.append(address)
    return found


def _claimed_id(tags: object, metadata_key: str) -> UUID | None:
    """Our id from `data.tags`: an object {name: value}, or a list of {name, value}."""
    if isinstance(tags, dict):
        return parse_uuid(tags.get(metadata_key))
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("name") == metadata_key:
                return parse_uuid(tag.get("value"))
    return None


def _bounce(data: dict[str, Any]) -> tuple[EventKind, FailureCategory, str | None]:
    bounce = data.get("bounce")
    bounce = bounce if isinstance(bounce, dict) else {}
    bounce_type = str(bounce.get("type") or "").strip().lower()
    subtype = str(bounce.get("subType") or "").strip().lower()
    reason = clean_text(bounce.get("message"))
    category = BOUNCE_SUBTYPES.get(subtype, FailureCategory.UNKNOWN)
    if subtype in SUPPRESSED_SUBTYPES:
        return EventKind.DROPPED, category, reason
    kind = BOUNCE_TYPES.get(bounce_type, EventKind.HARD_BOUNCE)
    if kind is EventKind.SOFT_BOUNCE and subtype == "general":
        category = FailureCategory.UNKNOWN  # a transient "general" bounce says nothing more
    return kind, category, reason


def _suppression(data: dict[str, Any]) -> tuple[FailureCategory, str | None]:
    suppressed = data.get("suppressed")
    suppressed = suppressed if isinstance(suppressed, dict) else {}
    reason = clean_text(suppressed.get("message")) or clean_text(suppressed.get("type"))
    text = " ".join(
        str(suppressed.get(field) or "") for field in ("type", "reason", "message")
    ).lower()
    for word, category in SUPPRESSION_WORDS:
        if word in text:
            return category, reason
    return FailureCategory.SUPPRESSED_BOUNCE, reason
