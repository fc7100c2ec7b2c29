"""SendGrid Event Webhook (Twilio SendGrid), signed with ECDSA P-256 / SHA-256.

Docs: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
      https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
The body is a JSON array of events; SendGrid signs `timestamp header || raw body` (the body it
signs ends with CRLF, so it must be verified byte for byte, never re-serialised).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key
from pydantic import BaseModel, Field, SecretStr

from app.config import Settings
from app.domain.events import (
    EventKind,
    FailureCategory,
    NormalizedEvent,
    ParsedBatch,
    RejectedEvent,
)
from app.domain.timestamps import InvalidTimestamp, from_epoch
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import (
    InboundRequest,
    Verified,
    WebhookAdapter,
    check_batch_size,
    check_signed_at,
    clean_text,
    content_key,
    load_json,
    parse_uuid,
    provider_settings,
    split_secrets,
)

# SendGrid retries for up to 24 h after an event and does not document whether retries are
# re-signed, so a signature may legitimately be a day old. 36 h keeps every retry; replays are
# harmless because events are deduplicated. Raise it to replay old captured batches.
DEFAULT_TOLERANCE_SECONDS = 36 * 3600


class SendGridSettings(BaseModel):
    """LANDED_SENDGRID__VERIFICATION_KEY, LANDED_SENDGRID__TIMESTAMP_TOLERANCE_SECONDS."""

    # Base64 DER public key(s) exactly as SendGrid shows them; comma-separated for rotation.
    verification_key: SecretStr | None = None
    timestamp_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, ge=1)


SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

# Event names from SendGrid's Event Webhook reference ("Delivery events", "Engagement events").
EVENT_KINDS: dict[str, EventKind] = {
    "processed": EventKind.ACCEPTED,
    "deferred": EventKind.DEFERRED,
    "delivered": EventKind.DELIVERED,
    "open": EventKind.OPENED,
    "click": EventKind.CLICKED,
    "bounce": EventKind.HARD_BOUNCE,  # refined by `type` below
    "dropped": EventKind.DROPPED,
    "spamreport": EventKind.COMPLAINED,
    "unsubscribe": EventKind.UNSUBSCRIBED,
    "group_unsubscribe": EventKind.UNSUBSCRIBED,
    "group_resubscribe": EventKind.RESUBSCRIBED,
}

# `bounce` events carry type "bounce" (permanent) or "blocked" (temporary, may still deliver).
BOUNCE_TYPES: dict[str, EventKind] = {
    "bounce": EventKind.HARD_BOUNCE,
    "blocked": EventKind.SOFT_BOUNCE,
}

# `bounce_classification` values (Bounces API classification enum).
BOUNCE_CLASSIFICATIONS: dict[str, FailureCategory] = {
    "invalid address": FailureCategory.INVALID_ADDRESS,
    "mailbox unavailable": FailureCategory.MAILBOX_UNAVAILABLE,
    "reputation": FailureCategory.BLOCKED,
    "frequency or volume too high": FailureCategory.BLOCKED,
    "content": FailureCategory.CONTENT,
    "technical failure": FailureCategory.TECHNICAL,
    "unclassified": FailureCategory.UNKNOWN,
}

# `reason` values of dropped events (Event Webhook reference, "dropped").
DROP_REASONS: dict[str, FailureCategory] = {
    "bounced address": FailureCategory.SUPPRESSED_BOUNCE,
    "unsubscribed address": FailureCategory.SUPPRESSED_UNSUBSCRIBE,
    "spam reporting address": FailureCategory.SUPPRESSED_COMPLAINT,
    "invalid": FailureCategory.INVALID_ADDRESS,
    "invalid smtpapi header": FailureCategory.TECHNICAL,
    "spam content": FailureCategory.CONTENT,
    "recipient list over package quota": FailureCategory.TECHNICAL,
}

# Enhanced status code classes (RFC 3463) when SendGrid gives no classification.
SMTP_CLASSES: dict[str, FailureCategory] = {
    "1": FailureCategory.INVALID_ADDRESS,
    "2": FailureCategory.MAILBOX_UNAVAILABLE,
    "3": FailureCategory.TECHNICAL,
    "4": FailureCategory.TECHNICAL,
    "5": FailureCategory.TECHNICAL,
    "6": FailureCategory.CONTENT,
    "7": FailureCategory.BLOCKED,
}


def _category(event: str, item: dict[str, Any]) -> FailureCategory | None:
    if event == "dropped":
        reason = str(item.get("reason") or "").strip().lower()
        return DROP_REASONS.get(reason, FailureCategory.UNKNOWN)
    if event != "bounce":
        return None
    classification = item.get("bounce_classification")
    if isinstance(classification, str) and classification.strip().lower() in BOUNCE_CLASSIFICATIONS:
        return BOUNCE_CLASSIFICATIONS[classification.strip().lower()]
    status = item.get("status")
    if isinstance(status, str) and status.count(".") == 2:
        return SMTP_CLASSES.get(status.split(".")[1], FailureCategory.UNKNOWN)
    return FailureCategory.UNKNOWN


class SendGridAdapter(WebhookAdapter):
    name = "sendgrid"
    summary = "SendGrid Event Webhook, ECDSA-signed (X-Twilio-Email-Event-Webhook-*)."

    def __init__(
        self, keys: list[ec.EllipticCurvePublicKey], *, tolerance_seconds: int, metadata_key: str
    ) -> None:
        self._keys = keys
        self._tolerance = tolerance_seconds
        self._metadata_key = metadata_key

    @classmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        config = provider_settings(settings, cls.name, SendGridSettings)
        encoded = split_secrets(config.verification_key)
        if not encoded:
            return None
        return cls(
            [load_verification_key(k) for k in encoded],
            tolerance_seconds=config.timestamp_tolerance_seconds,
            metadata_key=settings.metadata_key,
        )

    @classmethod
    def canonical_message_id(cls, value: str) -> str:
        # sg_message_id is the API's X-Message-Id plus a per-server suffix (".filter…", ".recvd…").
        return value.strip().split(".", 1)[0]

    async def verify(self, request: InboundRequest) -> Verified:
        signature_b64 = request.headers.get(SIGNATURE_HEADER)
        timestamp = request.headers.get(TIMESTAMP_HEADER)
        if not signature_b64 or not timestamp:
            raise SignatureInvalid("Missing SendGrid signature or timestamp header.")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise SignatureInvalid("The signature timestamp is not a Unix time in seconds.")
        check_signed_at(
            int(timestamp), now=time.time(), tolerance=self._tolerance, what="signature timestamp"
        )
        try:
            signature = base64.b64decode(signature_b64, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureInvalid("The signature is not base64.") from None
        signed = timestamp.encode() + request.raw
        for key in self._keys:
            try:
                key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                continue
            return Verified()
        raise SignatureInvalid()

    def parse(self, request: InboundRequest) -> ParsedBatch:
        body = load_json(request.raw)
        if isinstance(body, dict):
            body = [body]  # a single object is a batch of one
        if not isinstance(body, list):
            raise MalformedPayload("Expected a JSON array of SendGrid events.")
        check_batch_size(len(body))
        events: list[NormalizedEvent] = []
        rejects: list[RejectedEvent] = []
        for item in body:
            try:
                events.append(self._normalize(item))
            except _Reject as exc:
                rejects.append(RejectedEvent(reason=str(exc), raw=item))
        return ParsedBatch(events=events, rejects=rejects)

    def _normalize(self, item: object) -> NormalizedEvent:
        if not isinstance(item, dict):
            raise _Reject("event is not a JSON object")
        event = item.get("event")
        if not isinstance(event, str) or not event.strip():
            raise _Reject("missing or non-string 'event'")
        recipient = item.get("email")
        if not isinstance(recipient, str) or not clean_text(recipient):
            raise _Reject("missing or non-string 'email'")
        try:
            occurred_at = from_epoch(item.get("timestamp"))
        except InvalidTimestamp as exc:
            raise _Reject(f"bad 'timestamp': {exc}") from None
        event = event.strip()
        kind = EVENT_KINDS.get(event, EventKind.UNKNOWN)
        if event == "bounce":
            bounce_type = str(item.get("type") or "bounce").strip().lower()
            kind = BOUNCE_TYPES.get(bounce_type, EventKind.HARD_BOUNCE)
        event_id = clean_text(item.get("sg_event_id"))  # long keys are hashed, not cut
        message_id = clean_text(item.get("sg_message_id"), limit=500)
        reason = clean_text(item.get("reason")) or (
            clean_text(item.get("response")) if event == "deferred" else None
        )
        return NormalizedEvent(
            provider=self.name,
            dedupe_key=f"id:{event_id}" if event_id else content_key(item),
            kind=kind,
            provider_event_type=clean_text(event, limit=100) or "unknown",
            occurred_at=occurred_at,
            recipient=clean_text(recipient, limit=320),
            provider_message_id=self.canonical_message_id(message_id) if message_id else None,
            claimed_email_id=parse_uuid(item.get(self._metadata_key)),
            machine=event == "open" and item.get("sg_machine_open") is True,
            reason=reason,
            smtp_status=clean_text(item.get("status"), limit=50),
            failure_category=_category(event, item),
            url=clean_text(item.get("url"), limit=2000) if event == "click" else None,
            raw=item,
        )


class _Reject(ValueError):
    """An item of the batch we cannot interpret; it goes to quarantine with this reason."""


def load_verification_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """SendGrid shows the key as base64 DER SubjectPublicKeyInfo; PEM is accepted too."""
    text = encoded.strip()
    if "BEGIN PUBLIC KEY" in text:
        text = "".join(line for line in text.splitlines() if "-----" not in line)
    key = load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("The SendGrid verification key must be an ECDSA P-256 public key.")
    return key
