"""SQL for webhook ingestion: a few set-based statements per batch, never one per event."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import NormalizedEvent, RejectedEvent
from app.jsonb import dump_json

# The lock both ingestion (shared) and registration (exclusive) take, so an event and the
# registration of its email cannot miss each other when they arrive at the same moment.
# Keys are hashed into a fixed number of buckets in their own namespace (the two-int form):
# one lock per key made a 10,000-email blast hold 10,000 locks and exhaust PostgreSQL's lock
# table, which all sessions share (max_locks_per_transaction × max_connections, 6,400 slots
# by default). A shared bucket only means that two unrelated keys wait for each other's
# commit; the result is the same. 256: two blasts and a dozen webhook groups fit at once.
MATCH_LOCK_NAMESPACE = 0x4C44  # "LD"
MATCH_LOCK_BUCKETS = 256
MATCH_LOCK_KEY = (
    f"(hashtext(provider || ':' || message_id || ':' || recipient_key) & {MATCH_LOCK_BUCKETS - 1})"
)

_LOCK_SHARED_SQL = text(f"""
SELECT count(pg_advisory_xact_lock_shared({MATCH_LOCK_NAMESPACE}, k)) FROM (
    SELECT DISTINCT {MATCH_LOCK_KEY} AS k
    FROM unnest(CAST(:providers AS text[]), CAST(:message_ids AS text[]),
                CAST(:recipient_keys AS text[])) AS t(provider, message_id, recipient_key)
    ORDER BY 1
) AS keys
""")

_INSERT_SQL = text("""
WITH input AS (
    -- One JSON document for the whole batch: far cheaper to send than fifteen arrays.
    SELECT * FROM jsonb_to_recordset(CAST(:events AS jsonb)) AS t(
        provider text, dedupe_key text, kind text, provider_event_type text,
        occurred_at timestamptz, recipient text, recipient_key text, provider_message_id text,
        claimed_email_id uuid, machine boolean, reason text, smtp_status text,
        failure_category text, url text, raw jsonb
    )
),
matched AS (
    SELECT i.*, COALESCE(c.id, m.id) AS email_id, COALESCE(c.org_id, m.org_id) AS org_id
    FROM input AS i
    -- Our id counts only for the recipient it was registered for: one ESP message to several
    -- recipients carries one set of custom args, and each recipient's events are their own.
    -- An event that names no recipient at all (Mailgun `rejected`) is taken at its word, and
    -- only for an email sent through the provider that signed it.
    LEFT JOIN emails AS c ON c.id = i.claimed_email_id AND c.provider = i.provider
        AND (c.recipient_key = i.recipient_key OR i.recipient_key IS NULL)
    LEFT JOIN LATERAL (
        SELECT e.id, e.org_id FROM emails AS e
        WHERE c.id IS NULL AND e.provider = i.provider
          AND e.provider_message_id = i.provider_message_id
          AND e.recipient_key = i.recipient_key
        ORDER BY e.sent_at DESC, e.id
        LIMIT 1
    ) AS m ON i.provider_message_id IS NOT NULL
)
INSERT INTO email_events (
    provider, dedupe_key, email_id, org_id, kind, provider_event_type, occurred_at,
    recipient, recipient_key, provider_message_id, claimed_email_id, machine, reason,
    smtp_status, failure_category, url, raw
)
SELECT provider, dedupe_key, email_id, org_id, kind, provider_event_type, occurred_at,
       recipient, recipient_key, provider_message_id, claimed_email_id, machine, reason,
       smtp_status, failure_category, url, raw
FROM matched
ORDER BY provider, dedupe_key
ON CONFLICT (provider, dedupe_key) DO NOTHING
RETURNING id, provider, dedupe_key, email_id
""")

# Second chance for events that found no email: after taking the shared match lock (which a
# concurrent registration holds exclusively until it commits), look again.
_REMATCH_SQL = text("""
UPDATE email_events AS ev SET email_id = m.id, org_id = m.org_id
FROM unnest(CAST(:ids AS bigint[])) AS t(event_id)
CROSS JOIN LATERAL (
    SELECT e.id, e.org_id FROM email_events AS x
    JOIN emails AS e ON e.provider = x.provider
        AND e.provider_message_id = x.provider_message_id
        AND e.recipient_key = x.recipient_key
    WHERE x.id = t.event_id
    ORDER BY e.sent_at DESC, e.id
    LIMIT 1
) AS m
WHERE ev.id = t.event_id AND ev.email_id IS NULL
RETURNING ev.id, ev.email_id
""")

_QUARANTINE_SQL = text("""
INSERT INTO quarantined_events (provider, reason, raw, raw_sha256)
SELECT provider, reason, CAST(raw AS jsonb), sha
FROM unnest(CAST(:providers AS text[]), CAST(:reasons AS text[]), CAST(:raws AS text[]),
            CAST(:shas AS text[])) AS t(provider, reason, raw, sha)
ON CONFLICT (provider, raw_sha256) DO NOTHING
""")

# DO UPDATE (a no-op) rather than DO NOTHING: it waits for a concurrent insert of the same
# nonce to commit and returns the row that won, so two bodies can never share one nonce.
_NONCE_SQL = text("""
INSERT INTO webhook_nonces (provider, nonce, body_sha256)
VALUES (:provider, :nonce, :sha)
ON CONFLICT (provider, nonce) DO UPDATE SET body_sha256 = webhook_nonces.body_sha256
RETURNING body_sha256
""")


class Stored(NamedTuple):
    """A newly inserted event: its row id, its key, and the email it matched (or None)."""

    id: int
    provider: str
    dedupe_key: str
    email_id: uuid.UUID | None


def _record(event: NormalizedEvent) -> dict[str, Any]:
    return {
        "provider": event.provider,
        "dedupe_key": event.dedupe_key,
        "kind": event.kind.value,
        "provider_event_type": event.provider_event_type,
        "occurred_at": event.occurred_at,
        "recipient": event.recipient,
        "recipient_key": event.recipient_key,
        "provider_message_id": event.provider_message_id,
        "claimed_email_id": event.claimed_email_id,
        "machine": event.machine,
        "reason": event.reason,
        "smtp_status": event.smtp_status,
        "failure_category": event.failure_category.value if event.failure_category else None,
        "url": event.url,
        "raw": event.raw,
    }


async def insert_events(session: AsyncSession, events: Sequence[NormalizedEvent]) -> list[Stored]:
    """Insert, match to emails and dedupe in one statement; returns only the new events."""
    if not events:
        return []
    result = await session.execute(_INSERT_SQL, {"events": dump_json([_record(e) for e in events])})
    return [Stored(*row) for row in result]


async def rematch_unmatched(
    session: AsyncSession,
    stored: Sequence[Stored],
    events: Mapping[tuple[str, str], NormalizedEvent],
) -> list[Stored]:
    """Lock the match keys of new unmatched events, then match them again. Returns `stored`
    with the newly matched email ids filled in."""
    keyed = [
        (s, e)
        for s in stored
        if s.email_id is None
        and (e := events[(s.provider, s.dedupe_key)]).provider_message_id
        and e.recipient_key
    ]
    if not keyed:
        return list(stored)
    await session.execute(
        _LOCK_SHARED_SQL,
        {
            "providers": [e.provider for _, e in keyed],
            "message_ids": [e.provider_message_id for _, e in keyed],
            "recipient_keys": [e.recipient_key for _, e in keyed],
        },
    )
    result = await session.execute(_REMATCH_SQL, {"ids": [s.id for s, _ in keyed]})
    found = {row.id: row.email_id for row in result}
    if not found:
        return list(stored)
    return [s._replace(email_id=found[s.id]) if s.id in found else s for s in stored]


async def quarantine(session: AsyncSession, rejects: Sequence[tuple[str, RejectedEvent]]) -> None:
    """Keep (provider, item) pairs we could not interpret, once per distinct raw item."""
    if not rejects:
        return
    raws = [dump_json(r.raw) for _, r in rejects]
    await session.execute(
        _QUARANTINE_SQL,
        {
            "providers": [p for p, _ in rejects],
            "reasons": [r.reason for _, r in rejects],
            "raws": raws,
            "shas": [hashlib.sha256(raw.encode()).hexdigest() for raw in raws],
        },
    )


async def claim_nonce(session: AsyncSession, provider: str, nonce: str, body: bytes) -> bool:
    """Record a signature nonce. False when it was already used with a different body."""
    sha = hashlib.sha256(body).hexdigest()
    stored = (
        await session.execute(_NONCE_SQL, {"provider": provider, "nonce": nonce, "sha": sha})
    ).scalar_one()
    return stored == sha
