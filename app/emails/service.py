"""Register sent emails (idempotent), adopt events that arrived first, read statuses."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_retryable
from app.emails import repository
from app.emails.repository import NewEmail
from app.emails.schemas import (
    EmailCreate,
    EmailOut,
    EmailStatus,
    RegisteredEmail,
    StatusesRequest,
    StatusesResponse,
)
from app.errors import NotFound
from app.providers.registry import adapter_class
from app.resolution import fold_events

log = logging.getLogger("landed.emails")
MAX_ATTEMPTS = 3


def _canonical_message_id(provider: str, value: str | None) -> str | None:
    cls = adapter_class(provider)
    if value is None or cls is None:
        return value
    return cls.canonical_message_id(value) or None


def _new_email(item: EmailCreate, now: datetime) -> NewEmail:
    return NewEmail(
        id=uuid.uuid4(),
        org_id=item.org_id,
        candidate_id=item.candidate_id,
        type=item.type,
        recipient=item.recipient.strip(),
        recipient_key=item.recipient.strip().lower(),
        subject=item.subject,
        sent_at=(item.sent_at or now).astimezone(UTC),
        provider=item.provider,
        provider_message_id=_canonical_message_id(item.provider, item.provider_message_id),
        blast_id=item.blast_id,
        external_id=item.external_id,
    )


async def register(session: AsyncSession, items: list[EmailCreate]) -> list[RegisteredEmail]:
    """Insert the emails in one statement; known (org_id, external_id) pairs return the
    existing email. Events already received for a new email are adopted and folded in."""
    now = datetime.now(UTC)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        emails = [_new_email(item, now) for item in items]
        try:
            await repository.lock_match_keys(session, emails)
            created = await repository.insert_emails(session, emails)
            conflicted = [
                (e.org_id, e.external_id)
                for e in emails
                if e.id not in created and e.external_id is not None
            ]
            existing = await repository.existing_by_external_id(session, conflicted)
            adopted = await repository.adopt_unmatched_events(session, sorted(created))
            await fold_events(session, [(e.email_id, e) for e in adopted])
            ids = [
                e.id if e.id in created else existing[(e.org_id, e.external_id or "")]
                for e in emails
            ]
            rows = await repository.get_many(session, ids)
            await session.commit()
        except DBAPIError as exc:
            await session.rollback()
            if attempt < MAX_ATTEMPTS and is_retryable(exc):
                continue
            raise
        break
    log.info(
        "emails.registered",
        extra={"count": len(items), "new": len(created), "adopted": len(adopted)},
    )
    seen: set[uuid.UUID] = set()
    out = []
    for email, email_id in zip(emails, ids, strict=True):
        # Within one batch, a repeated external_id is created once, then "existing".
        is_new = email.id in created and email_id not in seen
        seen.add(email_id)
        out.append(RegisteredEmail.of(rows[email_id], created=is_new))
    return out


async def get_email(session: AsyncSession, email_id: uuid.UUID, org_id: str) -> EmailOut:
    email = await repository.get_in_org(session, email_id, org_id)
    if email is None:
        raise NotFound("No such email.")
    events = await repository.timeline(session, email_id)
    return EmailOut.with_events(email, events)


async def statuses(session: AsyncSession, request: StatusesRequest) -> StatusesResponse:
    if request.ids is not None:
        emails = await repository.find_by_ids(session, request.ids, request.org_id)
        found = {str(e.id) for e in emails}
        not_found = [str(i) for i in dict.fromkeys(request.ids) if str(i) not in found]
    else:
        assert request.provider is not None
        assert request.provider_message_ids is not None
        wanted = {
            m: _canonical_message_id(request.provider, m) or m for m in request.provider_message_ids
        }
        emails = await repository.find_by_message_ids(
            session, request.provider, list(set(wanted.values())), request.org_id
        )
        found = {e.provider_message_id or "" for e in emails}
        not_found = [m for m, canonical in wanted.items() if canonical not in found]
    return StatusesResponse(items=[EmailStatus.of(e) for e in emails], not_found=not_found)
