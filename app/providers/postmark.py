"""Postmark webhooks: one JSON event per request, authenticated by HTTP Basic credentials.

Docs: https://postmarkapp.com/developer/webhooks/webhooks-overview
      https://postmarkapp.com/developer/api/bounce-api#bounce-types
Postmark does not sign its webhooks. The webhook URL carries Basic credentials
(`https://user:pass@host/v1/webhooks/postmark`), which Postmark sends as an Authorization header;
optionally the peer address must also be inside an allow-list of networks. Postmark treats every
4xx answer except 408 and 429 as permanent and drops the event, so a wrong credential loses
events instead of delaying them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from typing import Any, Self

from pydantic import BaseModel, SecretStr, field_validator

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
    InboundRequest,
    Verified,
    WebhookAdapter,
    clean_text,
    content_key,
    load_json,
    parse_uuid,
    provider_settings,
    split_secrets,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PostmarkSettings(BaseModel):
    """LANDED_POSTMARK__BASIC_AUTH, LANDED_POSTMARK__ALLOWED_NETWORKS."""

    # "user:pass" pairs, comma-separated (several are active during a rotation).
    basic_auth: SecretStr | None = None
    # Optional comma-separated CIDRs; when set, the peer address must be inside one of them.
    allowed_networks: str | None = None

    @field_validator("basic_auth")
    @classmethod
    def _pairs(cls, value: SecretStr | None) -> SecretStr | None:
        for pair in split_secrets(value):
            user, colon, password = pair.partition(":")
            if not colon or not user or not password:
                raise ValueError("each credential must be user:password (both non-empty)")
        return value

    @field_validator("allowed_networks")
    @classmethod
    def _networks(cls, value: str | None) -> str | None:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value


def parse_networks(value: str | None) -> list[Network]:
    networks: list[Network] = []
    for part in split_secrets(value):
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ValueError(f"not a network in CIDR notation: {part!r}") from None
    return networks


TRACE_HEADER = "X-PM-Webhook-Trace-Id"

# RecordType values (Webhooks overview). Bounce and SubscriptionChange are refined below.
RECORD_KINDS: dict[str, EventKind] = {
    "Delivery": EventKind.DELIVERED,
    "Bounce": EventKind.UNKNOWN,
    "SpamComplaint": EventKind.COMPLAINED,
    # Postmark has no machine-open flag (Apple MPP opens look like people): machine stays False.
    "Open": EventKind.OPENED,
    "Click": EventKind.CLICKED,
    "SubscriptionChange": EventKind.UNSUBSCRIBED,
}

# Where each RecordType carries its event time (ISO 8601, offset, up to 7 fractional digits).
TIMESTAMP_FIELDS: dict[str, str] = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}
_ANY_TIMESTAMP = ("DeliveredAt", "BouncedAt", "ReceivedAt", "ChangedAt")

# Bounce `Type` strings and their descriptions, from the Bounce API "bounce types" table (the
# official client libraries carry the same list). We key on these strings, never on TypeCode:
# published code tables disagree. Types not listed here are kept as UNKNOWN.
BOUNCE_TYPES: dict[str, tuple[EventKind, FailureCategory | None]] = {
    # "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
    "HardBounce": (EventKind.HARD_BOUNCE, FailureCategory.INVALID_ADDRESS),
    # "Message delayed": Postmark is still trying.
    "Transient": (EventKind.DEFERRED, None),
    # "A temporary DNS error."
    "DnsError": (EventKind.SOFT_BOUNCE, FailureCategory.TECHNICAL),
    # "Unable to temporarily deliver message (i.e. mailbox full, account disabled, ...)."
    "SoftBounce": (EventKind.SOFT_BOUNCE, FailureCategory.MAILBOX_UNAVAILABLE),
    # "Delivered, but either blocked by the user, or classified as spam, bulk mail, or had
    # rejected content": the candidate will not see it, like an asynchronous bounce.
    "SpamNotification": (EventKind.HARD_BOUNCE, FailureCategory.BLOCKED),
    "VirusNotification": (EventKind.HARD_BOUNCE, FailureCategory.CONTENT),
    # The receiving provider blocked the message.
    "Blocked": (EventKind.HARD_BOUNCE, FailureCategory.BLOCKED),
    # Refused by receivers under our From domain's DMARC policy: a sending-side setup problem.
    "DMARCPolicy": (EventKind.HARD_BOUNCE, FailureCategory.TECHNICAL),
    # Never sent by Postmark.
    "BadEmailAddress": (EventKind.DROPPED, FailureCategory.INVALID_ADDRESS),
    "ManuallyDeactivated": (EventKind.DROPPED, FailureCategory.UNKNOWN),
    "Unconfirmed": (EventKind.DROPPED, FailureCategory.UNKNOWN),
    "SMTPApiError": (EventKind.DROPPED, FailureCategory.TECHNICAL),
    "TemplateRenderingFailed": (EventKind.DROPPED, FailureCategory.TECHNICAL),
    "SpamComplaint": (EventKind.COMPLAINED, None),
    # The recipient replied asking to be removed.
    "Unsubscribe": (EventKind.UNSUBSCRIBED, None),
    # Replies and notices that say nothing certain about this email's delivery.
    "Subscribe": (EventKind.UNKNOWN, None),
    "AutoResponder": (EventKind.UNKNOWN, None),
    "AddressChange": (EventKind.UNKNOWN, None),
    "ChallengeVerification": (EventKind.UNKNOWN, None),
    "OpenRelayTest": (EventKind.UNKNOWN, None),
    "InboundError": (EventKind.UNKNOWN, None),
    "Unknown": (EventKind.UNKNOWN, None),
}

# SubscriptionChange with SuppressSending=true, by SuppressionReason. Postmark also reports its
# own suppression after a hard bounce or a complaint this way; those facts arrive as their own
# Bounce/SpamComplaint events, so here they are kept as UNKNOWN rather than an unsubscribe.
SUPPRESSION_REASONS: dict[str, EventKind] = {
    "ManualSuppression": EventKind.UNSUBSCRIBED,
    "HardBounce": EventKind.UNKNOWN,
    "SpamComplaint": EventKind.UNKNOWN,
}

# An enhanced status code (RFC 3463) inside the bounce `Details` text, e.g. "smtp;550 5.1.1 ...".
_ENHANCED_CODE = re.compile(r"\b([245]\.\d{1,3}\.\d{1,3})\b")


class PostmarkAdapter(WebhookAdapter):
    name = "postmark"
    summary = "Postmark webhooks, authenticated by Basic credentials in the URL (+ optional IPs)."

    def __init__(
        self, credentials: list[str], *, networks: list[Network], metadata_key: str
    ) -> None:
        # Only digests are kept, so comparisons run over equal lengths whatever was sent.
        self._digests = [_digest(c.encode()) for c in credentials]
        self._networks = networks
        self._metadata_key = metadata_key

    @classmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        config = provider_settings(settings, cls.name, PostmarkSettings)
        credentials = split_secrets(config.basic_auth)
        if not credentials:
            return None
        return cls(
            credentials,
            networks=parse_networks(config.allowed_networks),
            metadata_key=settings.metadata_key,
        )

    async def verify(self, request: InboundRequest) -> Verified:
        if self._networks and not _peer_allowed(request.client_ip, self._networks):
            raise BasicAuthInvalid("The request does not come from an allowed network.")
        header = request.headers.get("Authorization")
        if not header:
            raise BasicAuthInvalid("Missing Basic credentials.")
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise BasicAuthInvalid("The Authorization header is not Basic.")
        if not encoded.strip():
            raise BasicAuthInvalid("Missing Basic credentials.")
        try:
            given = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise BasicAuthInvalid("The Basic credentials are not base64.") from None
        if b":" not in given:
            raise BasicAuthInvalid("The Basic credentials are not user:password.")
        digest = _digest(given)
        matched = False
        for known in self._digests:  # no early exit: every credential is compared
            matched |= hmac.compare_digest(digest, known)
        if not matched:
            raise BasicAuthInvalid("Invalid Basic credentials.")
        return Verified()

    def parse(self, request: InboundRequest) -> ParsedBatch:
        item = load_json(request.raw)
        if not isinstance(item, dict):
            raise MalformedPayload("Expected one Postmark event as a JSON object.")
        try:
            event = self._normalize(item, trace_id=request.headers.get(TRACE_HEADER))
        except _Reject as exc:
            return ParsedBatch(events=[], rejects=[RejectedEvent(reason=str(exc), raw=item)])
        return ParsedBatch(events=[event])

    def _normalize(self, item: dict[str, Any], *, trace_id: str | None) -> NormalizedEvent:
        record_type = item.get("RecordType")
        if not isinstance(record_type, str) or not record_type.strip():
            raise _Reject("missing or non-string 'RecordType'")
        record_type = record_type.strip()
        recipient = clean_text(item.get("Recipient"), limit=320) or clean_text(
            item.get("Email"), limit=320
        )
        if not recipient:
            raise _Reject("missing 'Recipient'/'Email'")
        occurred_raw = item.get(TIMESTAMP_FIELDS.get(record_type, ""))
        if occurred_raw is None:
            occurred_raw = next((item[k] for k in _ANY_TIMESTAMP if item.get(k)), None)
        try:
            occurred_at = from_iso(occurred_raw)
        except InvalidTimestamp as exc:
            raise _Reject(f"bad event time: {exc}") from None

        kind = RECORD_KINDS.get(record_type, EventKind.UNKNOWN)
        category: FailureCategory | None = None
        bounce_type = clean_text(item.get("Type"), limit=100)
        event_type = record_type
        reason: str | None = None
        if record_type == "Bounce":
            kind, category = BOUNCE_TYPES.get(bounce_type or "", (EventKind.UNKNOWN, None))
            event_type = f"Bounce:{bounce_type or 'unknown'}"
            reason = clean_text(item.get("Details")) or clean_text(item.get("Description"))
        elif record_type == "SubscriptionChange":
            suppression = clean_text(item.get("SuppressionReason"), limit=100)
            if item.get("SuppressSending") is True:
                kind = SUPPRESSION_REASONS.get(suppression or "", EventKind.UNSUBSCRIBED)
            else:
                kind = EventKind.RESUBSCRIBED
            reason = suppression

        metadata = item.get("Metadata")
        claimed = metadata.get(self._metadata_key) if isinstance(metadata, dict) else None
        message_id = clean_text(item.get("MessageID"), limit=500)
        trace = clean_text(trace_id)  # long keys are hashed, not cut
        dedupe_key = (
            f"trace:{trace}"
            if trace
            else content_key(
                [
                    message_id,
                    record_type,
                    occurred_raw,
                    bounce_type,
                    item.get("ID"),
                    recipient.lower(),
                    item.get("OriginalLink"),
                ]
            )
        )
        details = clean_text(item.get("Details"), limit=2000) or ""
        code = _ENHANCED_CODE.search(details) if record_type == "Bounce" else None
        return NormalizedEvent(
            provider=self.name,
            dedupe_key=dedupe_key,
            kind=kind,
            provider_event_type=clean_text(event_type, limit=100) or "unknown",
            occurred_at=occurred_at,
            recipient=recipient,
            provider_message_id=self.canonical_message_id(message_id) if message_id else None,
            claimed_email_id=parse_uuid(claimed),
            machine=False,
            reason=reason,
            smtp_status=code.group(1) if code else None,
            failure_category=category,
            url=clean_text(item.get("OriginalLink")) if record_type == "Click" else None,
            raw=item,
        )


class BasicAuthInvalid(SignatureInvalid):
    """401 with a Basic challenge, for HTTP clients that send URL credentials only when asked."""

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": 'Basic realm="landed-postmark"'}


class _Reject(ValueError):
    """An event we cannot interpret; it goes to quarantine with this reason."""


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def _peer_allowed(client_ip: str | None, networks: list[Network]) -> bool:
    if not client_ip:
        return False
    try:
        address = ipaddress.ip_address(client_ip.strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
