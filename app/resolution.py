"""Persist status resolution: fold newly stored events into their emails, set-based.

The pure fold lives in app.domain.status; this module applies its deltas with one UPDATE that
re-implements `EmailState.merge` in SQL (GREATEST/LEAST, counters, rank comparison), so a
concurrent batch that touched the same row first is merged with, never overwritten.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import EventKind
from app.domain.status import Delta, summarize


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


def deltas_by_email(events: Iterable[StoredEvent]) -> dict[uuid.UUID, Delta]:
    groups: dict[uuid.UUID, list[StoredEvent]] = defaultdict(list)
    for event in events:
        if event.email_id is not None:
            groups[event.email_id].append(event)
    return {email_id: summarize(group) for email_id, group in groups.items()}


# The candidate in `d` beats the stored status: higher rank, else earlier, else smaller key.
_WINS = (
    "(d.rank IS NOT NULL AND (d.rank > e.status_rank OR (d.rank = e.status_rank AND "
    "(d.at < e.status_at OR (d.at = e.status_at AND "
    'd.key COLLATE "C" < e.status_event_key COLLATE "C")))))'
)

_LOCK_SQL = text(
    "SELECT id FROM emails WHERE id = ANY(CAST(:ids AS uuid[])) ORDER BY id FOR NO KEY UPDATE"
)

_MERGE_SQL = text(f"""
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
FROM unnest(
    CAST(:ids AS uuid[]), CAST(:ranks AS smallint[]), CAST(:ats AS timestamptz[]),
    CAST(:keys AS text[]), CAST(:reasons AS text[]), CAST(:smtps AS text[]),
    CAST(:categories AS text[]), CAST(:event_ns AS int[]), CAST(:open_ns AS int[]),
    CAST(:machine_open_ns AS int[]), CAST(:first_opens AS timestamptz[]),
    CAST(:last_opens AS timestamptz[]), CAST(:click_ns AS int[]),
    CAST(:first_clicks AS timestamptz[]), CAST(:complaineds AS timestamptz[]),
    CAST(:unsubscribeds AS timestamptz[]), CAST(:resubscribeds AS timestamptz[]),
    CAST(:last_events AS timestamptz[])
) AS d(id, rank, at, key, reason, smtp, category, event_n, open_n, machine_open_n,
       first_opened_at, last_opened_at, click_n, first_clicked_at, complained_at,
       unsubscribed_at, resubscribed_at, last_event_at)
WHERE e.id = d.id
""")


async def fold_events(session: AsyncSession, events: Sequence[StoredEvent]) -> int:
    """Merge new events into their emails; returns how many emails changed. Two statements:
    lock the rows in id order (so concurrent batches cannot deadlock), then one UPDATE."""
    deltas = deltas_by_email(events)
    if not deltas:
        return 0
    ids = sorted(deltas)
    await session.execute(_LOCK_SQL, {"ids": ids})
    rows = [deltas[i] for i in ids]
    best = [d.best for d in rows]
    await session.execute(
        _MERGE_SQL,
        {
            "ids": ids,
            "ranks": [b.rank if b else None for b in best],
            "ats": [b.at if b else None for b in best],
            "keys": [b.key if b else None for b in best],
            "reasons": [b.reason if b else None for b in best],
            "smtps": [b.smtp_status if b else None for b in best],
            "categories": [b.category if b else None for b in best],
            "event_ns": [d.event_count for d in rows],
            "open_ns": [d.open_count for d in rows],
            "machine_open_ns": [d.machine_open_count for d in rows],
            "first_opens": [d.first_opened_at for d in rows],
            "last_opens": [d.last_opened_at for d in rows],
            "click_ns": [d.click_count for d in rows],
            "first_clicks": [d.first_clicked_at for d in rows],
            "complaineds": [d.complained_at for d in rows],
            "unsubscribeds": [d.unsubscribed_at for d in rows],
            "resubscribeds": [d.resubscribed_at for d in rows],
            "last_events": [d.last_event_at for d in rows],
        },
    )
    return len(ids)
