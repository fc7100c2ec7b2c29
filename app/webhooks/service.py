"""Ingest one verified webhook batch in one transaction, committed before we answer."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_retryable
from app.domain.events import NormalizedEvent, ParsedBatch
from app.errors import SignatureInvalid
from app.resolution import fold_events
from app.webhooks import repository

log = logging.getLogger("landed.webhooks")
MAX_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class IngestResult:
    received: int
    stored: int
    duplicates: int
    unmatched: int
    quarantined: int


def unique_events(events: list[NormalizedEvent]) -> list[NormalizedEvent]:
    """Drop repeats inside one batch (first wins); repeats across batches meet the unique key."""
    seen: dict[str, NormalizedEvent] = {}
    for event in events:
        seen.setdefault(event.dedupe_key, event)
    return list(seen.values())


async def ingest(
    session: AsyncSession,
    provider: str,
    batch: ParsedBatch,
    *,
    nonce: str | None = None,
    raw: bytes = b"",
) -> IngestResult:
    events = unique_events(batch.events)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            if nonce is not None and not await repository.claim_nonce(
                session, provider, nonce, raw
            ):
                await session.rollback()
                log.warning("webhook.replay_refused", extra={"provider": provider})
                raise SignatureInvalid("This signature was already used for another request.")
            await repository.lock_match_keys(session, events)
            stored = await repository.insert_events(session, provider, events)
            await fold_events(session, stored)
            await repository.quarantine(session, provider, batch.rejects)
            await session.commit()
        except DBAPIError as exc:
            await session.rollback()
            if attempt < MAX_ATTEMPTS and is_retryable(exc):
                log.info("webhook.retry", extra={"provider": provider, "attempt": attempt})
                continue
            raise
        break
    result = IngestResult(
        received=batch.received,
        stored=len(stored),
        duplicates=len(batch.events) - len(stored),
        unmatched=sum(1 for e in stored if e.email_id is None),
        quarantined=len(batch.rejects),
    )
    log.info("webhook.ingested", extra={"provider": provider, **asdict(result)})
    return result
