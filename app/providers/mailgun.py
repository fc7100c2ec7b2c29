"""Mailgun webhooks (the JSON webhooks introduced in 2018), signed with HMAC-SHA256.

Docs: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
      https://documentation.mailgun.com/docs/mailgun/user-manual/events/
      https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/open-click-bot-detect
One event per request: {"signature": {"timestamp", "token", "signature"}, "event-data": {...}}.
Mailgun signs only `timestamp + token`, never the body, so a captured signature block could be
glued to any event-data. Two defences: a timestamp window, and the token returned as the nonce
(the webhook service refuses a token it has already seen with a different body).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from email.utils import parseaddr
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
from app.domain.timestamps import InvalidTimestamp, from_epoch
from app.errors import MalformedPayload, SignatureInvalid
from app.providers.base import (
    InboundRequest,
    Verified,
    WebhookAdapter,
    check_signed_at,
    clean_text,
    constant_time_equal,
    content_key,
    load_json,
    parse_uuid,
    provider_settings,
    split_secrets,
)

# Mailgun retries a failed POST for about 8 hours, and a retry carries the original signature
# block (its timestamp is not refreshed), so a shorter window would throw retries away after
# an outage. 9 h keeps them all; a token reused with another body is refused by the nonce
# store whatever the window. Lower it if you never need retries after an outage.
DEFAULT_TOLERANCE_SECONDS = 9 * 3600
_HEX_DIGITS = frozenset("0123456789abcdef")
_MAX_TOKEN_LENGTH = 200


class MailgunSettings(BaseModel):
    """LANDED_MAILGUN__SIGNING_KEY, LANDED_MAILGUN__TIMESTAMP_TOLERANCE_SECONDS."""

    # The "HTTP webhook signing key" (not the API key); comma-separated during a rotation.
    signing_key: SecretStr | None = None
    timestamp_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, ge=1)


# Event names from Mailgun's Events reference ("Event Types"). `failed` is refined below.
EVENT_KINDS: dict[str, EventKind] = {
    "accepted": EventKind.ACCEPTED,
    "rejected": EventKind.DROPPED,  # Mailgun refused the message at the API: never sent
    "delivered": EventKind.DELIVERED,
    "failed": EventKind.HARD_BOUNCE,  # refined by severity, reason and codes
    "opened": EventKind.OPENED,
    "clicked": EventKind.CLICKED,
    "unsubscribed": EventKind.UNSUBSCRIBED,
    "complained": EventKind.COMPLAINED,
}

# `failed` events whose `reason` says Mailgun never tried: the address is on a suppression list.
SUPPRESS_REASONS: dict[str, FailureCategory] = {
    "suppress-bounce": FailureCategory.SUPPRESSED_BOUNCE,
    "suppress-unsubscribe": FailureCategory.SUPPRESSED_UNSUBSCRIBE,
    "suppress-complaint": FailureCategory.SUPPRESSED_COMPLAINT,
}

# Mailgun's own delivery-status codes for messages it dropped without an attempt (the same list
# as Symfony's Mailgun bridge; Mailgun documents them only in its logs).
DROP_CODES: dict[int, FailureCategory] = {
    605: FailureCategory.SUPPRESSED_BOUNCE,  # "Not delivering to previously bounced address"
    606: FailureCategory.SUPPRESSED_UNSUBSCRIBE,  # "Not delivering to unsubscribed address"
    607: FailureCategory.SUPPRESSED_COMPLAINT,  # "... a user who marked your messages as spam"
    625: FailureCategory.UNKNOWN,  # "Poor mailing list quality"
}

# "Too old": Mailgun gave up after retrying temporary failures for 8 h (help article "Will
# Mailgun retry my failed messages?"). Not proof the address is bad, so a soft bounce, whatever
# the severity says (it has been sent as both).
GAVE_UP_REASONS = frozenset({"old"})
GAVE_UP_CODES = frozenset({602})

# `severity` of a `failed` event. Temporary failures are retried by Mailgun for up to 8 h, so
# they are deferrals, not bounces (anymail and Symfony map them the same way).
SEVERITY_KINDS: dict[str, EventKind] = {
    "permanent": EventKind.HARD_BOUNCE,
    "temporary": EventKind.DEFERRED,
}

# Enhanced status code subjects (RFC 3463, X.<subject>.Z).
ENHANCED_SUBJECTS: dict[str, FailureCategory] = {
    "1": FailureCategory.INVALID_ADDRESS,
    "2": FailureCategory.MAILBOX_UNAVAILABLE,
    "3": FailureCategory.TECHNICAL,
    "4": FailureCategory.TECHNICAL,
    "5": FailureCategory.TECHNICAL,
    "6": FailureCategory.CONTENT,
    "7": FailureCategory.BLOCKED,
}

# Basic SMTP reply codes (RFC 5321) and Mailgun's own codes, when no enhanced code is given.
SMTP_CODES: dict[int, FailureCategory] = {
    450: FailureCategory.MAILBOX_UNAVAILABLE,
    452: FailureCategory.MAILBOX_UNAVAILABLE,
    550: FailureCategory.INVALID_ADDRESS,
    551: FailureCategory.INVALID_ADDRESS,
    552: FailureCategory.MAILBOX_UNAVAILABLE,
    553: FailureCategory.INVALID_ADDRESS,
    554: FailureCategory.BLOCKED,
    498: FailureCategory.TECHNICAL,  # Mailgun: no MX for the domain
    499: FailureCategory.TECHNICAL,  # Mailgun: unable to connect to the MX
    602: FailureCategory.TECHNICAL,  # Mailgun: too old, retries exhausted
}

# `client-info.bot` on opened/clicked events ("Open and Click Bot Detection"). Apple MPP
# prefetches every image on arrival and scanners fetch on their own: machines. Gmail's image
# proxy fetches when the person opens the message, so a "gmail" open is a human open whose
# device and place are hidden. An empty value means no bot; an unknown value counts as a bot.
BOT_IS_MACHINE: dict[str, bool] = {
    "": False,
    "apple": True,
    "gmail": False,
    "generic": True,
}


def _code(delivery_status: dict[str, Any]) -> int | None:
    code = delivery_status.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def _enhanced_code(delivery_status: dict[str, Any]) -> str | None:
    for field in ("enhanced-code", "bounce-code"):
        value = clean_text(delivery_status.get(field), limit=50)
        if value and value.count(".") == 2:
            return value
    return None


def classify_failure(item: dict[str, Any]) -> tuple[EventKind, FailureCategory]:
    """The kind and category of a `failed` event (the order of the checks matters)."""
    reason = str(item.get("reason") or "").strip().lower()
    severity = str(item.get("severity") or "").strip().lower()
    status = item.get("delivery-status")
    status = status if isinstance(status, dict) else {}
    code = _code(status)
    if reason in SUPPRESS_REASONS:
        return EventKind.DROPPED, SUPPRESS_REASONS[reason]
    if reason.startswith("suppress-"):
        return EventKind.DROPPED, FailureCategory.UNKNOWN
    if code in DROP_CODES:
        return EventKind.DROPPED, DROP_CODES[code]
    category = _bounce_category(status, code)
    flags = item.get("flags")
    if isinstance(flags, dict) and flags.get("is-delayed-bounce") is True:
        # An asynchronous bounce: the server accepted the message, then returned it.
        return EventKind.HARD_BOUNCE, category
    if reason in GAVE_UP_REASONS or code in GAVE_UP_CODES:
        return EventKind.SOFT_BOUNCE, category
    return SEVERITY_KINDS.get(severity, EventKind.HARD_BOUNCE), category


def _bounce_category(status: dict[str, Any], code: int | None) -> FailureCategory:
    enhanced = _enhanced_code(status)
    if enhanced is not None:
        return ENHANCED_SUBJECTS.get(enhanced.split(".")[1], FailureCategory.UNKNOWN)
    if code is not None:
        return SMTP_CODES.get(code, FailureCategory.UNKNOWN)
    return FailureCategory.UNKNOWN


def is_machine(item: dict[str, Any]) -> bool:
    info = item.get("client-info")
    bot = info.get("bot") if isinstance(info, dict) else None
    if bot is None:
        return False
    if not isinstance(bot, str):
        return True
    return BOT_IS_MACHINE.get(bot.strip().lower(), True)


def signature_for(key: str, timestamp: str, token: str) -> str:
    """hex(HMAC-SHA256(key, timestamp + token)), as Mailgun computes it."""
    return hmac.new(key.encode(), (timestamp + token).encode(), hashlib.sha256).hexdigest()


class MailgunAdapter(WebhookAdapter):
    name = "mailgun"
    summary = "Mailgun webhooks, HMAC-signed timestamp and token inside the JSON body."

    def __init__(
        self,
        keys: list[str],
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
        config = provider_settings(settings, cls.name, MailgunSettings)
        keys = split_secrets(config.signing_key)
        if not keys:
            return None
        return cls(
            keys,
            tolerance_seconds=config.timestamp_tolerance_seconds,
            metadata_key=settings.metadata_key,
        )

    @classmethod
    def canonical_message_id(cls, value: str) -> str:
        # The send API answers "<id@domain>"; events carry the same id without angle brackets.
        return value.strip().removeprefix("<").removesuffix(">").strip()

    async def verify(self, request: InboundRequest) -> Verified:
        # The signature lives inside the body: a body that is not a JSON object is malformed
        # (400) before there is anything to verify.
        body = load_json(request.raw)
        if not isinstance(body, dict):
            raise MalformedPayload("Expected a JSON object with 'signature' and 'event-data'.")
        block = body.get("signature")
        if not isinstance(block, dict):
            raise SignatureInvalid("Missing Mailgun signature block.")
        timestamp, token = block.get("timestamp"), block.get("token")
        signatures = [block.get("signature"), block.get("parent-signature")]
        if isinstance(timestamp, int) and not isinstance(timestamp, bool):
            timestamp = str(timestamp)
        if not isinstance(timestamp, str) or not isinstance(token, str) or not token:
            raise SignatureInvalid("Missing Mailgun signature timestamp or token.")
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise SignatureInvalid("The signature timestamp is not a Unix time in seconds.")
        if len(token) > _MAX_TOKEN_LENGTH or not token.isascii():
            raise SignatureInvalid("The signature token is not a Mailgun token.")
        given = [s.lower() for s in signatures if isinstance(s, str) and _is_hex_digest(s)]
        if not given:
            raise SignatureInvalid("The signature is not a hex SHA-256 digest.")
        check_signed_at(
            int(timestamp), now=self._clock(), tolerance=self._tolerance, what="signature timestamp"
        )
        matched = False
        for key in self._keys:
            expected = signature_for(key, timestamp, token)
            for signature in given:  # no early exit: every comparison runs
                matched |= constant_time_equal(expected, signature)
        if not matched:
            raise SignatureInvalid()
        return Verified(nonce=token)

    def parse(self, request: InboundRequest) -> ParsedBatch:
        body = load_json(request.raw)
        if not isinstance(body, dict) or not isinstance(body.get("event-data"), dict):
            raise MalformedPayload("Expected a JSON object with an 'event-data' object.")
        item: dict[str, Any] = body["event-data"]
        try:
            return ParsedBatch(events=[self._normalize(item)])
        except _Reject as exc:
            return ParsedBatch(events=[], rejects=[RejectedEvent(reason=str(exc), raw=item)])

    def _normalize(self, item: dict[str, Any]) -> NormalizedEvent:
        event = item.get("event")
        if not isinstance(event, str) or not event.strip():
            raise _Reject("missing or non-string 'event'")
        event = event.strip()
        try:
            occurred_at = from_epoch(item.get("timestamp"))
        except InvalidTimestamp as exc:
            raise _Reject(f"bad 'timestamp': {exc}") from None
        claimed = _claimed_id(item, self._metadata_key)
        recipient = _recipient(item, event)
        if recipient is None and not (event == "rejected" and claimed is not None):
            raise _Reject("missing or non-string 'recipient'")
        kind = EVENT_KINDS.get(event, EventKind.UNKNOWN)
        category: FailureCategory | None = None
        reason: str | None = None
        smtp_status: str | None = None
        if event == "failed":
            kind, category = classify_failure(item)
            reason, smtp_status = _failure_details(item)
        elif event == "rejected":
            category = FailureCategory.UNKNOWN
            reject = item.get("reject")
            if isinstance(reject, dict):
                reason = clean_text(reject.get("reason")) or clean_text(reject.get("description"))
        event_id = clean_text(item.get("id"))  # long keys are hashed, not cut
        message_id = _message_id(item)
        return NormalizedEvent(
            provider=self.name,
            # `id` is only unique within a day: the event name and time make the key unique.
            dedupe_key=(
                f"id:{event_id}:{event}:{occurred_at.isoformat()}"
                if event_id
                else content_key(item)
            ),
            kind=kind,
            provider_event_type=clean_text(event, limit=100) or "unknown",
            occurred_at=occurred_at,
            recipient=recipient,
            provider_message_id=self.canonical_message_id(message_id) if message_id else None,
            claimed_email_id=claimed,
            machine=event in ("opened", "clicked") and is_machine(item),
            reason=reason,
            smtp_status=smtp_status,
            failure_category=category,
            url=clean_text(item.get("url"), limit=2000) if event == "clicked" else None,
            raw=item,
        )


class _Reject(ValueError):
    """An event we cannot interpret; it goes to quarantine with this reason."""


def _is_hex_digest(value: str) -> bool:
    return len(value) == 64 and set(value.lower()) <= _HEX_DIGITS


def _recipient(item: dict[str, Any], event: str) -> str | None:
    recipient = item.get("recipient")
    if isinstance(recipient, str) and clean_text(recipient):
        return clean_text(recipient, limit=320)
    if event == "rejected":
        # Rejected events have no `recipient`; the To header is the best we have.
        message = item.get("message")
        headers = message.get("headers") if isinstance(message, dict) else None
        to = headers.get("to") if isinstance(headers, dict) else None
        if isinstance(to, str):
            address = parseaddr(to)[1]
            if "@" in address:
                return clean_text(address, limit=320)
    return None


def _message_id(item: dict[str, Any]) -> str | None:
    message = item.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    if not isinstance(headers, dict):
        return None
    return clean_text(headers.get("message-id"), limit=500)


def _claimed_id(item: dict[str, Any], metadata_key: str) -> UUID | None:
    variables = item.get("user-variables")
    if not isinstance(variables, dict):
        return None
    return parse_uuid(variables.get(metadata_key))


def _failure_details(item: dict[str, Any]) -> tuple[str | None, str | None]:
    status = item.get("delivery-status")
    if not isinstance(status, dict):
        return clean_text(item.get("reason")), None
    reason = (
        clean_text(status.get("description"))
        or clean_text(status.get("message"))
        or clean_text(item.get("reason"))
    )
    code = _code(status)
    smtp_status = _enhanced_code(status) or (str(code) if code is not None else None)
    return reason, smtp_status
