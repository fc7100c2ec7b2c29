"""API shapes for emails: registration, one email with its timeline, bulk statuses."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from app.domain.badges import badge_for
from app.domain.status import STATUS_BY_RANK, Rank, Status, is_failure
from app.models import EMAIL_TYPES, Email, EmailEvent
from app.providers.registry import PROVIDER_NAMES

EmailType = Literal[EMAIL_TYPES]  # type: ignore[valid-type]
ProviderName = Literal[PROVIDER_NAMES]  # type: ignore[valid-type]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _email_address(value: str) -> str:
    value = value.strip()
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain or " " in value:
        raise ValueError("must be an email address")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None
    if not 1970 <= utc.year <= 9999:
        raise ValueError("must be between 1970 and 9999")
    return utc


Id = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_no_nul)]
MessageId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_no_nul)]
SentAt = Annotated[AwareDatetime, AfterValidator(_in_range)]
Text = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
Address = Annotated[
    str,
    Field(min_length=3, max_length=320),
    AfterValidator(_no_nul),
    AfterValidator(_email_address),
]


class EmailCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    org_id: Id
    candidate_id: Id
    type: EmailType
    recipient: Address
    subject: Text
    sent_at: SentAt | None = Field(None, description="Defaults to now.")
    provider: ProviderName = "sendgrid"
    provider_message_id: MessageId | None = None
    blast_id: Id | None = None
    external_id: Id | None = Field(
        None, description="Idempotency key: the same (org_id, external_id) returns the same email."
    )


class EmailBatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailCreate] = Field(min_length=1, max_length=10_000)


class BadgeOut(BaseModel):
    label: str
    icon: str
    tone: str
    meaning: str
    reason: str | None = None
    advice: str | None = None

    @classmethod
    def of(cls, email: Email) -> BadgeOut:
        badge = badge_for(
            email.status_rank, category=email.status_category, reason=email.status_reason
        )
        return cls(**asdict(badge))


class Flags(BaseModel):
    """Facts beside the status. Opens and clicks of a bounced or dropped email stay on the
    timeline only: they are almost always scanners, so they are not shown as engagement."""

    opened: bool
    open_count: int
    first_opened_at: datetime | None
    last_opened_at: datetime | None
    machine_open_count: int
    clicked: bool
    click_count: int
    first_clicked_at: datetime | None
    complained: bool
    complained_at: datetime | None
    unsubscribed: bool
    unsubscribed_at: datetime | None

    @classmethod
    def of(cls, email: Email) -> Flags:
        engaged = not is_failure(email.status_rank)
        unsubscribed = email.unsubscribed_at is not None and (
            email.resubscribed_at is None or email.unsubscribed_at > email.resubscribed_at
        )
        return cls(
            opened=engaged and email.open_count > 0,
            open_count=email.open_count if engaged else 0,
            first_opened_at=email.first_opened_at if engaged else None,
            last_opened_at=email.last_opened_at if engaged else None,
            machine_open_count=email.machine_open_count,
            clicked=engaged and email.click_count > 0,
            click_count=email.click_count if engaged else 0,
            first_clicked_at=email.first_clicked_at if engaged else None,
            complained=email.complained_at is not None,
            complained_at=email.complained_at,
            unsubscribed=unsubscribed,
            unsubscribed_at=email.unsubscribed_at if unsubscribed else None,
        )


def status_of(email: Email) -> Status:
    return STATUS_BY_RANK[Rank(email.status_rank)]


class EmailSummary(BaseModel):
    """One line of a contact history."""

    id: uuid.UUID
    type: str
    recipient: str
    subject: str
    sent_at: datetime
    status: Status
    bounce_type: Literal["soft", "hard"] | None = None
    status_at: datetime
    badge: BadgeOut
    flags: Flags

    @classmethod
    def of(cls, email: Email) -> EmailSummary:
        return cls(**_summary_fields(email))


def _summary_fields(email: Email) -> dict[str, object]:
    bounce_type = {Rank.SOFT_BOUNCED: "soft", Rank.BOUNCED: "hard"}.get(Rank(email.status_rank))
    return {
        "id": email.id,
        "type": email.type,
        "recipient": email.recipient,
        "subject": email.subject,
        "sent_at": email.sent_at,
        "status": status_of(email),
        "bounce_type": bounce_type,
        "status_at": email.status_at,
        "badge": BadgeOut.of(email),
        "flags": Flags.of(email),
    }


class EventOut(BaseModel):
    id: int
    kind: str
    provider: str
    provider_event_type: str
    occurred_at: datetime
    received_at: datetime
    machine: bool
    reason: str | None
    smtp_status: str | None
    failure_category: str | None
    url: str | None

    @classmethod
    def of(cls, event: EmailEvent) -> EventOut:
        return cls.model_validate(event, from_attributes=True)


class EmailOut(EmailSummary):
    """One email with everything we know, and its event timeline (oldest first)."""

    org_id: str
    candidate_id: str
    provider: str
    provider_message_id: str | None
    blast_id: str | None
    external_id: str | None
    created_at: datetime
    events: list[EventOut]

    @classmethod
    def with_events(cls, email: Email, events: list[EmailEvent]) -> EmailOut:
        return cls(
            **_summary_fields(email),
            org_id=email.org_id,
            candidate_id=email.candidate_id,
            provider=email.provider,
            provider_message_id=email.provider_message_id,
            blast_id=email.blast_id,
            external_id=email.external_id,
            created_at=email.created_at,
            events=[EventOut.of(e) for e in events],
        )


class RegisteredEmail(BaseModel):
    id: uuid.UUID
    org_id: str
    external_id: str | None
    created: bool = Field(description="False when (org_id, external_id) already existed.")
    status: Status
    status_at: datetime
    badge: BadgeOut

    @classmethod
    def of(cls, email: Email, *, created: bool) -> RegisteredEmail:
        return cls(
            id=email.id,
            org_id=email.org_id,
            external_id=email.external_id,
            created=created,
            status=status_of(email),
            status_at=email.status_at,
            badge=BadgeOut.of(email),
        )


class RegisteredBatch(BaseModel):
    created: int
    existing: int
    items: list[RegisteredEmail]


class StatusesRequest(BaseModel):
    """Exactly one of `ids` or (`provider`, `provider_message_ids`)."""

    model_config = ConfigDict(extra="forbid")

    org_id: Id | None = Field(None, description="Optional: only this organisation's emails.")
    ids: list[uuid.UUID] | None = Field(None, max_length=1000)
    provider: ProviderName | None = None
    provider_message_ids: list[MessageId] | None = Field(None, max_length=1000)

    @model_validator(mode="after")
    def _one_selector(self) -> StatusesRequest:
        if (self.ids is None) == (self.provider_message_ids is None):
            raise ValueError("give exactly one of ids or provider_message_ids")
        if self.provider_message_ids is not None and self.provider is None:
            raise ValueError("provider is required with provider_message_ids")
        return self


class EmailStatus(BaseModel):
    id: uuid.UUID
    org_id: str
    provider: str
    provider_message_id: str | None
    recipient: str
    status: Status
    bounce_type: Literal["soft", "hard"] | None = None
    status_at: datetime
    badge: BadgeOut
    flags: Flags

    @classmethod
    def of(cls, email: Email) -> EmailStatus:
        fields = _summary_fields(email)
        return cls(
            id=email.id,
            org_id=email.org_id,
            provider=email.provider,
            provider_message_id=email.provider_message_id,
            recipient=email.recipient,
            status=fields["status"],
            bounce_type=fields["bounce_type"],  # type: ignore[arg-type]
            status_at=email.status_at,
            badge=fields["badge"],  # type: ignore[arg-type]
            flags=fields["flags"],  # type: ignore[arg-type]
        )


class StatusesResponse(BaseModel):
    items: list[EmailStatus]
    not_found: list[str]
