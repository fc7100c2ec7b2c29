"""API shapes for emails: registration, one email with its timeline, bulk statuses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from app.domain.status import Status
from app.emails.presenter import status_dict, summary_dict
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
        return cls.model_validate(summary_dict(email))


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
            **summary_dict(email),
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
        status = status_dict(email)
        return cls.model_validate(
            {
                "id": email.id,
                "org_id": email.org_id,
                "external_id": email.external_id,
                "created": created,
                "status": status["status"],
                "status_at": email.status_at,
                "badge": status["badge"],
            }
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
        return cls.model_validate(
            {
                "id": email.id,
                "org_id": email.org_id,
                "provider": email.provider,
                "provider_message_id": email.provider_message_id,
                "recipient": email.recipient,
                **status_dict(email),
            }
        )


class StatusesResponse(BaseModel):
    items: list[EmailStatus]
    not_found: list[str]
