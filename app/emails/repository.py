"""SQL for registering emails and reading them. Set-based: one statement per batch."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import EventKind
from app.models import Email, EmailEvent
from app.resolution import StoredEvent
from app.webhooks.repository import MATCH_LOCK_KEY, MATCH_LOCK_NAMESPACE


@dataclass(frozen=True, slots=True)
class NewEmail:
    id: uuid.UUID
    org_id: str
    candidate_id: str
    type: str
    recipient: str
    recipient_key: str
    subject: str
    sent_at: datetime
    provider: str
    provider_message_id: str | None
    blast_id: str | None
    external_id: str | None


_LOCK_EXCLUSIVE_SQL = text(f"""
SELECT count(pg_advisory_xact_lock({MATCH_LOCK_NAMESPACE}, k)) FROM (
    SELECT DISTINCT {MATCH_LOCK_KEY} AS k
    FROM unnest(CAST(:providers AS text[]), CAST(:message_ids AS text[]),
                CAST(:recipient_keys AS text[])) AS t(provider, message_id, recipient_key)
    ORDER BY 1
) AS keys
""")

_INSERT_SQL = text("""
INSERT INTO emails (id, org_id, candidate_id, type, recipient, recipient_key, subject, sent_at,
                    provider, provider_message_id, blast_id, external_id, status_at)
SELECT id, org_id, candidate_id, type, recipient, recipient_key, subject, sent_at,
       provider, provider_message_id, blast_id, external_id, sent_at
FROM unnest(
    CAST(:ids AS uuid[]), CAST(:org_ids AS text[]), CAST(:candidate_ids AS text[]),
    CAST(:types AS text[]), CAST(:recipients AS text[]), CAST(:recipient_keys AS text[]),
    CAST(:subjects AS text[]), CAST(:sent_ats AS timestamptz[]), CAST(:providers AS text[]),
    CAST(:message_ids AS text[]), CAST(:blast_ids AS text[]), CAST(:external_ids AS text[])
) AS t(id, org_id, candidate_id, type, recipient, recipient_key, subject, sent_at, provider,
       provider_message_id, blast_id, external_id)
ON CONFLICT (org_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
RETURNING id
""")

_EXISTING_SQL = text("""
SELECT e.id, t.org_id, t.external_id FROM unnest(CAST(:org_ids AS text[]),
                                                 CAST(:external_ids AS text[]))
    AS t(org_id, external_id)
JOIN emails AS e ON e.org_id = t.org_id AND e.external_id = t.external_id
""")

# Events that arrived before their email was registered: matched by provider message id and
# recipient, now that the email exists.
# Two new emails with the same key: the newest takes the events, as live matching would.
_ADOPT_SQL = text("""
UPDATE email_events AS ev SET email_id = e.id, org_id = e.org_id
FROM (
    SELECT DISTINCT ON (provider, provider_message_id, recipient_key)
           id, org_id, provider, provider_message_id, recipient_key
    FROM emails
    WHERE id = ANY(CAST(:ids AS uuid[])) AND provider_message_id IS NOT NULL
    ORDER BY provider, provider_message_id, recipient_key, sent_at DESC, id
) AS e
WHERE ev.email_id IS NULL
  AND ev.provider = e.provider
  AND ev.provider_message_id = e.provider_message_id
  AND ev.recipient_key = e.recipient_key
RETURNING ev.email_id, ev.dedupe_key, ev.kind, ev.occurred_at, ev.machine, ev.reason,
          ev.smtp_status, ev.failure_category
""")


async def lock_match_keys(session: AsyncSession, emails: Sequence[NewEmail]) -> None:
    keyed = [e for e in emails if e.provider_message_id]
    if not keyed:
        return
    await session.execute(
        _LOCK_EXCLUSIVE_SQL,
        {
            "providers": [e.provider for e in keyed],
            "message_ids": [e.provider_message_id for e in keyed],
            "recipient_keys": [e.recipient_key for e in keyed],
        },
    )


async def insert_emails(session: AsyncSession, emails: Sequence[NewEmail]) -> set[uuid.UUID]:
    """Insert all; returns the ids actually created (the rest hit their idempotency key)."""
    result = await session.execute(
        _INSERT_SQL,
        {
            "ids": [e.id for e in emails],
            "org_ids": [e.org_id for e in emails],
            "candidate_ids": [e.candidate_id for e in emails],
            "types": [e.type for e in emails],
            "recipients": [e.recipient for e in emails],
            "recipient_keys": [e.recipient_key for e in emails],
            "subjects": [e.subject for e in emails],
            "sent_ats": [e.sent_at for e in emails],
            "providers": [e.provider for e in emails],
            "message_ids": [e.provider_message_id for e in emails],
            "blast_ids": [e.blast_id for e in emails],
            "external_ids": [e.external_id for e in emails],
        },
    )
    return {row.id for row in result}


async def existing_by_external_id(
    session: AsyncSession, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], uuid.UUID]:
    if not keys:
        return {}
    result = await session.execute(
        _EXISTING_SQL,
        {"org_ids": [k[0] for k in keys], "external_ids": [k[1] for k in keys]},
    )
    return {(row.org_id, row.external_id): row.id for row in result}


async def adopt_unmatched_events(
    session: AsyncSession, email_ids: Sequence[uuid.UUID]
) -> list[StoredEvent]:
    if not email_ids:
        return []
    result = await session.execute(_ADOPT_SQL, {"ids": list(email_ids)})
    return [
        StoredEvent(
            email_id=row.email_id,
            dedupe_key=row.dedupe_key,
            kind=EventKind(row.kind),
            occurred_at=row.occurred_at,
            machine=row.machine,
            reason=row.reason,
            smtp_status=row.smtp_status,
            failure_category=row.failure_category,
        )
        for row in result
    ]


async def get_many(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Email]:
    if not ids:
        return {}
    rows = await session.scalars(select(Email).where(Email.id.in_(list(set(ids)))))
    return {row.id: row for row in rows}


async def get_in_org(session: AsyncSession, email_id: uuid.UUID, org_id: str) -> Email | None:
    return await session.scalar(select(Email).where(Email.id == email_id, Email.org_id == org_id))


async def timeline(session: AsyncSession, email_id: uuid.UUID) -> list[EmailEvent]:
    rows = await session.scalars(
        select(EmailEvent)
        .where(EmailEvent.email_id == email_id)
        .order_by(EmailEvent.occurred_at, EmailEvent.id)
    )
    return list(rows)


async def find_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID], org_id: str | None
) -> list[Email]:
    query = select(Email).where(Email.id.in_(list(set(ids))))
    if org_id is not None:
        query = query.where(Email.org_id == org_id)
    return list(await session.scalars(query))


async def find_by_message_ids(
    session: AsyncSession, provider: str, message_ids: Sequence[str], org_id: str | None
) -> list[Email]:
    query = select(Email).where(
        Email.provider == provider, Email.provider_message_id.in_(list(set(message_ids)))
    )
    if org_id is not None:
        query = query.where(Email.org_id == org_id)
    return list(await session.scalars(query.order_by(Email.provider_message_id, Email.id)))
