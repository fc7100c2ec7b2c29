"""Tables. Every tenant row carries org_id; timestamps are timestamptz in UTC."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    SmallInteger,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base

EMAIL_TYPES = (
    "interview_invitation",
    "email_blast",
    "interview_reminder",
    "resume_reminder",
    "deadline_reminder",
)

TZ = DateTime(timezone=True)


class Email(Base):
    __tablename__ = "emails"

    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, server_default=text("gen_random_uuid()")
    )
    org_id: Mapped[str] = mapped_column(Text)
    candidate_id: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(Text)
    recipient: Mapped[str] = mapped_column(Text)
    recipient_key: Mapped[str] = mapped_column(Text)  # lower(trim(recipient)), for matching
    subject: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column(TZ)
    provider: Mapped[str] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    blast_id: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())

    # The folded status (see app.domain.status): the winning candidate and its details.
    status_rank: Mapped[int] = mapped_column(SmallInteger, server_default=text("10"))
    status_at: Mapped[datetime] = mapped_column(TZ)
    status_event_key: Mapped[str] = mapped_column(Text, server_default=text("''"))
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_smtp: Mapped[str | None] = mapped_column(Text)
    status_category: Mapped[str | None] = mapped_column(Text)

    event_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    machine_open_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    first_opened_at: Mapped[datetime | None] = mapped_column(TZ)
    last_opened_at: Mapped[datetime | None] = mapped_column(TZ)
    click_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    first_clicked_at: Mapped[datetime | None] = mapped_column(TZ)
    complained_at: Mapped[datetime | None] = mapped_column(TZ)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(TZ)
    resubscribed_at: Mapped[datetime | None] = mapped_column(TZ)
    last_event_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint(f"type IN {EMAIL_TYPES!r}", name="type_known"),
        Index(
            "uq_emails_org_id_external_id",
            "org_id",
            "external_id",
            unique=True,
            postgresql_where=text("external_id IS NOT NULL"),
        ),
        # Contact history: org + candidate, newest first, keyset on (sent_at, id).
        Index(
            "ix_emails_history",
            "org_id",
            "candidate_id",
            text("sent_at DESC"),
            text("id DESC"),
        ),
        Index(
            "ix_emails_provider_message",
            "provider",
            "provider_message_id",
            "recipient_key",
            postgresql_where=text("provider_message_id IS NOT NULL"),
        ),
    )


class EmailEvent(Base):
    __tablename__ = "email_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    dedupe_key: Mapped[str] = mapped_column(Text)
    email_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("emails.id", ondelete="CASCADE")
    )
    org_id: Mapped[str | None] = mapped_column(Text)  # set once the event is matched
    kind: Mapped[str] = mapped_column(Text)
    provider_event_type: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(TZ)
    received_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    recipient: Mapped[str | None] = mapped_column(Text)
    recipient_key: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(Text)
    claimed_email_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    machine: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    reason: Mapped[str | None] = mapped_column(Text)
    smtp_status: Mapped[str | None] = mapped_column(Text)
    failure_category: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)

    __table_args__ = (
        UniqueConstraint("provider", "dedupe_key"),
        Index("ix_email_events_timeline", "email_id", "occurred_at"),
        Index(
            "ix_email_events_unmatched",
            "provider",
            "provider_message_id",
            "recipient_key",
            postgresql_where=text("email_id IS NULL"),
        ),
    )


class QuarantinedEvent(Base):
    """An item of a verified batch that we could not interpret, kept with the reason."""

    __tablename__ = "quarantined_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    provider: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[Any] = mapped_column(JSONB)
    raw_sha256: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())

    __table_args__ = (UniqueConstraint("provider", "raw_sha256"),)


class WebhookNonce(Base):
    """Signature nonces already used (e.g. Mailgun tokens), to refuse replays."""

    __tablename__ = "webhook_nonces"

    provider: Mapped[str] = mapped_column(Text, primary_key=True)
    nonce: Mapped[str] = mapped_column(Text, primary_key=True)
    body_sha256: Mapped[str] = mapped_column(Text)
    seen_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
