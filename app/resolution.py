"""Persist status resolution: fold newly stored events into their emails, set-based.

The pure fold lives in app.domain.status; this module applies its deltas with one UPDATE that
re-implements `EmailState.merge` in SQL (GREATEST/LEAST, counters, rank comparison), so a
concurrent batch that touched the same row first is merged with, never overwritten.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import EventKind
from app.domain.status import Delta, EventFacts, summarize
from app.jsonb import dump_json


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """A newly stored (or newly matched) event, as returned by its INSERT or UPDATE."""

    email_id: uuid.UUID | None
    dedupe_key: str
    kind: EventKind
    occurred_at: datetime
    machine: bool
    reason: str | None
    smtp_status: str | None
    failure_category: str | None
    id: int = 0
    provider: str = ""
    provider_message_id: str | None = None
    recipient_key: str | None = None


def deltas_by_email(
    matched: Iterable[tuple[uuid.UUID | None, EventFacts]],
) -> dict[uuid.UUID, Delta]:
    """(email id, event) pairs grouped and summarised; unmatched events (None) are skipped."""
    groups: dict[uuid.UUID, list[EventFacts]] = defaultdict(list)
    for email_id, event in matched:
        if email_id is not None:
            groups[email_id].append(event)
    return {email_id: summarize(group) for email_id, group in groups.items()}


# The candidate in `d` beats the stored status: higher rank, else earlier, else smaller key.
_WINS = (
    "(d.rank IS NOT NULL AND (d.rank > e.status_rank OR (d.rank = e.status_rank AND "
    "(d.at < e.status_at OR (d.at = e.status_at AND "
    'd.key COLLATE "C" < e.status_event_key COLLATE "C")))))'
)

# One statement: the rows are locked in id order first (so concurrent batches cannot
# deadlock), then updated. Rows locked after waiting for another batch are merged with that
# batch's committed values (READ COMMITTED re-reads the row before applying SET).
_MERGE_SQL = text(f"""
WITH locked AS MATERIALIZED (
    SELECT id FROM emails WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE
)
UPDATE emails AS e SET
    status_rank = CASE WHEN {_WINS} THEN d.rank ELSE e.status_rank END,
    status_at = CASE WHEN {_WINS} THEN d.at ELSE e.status_at END,
    status_event_key = CASE WHEN {_WINS} THEN d.key ELSE e.status_event_key END,
    status_reason = CASE WHEN {_WINS} THEN d.reason ELSE e.status_reason END,
    status_smtp = CASE WHEN {_WINS} THEN d.smtp ELSE e.status_smtp END,
    status_category = CASE WHEN {_WINS} THEN d.category ELSE e.status_category END,
    event_count = e.event_count + d.event_n,
    open_count = e.open_count + d.open_n,
    machine_open_count = e.machine_open_count + d.machine_open_n,
    first_opened_at = LEAST(e.first_opened_at, d.first_opened_at),
    last_opened_at = GREATEST(e.last_opened_at, d.last_opened_at),
    click_count = e.click_count + d.click_n,
    first_clicked_at = LEAST(e.first_clicked_at, d.first_clicked_at),
    complained_at = LEAST(e.complained_at, d.complained_at),
    unsubscribed_at = GREATEST(e.unsubscribed_at, d.unsubscribed_at),
    resubscribed_at = GREATEST(e.resubscribed_at, d.resubscribed_at),
    last_event_at = GREATEST(e.last_event_at, d.last_event_at)
FROM jsonb_to_recordset(CAST(:deltas AS jsonb)) AS d(
    id uuid, rank smallint, at timestamptz, key text, reason text, smtp text, category text,
    event_n int, open_n int, machine_open_n int, first_opened_at timestamptz,
    last_opened_at timestamptz, click_n int, first_clicked_at timestamptz,
    complained_at timestamptz, unsubscribed_at timestamptz, resubscribed_at timestamptz,
    last_event_at timestamptz
)
WHERE e.id = d.id AND e.id IN (SELECT id FROM locked)
""")


def _delta_record(email_id: uuid.UUID, d: Delta) -> dict[str, object]:
    b = d.best
    return {
        "id": email_id,
        "rank": b.rank if b else None,
        "at": b.at if b else None,
        "key": b.key if b else None,
        "reason": b.reason if b else None,
        "smtp": b.smtp_status if b else None,
        "category": b.category if b else None,
        "event_n": d.event_count,
        "open_n": d.open_count,
        "machine_open_n": d.machine_open_count,
        "first_opened_at": d.first_opened_at,
        "last_opened_at": d.last_opened_at,
        "click_n": d.click_count,
        "first_clicked_at": d.first_clicked_at,
        "complained_at": d.complained_at,
        "unsubscribed_at": d.unsubscribed_at,
        "resubscribed_at": d.resubscribed_at,
        "last_event_at": d.last_event_at,
    }


async def fold_events(
    session: AsyncSession, matched: Iterable[tuple[uuid.UUID | None, EventFacts]]
) -> int:
    """Merge new events into their emails; returns how many emails changed. One statement
    that locks the rows in id order, then updates them from one JSON document (cheaper to
    send than a score of arrays)."""
    deltas = deltas_by_email(matched)
    if not deltas:
        return 0
    ids = sorted(deltas)
    # Concurrent batches about the same emails wait for these row locks until the commit:
    # one round trip from lock to commit keeps that wait short.
    document = dump_json([_delta_record(i, deltas[i]) for i in ids])
    await session.execute(_MERGE_SQL, {"ids": ids, "deltas": document})
    return len(ids)
