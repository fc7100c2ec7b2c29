"""Normalised delivery events: the one vocabulary every ESP adapter translates into."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class EventKind(StrEnum):
    """A closed set of event kinds; anything an adapter cannot place is UNKNOWN and still kept."""

    ACCEPTED = "accepted"  # the ESP took the message (SendGrid processed, SES Send)
    DEFERRED = "deferred"  # the receiving server asked to retry later
    SOFT_BOUNCE = "soft_bounce"  # temporary failure (blocked, mailbox full, greylisted)
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    HARD_BOUNCE = "hard_bounce"  # permanent failure, including async bounces after delivery
    DROPPED = "dropped"  # never sent: suppressed, invalid, rejected
    COMPLAINED = "complained"  # spam report
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"
    UNKNOWN = "unknown"


class FailureCategory(StrEnum):
    """Why an email failed, coarse enough to pick advice for the recruiter."""

    INVALID_ADDRESS = "invalid_address"
    MAILBOX_UNAVAILABLE = "mailbox_unavailable"
    BLOCKED = "blocked"
    CONTENT = "content"
    SUPPRESSED_BOUNCE = "suppressed_bounce"
    SUPPRESSED_UNSUBSCRIBE = "suppressed_unsubscribe"
    SUPPRESSED_COMPLAINT = "suppressed_complaint"
    TECHNICAL = "technical"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class NormalizedEvent:
    """One ESP event about one recipient of one message, in provider-neutral terms."""

    provider: str
    dedupe_key: str
    kind: EventKind
    provider_event_type: str
    occurred_at: datetime
    recipient: str | None
    provider_message_id: str | None = None
    claimed_email_id: UUID | None = None  # our id, carried through the ESP's metadata
    machine: bool = False  # an open made by a proxy or scanner, not a person
    reason: str | None = None
    smtp_status: str | None = None
    failure_category: FailureCategory | None = None
    url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def recipient_key(self) -> str | None:
        return self.recipient.strip().lower() if self.recipient else None


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """An item inside a valid batch that could not be interpreted; kept for inspection."""

    reason: str
    raw: Any


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    events: list[NormalizedEvent]
    rejects: list[RejectedEvent] = field(default_factory=list)

    @property
    def received(self) -> int:
        return len(self.events) + len(self.rejects)
