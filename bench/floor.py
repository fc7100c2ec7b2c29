"""The floor: what PostgreSQL does with the same events when nothing else is in the way.

A minimal asyncpg client sends pre-encoded arrays straight to one set-based statement per batch
(no HTTP, no JSON parsing, no ORM), in its own transaction. The statement keeps the product's
semantics: the same matching (our id from the metadata for the recipient it was registered for,
else provider message id + recipient), shared advisory locks on the match keys of events that
found no email (the product's second chance against a concurrent registration), the same insert
with ON CONFLICT DO NOTHING, then the new events folded into their emails by rank
(GREATEST/LEAST, counters, earliest then smallest key on ties) after locking the rows in id
order, like app/resolution.py. Same tables, same indexes, same rows in the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from app.domain.events import EventKind, NormalizedEvent
from app.domain.status import Rank, rank_of
from app.jsonb import dump_json as dump_jsonb

DEDUPE_ARG = 0  # positions inside floor_args()
RAW_ARG = 13


def floor_args(events: Sequence[NormalizedEvent]) -> tuple[list[Any], ...]:
    """The product's insert parameters (app/webhooks/repository.py), as positional arrays."""
    return (
        [e.dedupe_key for e in events],
        [str(e.kind) for e in events],
        [e.provider_event_type for e in events],
        [e.occurred_at for e in events],
        [e.recipient for e in events],
        [e.recipient_key for e in events],
        [e.provider_message_id for e in events],
        [e.claimed_email_id for e in events],
        [e.machine for e in events],
        [e.reason for e in events],
        [e.smtp_status for e in events],
        [str(e.failure_category) if e.failure_category else None for e in events],
        [e.url for e in events],
        [dump_jsonb(e.raw) for e in events],
    )


def _rank_case() -> str:
    """The rank of an event as SQL, generated from the product's own table (NULL: no rank)."""
    whens = [
        f"WHEN kind = '{kind}' AND machine THEN {int(rank_of(kind, machine=True))}"
        for kind in (EventKind.OPENED, EventKind.CLICKED)
    ]
    for kind in EventKind:
        rank = rank_of(kind)
        if rank is not Rank.NONE:
            whens.append(f"WHEN kind = '{kind}' THEN {int(rank)}")
    return "CASE " + " ".join(whens) + " END"


_WINS = (
    "(d.rank IS NOT NULL AND (d.rank > e.status_rank OR (d.rank = e.status_rank AND "
    "(d.at < e.status_at OR (d.at = e.status_at AND "
    'd.key COLLATE "C" < e.status_event_key COLLATE "C")))))'
)
_HUMAN_OPEN = "kind = 'opened' AND NOT machine"

BATCH_SQL = f"""
WITH input AS (
    SELECT * FROM unnest(
        $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[], $7::text[],
        $8::text[], $9::uuid[], $10::boolean[], $11::text[], $12::text[], $13::text[],
        $14::text[], $15::text[]
    ) AS t(dedupe_key, kind, provider_event_type, occurred_at, recipient, recipient_key,
           provider_message_id, claimed_email_id, machine, reason, smtp_status,
           failure_category, url, raw)
),
matched AS MATERIALIZED (
    SELECT i.*, COALESCE(c.id, m.id) AS email_id, COALESCE(c.org_id, m.org_id) AS org_id
    FROM input AS i
    LEFT JOIN emails AS c ON c.id = i.claimed_email_id AND c.provider = $1
        AND (c.recipient_key = i.recipient_key OR i.recipient_key IS NULL)
    LEFT JOIN LATERAL (
        SELECT e.id, e.org_id FROM emails AS e
        WHERE c.id IS NULL AND e.provider = $1
          AND e.provider_message_id = i.provider_message_id
          AND e.recipient_key = i.recipient_key
        ORDER BY e.sent_at DESC, e.id
        LIMIT 1
    ) AS m ON i.provider_message_id IS NOT NULL
),
match_locks AS MATERIALIZED (
    SELECT count(pg_advisory_xact_lock_shared(19524, k)) AS n FROM (
        SELECT DISTINCT (hashtext($1 || ':' || provider_message_id || ':'
                                  || recipient_key) & 255) AS k
        FROM matched
        WHERE email_id IS NULL AND provider_message_id IS NOT NULL AND recipient_key IS NOT NULL
        ORDER BY 1
    ) AS keys
),
stored AS (
    INSERT INTO email_events (
        provider, dedupe_key, email_id, org_id, kind, provider_event_type, occurred_at,
        recipient, recipient_key, provider_message_id, claimed_email_id, machine, reason,
        smtp_status, failure_category, url, raw
    )
    SELECT $1, dedupe_key, email_id, org_id, kind, provider_event_type, occurred_at,
           recipient, recipient_key, provider_message_id, claimed_email_id, machine, reason,
           smtp_status, failure_category, url, raw::jsonb
    FROM matched CROSS JOIN match_locks
    ORDER BY dedupe_key
    ON CONFLICT (provider, dedupe_key) DO NOTHING
    RETURNING email_id, dedupe_key, kind, occurred_at, machine, reason, smtp_status,
              failure_category
),
ranked AS (
    SELECT s.*, {_rank_case()} AS rank FROM stored AS s WHERE s.email_id IS NOT NULL
),
best AS (
    SELECT DISTINCT ON (email_id) email_id, rank, occurred_at AS at, dedupe_key AS key,
           reason, smtp_status AS smtp, failure_category AS category
    FROM ranked WHERE rank IS NOT NULL
    ORDER BY email_id, rank DESC, occurred_at, dedupe_key COLLATE "C"
),
counts AS (
    SELECT email_id,
           count(*)::int AS event_n,
           (count(*) FILTER (WHERE {_HUMAN_OPEN}))::int AS open_n,
           (count(*) FILTER (WHERE kind = 'opened' AND machine))::int AS machine_open_n,
           min(occurred_at) FILTER (WHERE {_HUMAN_OPEN}) AS first_opened_at,
           max(occurred_at) FILTER (WHERE {_HUMAN_OPEN}) AS last_opened_at,
           (count(*) FILTER (WHERE kind = 'clicked'))::int AS click_n,
           min(occurred_at) FILTER (WHERE kind = 'clicked') AS first_clicked_at,
           min(occurred_at) FILTER (WHERE kind = 'complained') AS complained_at,
           max(occurred_at) FILTER (WHERE kind = 'unsubscribed') AS unsubscribed_at,
           max(occurred_at) FILTER (WHERE kind = 'resubscribed') AS resubscribed_at,
           max(occurred_at) AS last_event_at
    FROM ranked GROUP BY email_id
),
d AS (
    SELECT c.*, b.rank, b.at, b.key, b.reason, b.smtp, b.category
    FROM counts AS c LEFT JOIN best AS b USING (email_id)
),
locked AS (
    SELECT e.id FROM emails AS e WHERE e.id IN (SELECT email_id FROM d)
    ORDER BY e.id FOR NO KEY UPDATE
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
FROM d JOIN locked AS l ON l.id = d.email_id
WHERE e.id = d.email_id
"""

# app/history/repository.py with the default page size: limit + 1 rows, newest first.
HISTORY_SQL = """
SELECT * FROM emails
WHERE org_id = $1 AND candidate_id = $2
ORDER BY sent_at DESC, id DESC
LIMIT 51
"""


async def ingest(pool: asyncpg.Pool, provider: str, args: tuple[Any, ...]) -> None:
    """One batch (or one event): one statement, its own transaction."""
    await pool.execute(BATCH_SQL, provider, *args)


async def history(pool: asyncpg.Pool, org_id: str, candidate_id: str) -> int:
    rows = await pool.fetch(HISTORY_SQL, org_id, candidate_id)
    return len(rows)
