"""Amazon SES events delivered by Amazon SNS to an HTTPS subscription.

Docs: https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html
      https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
      https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
The envelope and its signature are SNS's (app/providers/sns.py); this module reads the SES
event in the envelope's `Message`, a JSON string. Configuration-set event destinations name it
`eventType`; identity feedback notifications name it `notificationType` (and carry no tags).
One SES event may list several recipients and becomes one event per recipient. SNS resends a
message with the same MessageId, so MessageId + event type + recipient is the dedupe key.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Self
from uuid import UUID

import orjson
from pydantic import BaseModel, Field, field_validator

from app.config import Settings
from app.domain.events import (
    EventKind,
    FailureCategory,
    NormalizedEvent,
    ParsedBatch,
    RejectedEvent,
)
from app.domain.timestamps import InvalidTimestamp, from_iso
from app.providers.base import (
    MAX_RECIPIENTS_PER_EVENT,
    InboundRequest,
    Verified,
    WebhookAdapter,
    clean_text,
    parse_uuid,
    provider_settings,
    split_secrets,
)
from app.providers.sns import SnsVerifier, load_envelope

log = logging.getLogger("landed.webhooks")

# SNS's default HTTP retry policy spans about a minute and a custom one at most an hour; six
# hours keeps every retry. Replays inside the window are harmless (dedupe on MessageId).
DEFAULT_TOLERANCE_SECONDS = 6 * 3600
TOPIC_ARN = re.compile(r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_.\-]{1,256}$")


class SesSettings(BaseModel):
    """LANDED_SES__TOPIC_ARNS, LANDED_SES__TIMESTAMP_TOLERANCE_SECONDS."""

    # The SNS topics we accept (comma-separated ARNs). Required: unset disables the provider.
    topic_arns: str | None = None
    timestamp_tolerance_seconds: int = Field(DEFAULT_TOLERANCE_SECONDS, ge=1)

    @field_validator("topic_arns")
    @classmethod
    def _arns(cls, value: str | None) -> str | None:
        for arn in split_secrets(value):
            if not TOPIC_ARN.match(arn):
                raise ValueError(f"not an SNS topic ARN: {arn!r}")
        return value


# The first message of a new SES → SNS destination: plain text, no event.
VALIDATION_MESSAGE = "Successfully validated SNS topic for Amazon SES event publishing."

# eventType / notificationType → the key of its detail object ("Contents of event data").
DETAIL_KEYS: dict[str, str] = {
    "Send": "send",
    "Reject": "reject",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "DeliveryDelay": "deliveryDelay",
    "Subscription": "subscription",
}

# Event types whose kind does not depend on the details; they apply to every `mail.destination`
# (SES does not say which recipient opened or clicked). SES has no machine-open flag.
EVENT_KINDS: dict[str, tuple[EventKind, FailureCategory | None]] = {
    "Send": (EventKind.ACCEPTED, None),
    "Reject": (EventKind.DROPPED, FailureCategory.CONTENT),  # virus found, never sent
    "Rendering Failure": (EventKind.DROPPED, FailureCategory.TECHNICAL),  # template error
    "Open": (EventKind.OPENED, None),
    "Click": (EventKind.CLICKED, None),
}

# bounce.bounceType. Transient bounces are published only after SES stops retrying; an
# Undetermined bounce is not proof of a permanent failure, so it stays soft (delivery wins).
BOUNCE_TYPES: dict[str, EventKind] = {
    "Permanent": EventKind.HARD_BOUNCE,
    "Transient": EventKind.SOFT_BOUNCE,
    "Undetermined": EventKind.SOFT_BOUNCE,
}
# Subtypes where SES never attempted delivery (global or account suppression list).
SUPPRESSED_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})
# bounce.bounceSubType; "General" falls back to the enhanced status code.
BOUNCE_SUBTYPES: dict[str, FailureCategory | None] = {
    "General": None,
    "NoEmail": FailureCategory.INVALID_ADDRESS,
    "Suppressed": FailureCategory.SUPPRESSED_BOUNCE,
    "OnAccountSuppressionList": FailureCategory.SUPPRESSED_BOUNCE,
    "MailboxFull": FailureCategory.MAILBOX_UNAVAILABLE,
    "MessageTooLarge": FailureCategory.CONTENT,
    "ContentRejected": FailureCategory.CONTENT,
    "AttachmentRejected": FailureCategory.CONTENT,
    "Undetermined": FailureCategory.UNKNOWN,
}
# Enhanced status code subject classes (RFC 3463) for bounces SES calls "General".
SMTP_CLASSES: dict[str, FailureCategory] = {
    "1": FailureCategory.INVALID_ADDRESS,
    "2": FailureCategory.MAILBOX_UNAVAILABLE,
    "3": FailureCategory.TECHNICAL,
    "4": FailureCategory.TECHNICAL,
    "5": FailureCategory.TECHNICAL,
    "6": FailureCategory.CONTENT,
    "7": FailureCategory.BLOCKED,
}
# complaint.complaintSubType "OnAccountSuppressionList": accepted but never sent.
SUPPRESSED_COMPLAINT_SUBTYPE = "OnAccountSuppressionList"


@dataclass(frozen=True, slots=True)
class _Part:
    """One recipient's share of an SES event."""

    recipient: str
    kind: EventKind
    reason: str | None = None
    smtp_status: str | None = None
    category: FailureCategory | None = None
    url: str | None = None


class SesAdapter(WebhookAdapter):
    name = "ses"
    summary = "Amazon SES events through an SNS HTTPS subscription (SNS RSA signatures)."

    def __init__(self, sns: SnsVerifier, *, metadata_key: str) -> None:
        # Tests swap the HTTP client with `adapter.sns.use_http_client(...)`.
        self.sns = sns
        self._metadata_key = metadata_key
        key = metadata_key.lower()
        self._header_names = {key, key.replace("_", "-"), "x-" + key.replace("_", "-")}

    @classmethod
    def from_settings(cls, settings: Settings) -> Self | None:
        config = provider_settings(settings, cls.name, SesSettings)
        topics = split_secrets(config.topic_arns)
        if not topics:
            return None
        verifier = SnsVerifier(topics, tolerance_seconds=config.timestamp_tolerance_seconds)
        return cls(verifier, metadata_key=settings.metadata_key)

    @classmethod
    def canonical_message_id(cls, value: str) -> str:
        # SendEmail returns the bare id; the Message-ID header is <id@region.amazonses.com>.
        text = value.strip().strip("<>").strip()
        local, at, domain = text.partition("@")
        return local if at and domain.lower().endswith("amazonses.com") else text

    async def verify(self, request: InboundRequest) -> Verified:
        message = load_envelope(request.raw, request.headers)
        await self.sns.verify(message, request.headers)
        return Verified()

    async def handle_control(self, request: InboundRequest) -> bool:
        message = load_envelope(request.raw, request.headers)
        kind = message.get("Type")
        topic = message.get("TopicArn")
        if kind == "SubscriptionConfirmation":
            await self.sns.confirm_subscription(message)
            return True
        if kind == "UnsubscribeConfirmation":
            # Someone unsubscribed this endpoint; never follow its SubscribeURL (that would
            # re-subscribe). Logged so that an operator notices events stopped.
            log.warning("sns.unsubscribe_confirmation", extra={"topic_arn": topic})
            return True
        text = message.get("Message")
        if isinstance(text, str) and text.strip() == VALIDATION_MESSAGE:
            log.info("ses.topic_validated", extra={"topic_arn": topic})
            return True
        return False

    def parse(self, request: InboundRequest) -> ParsedBatch:
        envelope = load_envelope(request.raw, request.headers)
        if envelope.get("Type") != "Notification":
            return ParsedBatch(events=[])
        sns_id = str(envelope.get("MessageId"))
        text = envelope.get("Message")
        if isinstance(text, str) and text.strip() == VALIDATION_MESSAGE:
            return ParsedBatch(events=[])
        try:
            event = orjson.loads(text) if isinstance(text, str) else None
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            raw = {"MessageId": sns_id, "Message": clean_text(text, limit=2000)}
            return ParsedBatch(
                events=[], rejects=[_reject("Message is not an SES JSON event", raw)]
            )
        try:
            return ParsedBatch(events=self._normalize(sns_id, event))
        except _Reject as exc:
            return ParsedBatch(events=[], rejects=[_reject(str(exc), event)])

    def _normalize(self, sns_id: str, event: dict[str, Any]) -> list[NormalizedEvent]:
        event_type = event.get("eventType", event.get("notificationType"))
        if not isinstance(event_type, str) or not event_type.strip():
            raise _Reject("missing 'eventType'/'notificationType'")
        event_type = event_type.strip()
        mail = event.get("mail")
        if not isinstance(mail, dict):
            raise _Reject("missing 'mail' object")
        detail = event.get(DETAIL_KEYS.get(event_type, ""))
        detail = detail if isinstance(detail, dict) else {}
        destinations = _addresses(mail.get("destination"))
        parts = self._parts(event_type, detail, destinations)
        if len(parts) > MAX_RECIPIENTS_PER_EVENT:
            raise _Reject(f"more than {MAX_RECIPIENTS_PER_EVENT} recipients in one event")
        if not parts:
            raise _Reject(f"no recipients in the {event_type} event")
        try:
            occurred_at = from_iso(detail.get("timestamp") or mail.get("timestamp"))
        except InvalidTimestamp as exc:
            raise _Reject(f"bad event time: {exc}") from None
        message_id = clean_text(mail.get("messageId"), limit=500)
        # Tags and headers belong to the message, not to one recipient: with several
        # recipients, matching falls back to message id + recipient.
        claimed = self._claimed_id(mail) if len(destinations) <= 1 else None
        return [
            NormalizedEvent(
                provider=self.name,
                dedupe_key=f"sns:{sns_id}:{event_type}:{part.recipient.lower()}",
                kind=part.kind,
                provider_event_type=clean_text(event_type, limit=100) or "unknown",
                occurred_at=occurred_at,
                recipient=part.recipient,
                provider_message_id=self.canonical_message_id(message_id) if message_id else None,
                claimed_email_id=claimed,
                machine=False,
                reason=part.reason,
                smtp_status=part.smtp_status,
                failure_category=part.category,
                url=part.url,
                raw=event,
            )
            for part in parts
        ]

    def _parts(
        self, event_type: str, detail: dict[str, Any], destinations: list[str]
    ) -> list[_Part]:
        if event_type == "Bounce":
            return _bounce_parts(detail)
        if event_type == "Complaint":
            return _complaint_parts(detail)
        if event_type == "Delivery":
            return [_Part(r, EventKind.DELIVERED) for r in _addresses(detail.get("recipients"))]
        if event_type == "DeliveryDelay":
            return [
                _Part(
                    address,
                    EventKind.DEFERRED,
                    reason=clean_text(item.get("diagnosticCode"))
                    or clean_text(detail.get("delayType")),
                    smtp_status=clean_text(item.get("status"), limit=50),
                )
                for address, item in _recipient_items(detail.get("delayedRecipients"))
            ]
        if event_type == "Subscription":
            kind = _subscription_kind(detail)
            reason = clean_text(detail.get("source"), limit=200)
            return [_Part(r, kind, reason=reason) for r in destinations]
        kind, category = EVENT_KINDS.get(event_type, (EventKind.UNKNOWN, None))
        reason = None
        if event_type == "Reject":
            reason = clean_text(detail.get("reason"))
        elif event_type == "Rendering Failure":
            reason = clean_text(detail.get("errorMessage"))
        url = clean_text(detail.get("link")) if event_type == "Click" else None
        return [_Part(r, kind, reason=reason, category=category, url=url) for r in destinations]

    def _claimed_id(self, mail: dict[str, Any]) -> UUID | None:
        """Our id: the message tag named like the metadata key, else a header of that name."""
        tags = mail.get("tags")
        if isinstance(tags, dict):
            values = tags.get(self._metadata_key)
            if isinstance(values, list) and values and (found := parse_uuid(values[0])):
                return found
        headers = mail.get("headers")
        if isinstance(headers, list):
            for header in headers:
                if not isinstance(header, dict):
                    continue
                name = header.get("name")
                if not isinstance(name, str) or name.strip().lower() not in self._header_names:
                    continue
                if found := parse_uuid(header.get("value")):
                    return found
        return None


class _Reject(ValueError):
    """An SES event we cannot interpret; it goes to quarantine with this reason."""


def _reject(reason: str, raw: Any) -> RejectedEvent:
    return RejectedEvent(reason=reason, raw=raw)


def _address(value: object) -> str | None:
    """A bare address from "addr" or "Name <addr>"."""
    text = clean_text(value, limit=1000)
    if not text:
        return None
    _, address = parseaddr(text)
    address = address if "@" in address else text
    return clean_text(address, limit=320)


def _addresses(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    found = [a for a in (_address(v) for v in value) if a]
    return list(dict.fromkeys(found))  # unique, in order


def _recipient_items(value: object) -> list[tuple[str, dict[str, Any]]]:
    """[{emailAddress, ...}] lists (bounce, complaint, delay), keyed by address."""
    if not isinstance(value, list):
        return []
    items: dict[str, dict[str, Any]] = {}
    for item in value:
        if isinstance(item, dict) and (address := _address(item.get("emailAddress"))):
            items.setdefault(address, item)
    return list(items.items())


def _bounce_parts(bounce: dict[str, Any]) -> list[_Part]:
    bounce_type = clean_text(bounce.get("bounceType"), limit=50) or ""
    subtype = clean_text(bounce.get("bounceSubType"), limit=50) or ""
    kind = BOUNCE_TYPES.get(bounce_type, EventKind.SOFT_BOUNCE)
    if subtype in SUPPRESSED_SUBTYPES:
        kind = EventKind.DROPPED
    parts = []
    for address, item in _recipient_items(bounce.get("bouncedRecipients")):
        status = clean_text(item.get("status"), limit=50)
        category = BOUNCE_SUBTYPES.get(subtype)
        if category is None:
            klass = status.split(".")[1] if status and status.count(".") == 2 else ""
            category = SMTP_CLASSES.get(klass, FailureCategory.UNKNOWN)
        reason = clean_text(item.get("diagnosticCode")) or clean_text(
            f"{bounce_type or 'Unknown'} bounce ({subtype or 'no subtype'})"
        )
        parts.append(_Part(address, kind, reason=reason, smtp_status=status, category=category))
    return parts


def _complaint_parts(complaint: dict[str, Any]) -> list[_Part]:
    suppressed = complaint.get("complaintSubType") == SUPPRESSED_COMPLAINT_SUBTYPE
    if suppressed:
        kind, category = EventKind.DROPPED, FailureCategory.SUPPRESSED_COMPLAINT
        reason = "On the account-level suppression list; SES did not send it."
    else:
        kind, category = EventKind.COMPLAINED, None
        reason = clean_text(complaint.get("complaintFeedbackType"), limit=100)
    return [
        _Part(address, kind, reason=reason, category=category)
        for address, _ in _recipient_items(complaint.get("complainedRecipients"))
    ]


def _topic_statuses(preferences: object) -> dict[str, str]:
    if not isinstance(preferences, dict):
        return {}
    statuses = preferences.get("topicSubscriptionStatus")
    if not isinstance(statuses, list):
        return {}
    return {
        str(s.get("topicName")): str(s.get("subscriptionStatus"))
        for s in statuses
        if isinstance(s, dict)
    }


def _subscription_kind(subscription: dict[str, Any]) -> EventKind:
    """Unsubscribed from everything or from a topic → UNSUBSCRIBED; back in → RESUBSCRIBED."""
    new, old = subscription.get("newTopicPreferences"), subscription.get("oldTopicPreferences")
    new_all = isinstance(new, dict) and new.get("unsubscribeAll") is True
    old_all = isinstance(old, dict) and old.get("unsubscribeAll") is True
    new_topics, old_topics = _topic_statuses(new), _topic_statuses(old)
    if new_all and not old_all:
        return EventKind.UNSUBSCRIBED
    if any(s == "OptOut" and old_topics.get(t) != "OptOut" for t, s in new_topics.items()):
        return EventKind.UNSUBSCRIBED
    if old_all and not new_all:
        return EventKind.RESUBSCRIBED
    if any(s == "OptIn" and old_topics.get(t) == "OptOut" for t, s in new_topics.items()):
        return EventKind.RESUBSCRIBED
    if new_all:
        return EventKind.UNSUBSCRIBED
    return EventKind.UNKNOWN
