"""Ingest verified webhook batches: one transaction, committed before anyone is answered.

`ingest_many` takes the submissions of several requests (the coalescer groups concurrent
requests) and runs them as one transaction of a handful of set-based statements; each
submission still gets its own counts."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field, replace

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import is_retryable
from app.domain.events import NormalizedEvent, ParsedBatch, RejectedEvent
from app.errors import SignatureInvalid
from app.jsonb import dump_json
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


@dataclass(slots=True)
class Submission:
    """One verified request's batch."""

    provider: str
    batch: ParsedBatch
    nonce: str | None = None
    raw: bytes = b""
    events: list[NormalizedEvent] = field(init=False)

    def __post_init__(self) -> None:
        self.events = unique_events(self.batch.events)


# Indexed text must stay well below PostgreSQL's btree row limit (~2.7 kB), whatever an
# adapter extracted: long keys are hashed, long ids and addresses cut.
MAX_KEY_CHARS = 200
MAX_MESSAGE_ID_CHARS = 255
MAX_RECIPIENT_CHARS = 320
# Unreadable items kept per request; the answer still counts them all.
MAX_QUARANTINED_PER_REQUEST = 1000


def storable(event: NormalizedEvent) -> NormalizedEvent:
    key, message_id, recipient = event.dedupe_key, event.provider_message_id, event.recipient
    if len(key) > MAX_KEY_CHARS:
        key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    if message_id and len(message_id) > MAX_MESSAGE_ID_CHARS:
        message_id = message_id[:MAX_MESSAGE_ID_CHARS]
    if recipient and len(recipient) > MAX_RECIPIENT_CHARS:
        recipient = recipient[:MAX_RECIPIENT_CHARS]
    if (key, message_id, recipient) == (
        event.dedupe_key,
        event.provider_message_id,
        event.recipient,
    ):
        return event
    return replace(event, dedupe_key=key, provider_message_id=message_id, recipient=recipient)


def unique_events(events: list[NormalizedEvent]) -> list[NormalizedEvent]:
    """Drop repeats inside one batch (first wins); repeats across batches meet the unique key."""
    seen: dict[str, NormalizedEvent] = {}
    for event in map(storable, events):
        seen.setdefault(event.dedupe_key, event)
    return list(seen.values())


def distinct_rejects(rejects: list[RejectedEvent]) -> list[RejectedEvent]:
    kept: dict[str, RejectedEvent] = {}
    for reject in rejects:
        if len(kept) >= MAX_QUARANTINED_PER_REQUEST:
            break
        kept.setdefault(dump_json(reject.raw), reject)
    return list(kept.values())


async def ingest(session: AsyncSession, submission: Submission) -> IngestResult:
    (result,) = await ingest_many(session, [submission])
    if isinstance(result, Exception):
        raise result
    return result


async def ingest_many(
    session: AsyncSession, submissions: list[Submission]
) -> list[IngestResult | SignatureInvalid]:
    """Store all submissions in one transaction (retried whole on deadlock); a submission
    whose signature nonce was already used with another body is refused alone."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            results = await _ingest_once(session, submissions)
            await session.commit()
        except DBAPIError as exc:
            await session.rollback()
            if attempt < MAX_ATTEMPTS and is_retryable(exc):
                log.info("webhook.retry", extra={"attempt": attempt})
                continue
            raise
        break
    for sub, result in zip(submissions, results, strict=True):
        if isinstance(result, IngestResult):
            log.info("webhook.ingested", extra={"provider": sub.provider, **asdict(result)})
        else:
            log.warning("webhook.replay_refused", extra={"provider": sub.provider})
    return results


async def _ingest_once(
    session: AsyncSession, submissions: list[Submission]
) -> list[IngestResult | SignatureInvalid]:
    accepted: list[Submission] = []
    refused: set[int] = set()
    for i, sub in enumerate(submissions):
        if sub.nonce and not await repository.claim_nonce(
            session, sub.provider, sub.nonce, sub.raw
        ):
            refused.add(i)
        else:
            accepted.append(sub)

    # Across requests, the same event may come twice: the first submission owns it.
    owner: dict[tuple[str, str], int] = {}
    events: list[NormalizedEvent] = []
    for i, sub in enumerate(submissions):
        if i in refused:
            continue
        for event in sub.events:
            key = (event.provider, event.dedupe_key)
            if key not in owner:
                owner[key] = i
                events.append(event)

    # Quarantine first: folding locks email rows until the commit, so it comes last.
    await repository.quarantine(
        session,
        [(sub.provider, r) for sub in accepted for r in distinct_rejects(sub.batch.rejects)],
    )
    by_key = {(e.provider, e.dedupe_key): e for e in events}
    stored = await repository.insert_events(session, events)
    stored = await repository.rematch_unmatched(session, stored, by_key)
    await fold_events(session, [(s.email_id, by_key[(s.provider, s.dedupe_key)]) for s in stored])

    by_owner: dict[int, list[repository.Stored]] = {}
    for event in stored:
        by_owner.setdefault(owner[(event.provider, event.dedupe_key)], []).append(event)
    results: list[IngestResult | SignatureInvalid] = []
    for i, sub in enumerate(submissions):
        if i in refused:
            results.append(SignatureInvalid("This signature was already used for another request."))
            continue
        mine = by_owner.get(i, [])
        results.append(
            IngestResult(
                received=sub.batch.received,
                stored=len(mine),
                duplicates=len(sub.batch.events) - len(mine),
                unmatched=sum(1 for e in mine if e.email_id is None),
                quarantined=len(sub.batch.rejects),
            )
        )
    return results
