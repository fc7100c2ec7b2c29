"""SQL for webhook ingestion: a few set-based statements per batch, never one per event."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.events import EventKind, NormalizedEvent, RejectedEvent
from app.resolution import StoredEvent

# The key both ingestion (shared) and registration (exclusive) lock, so an event and the
# registration of its email cannot miss each other when they arrive at the same moment.
MATCH_LOCK_KEY = "hashtextextended(provider || ':' || message_id || ':' || recipient_key, 0)"

_LOCK_SHARED_SQL = text(f"""
SELECT count(pg_advisory_xact_lock_shared(k)) FROM (
    SELECT DISTINCT {MATCH_LOCK_KEY} AS k
    FROM unnest(CAST(:providers AS text[]), CAST(:message_ids AS text[]),
                CAST(:recipient_keys AS text[])) AS t(provider, message_id, recipient_key)
    ORDER BY 1
) AS keys
""")

_INSERT_SQL = text("""
WITH input AS (
    SELECT * FROM unnest(
        CAST(:providers AS text[]), CAST(:dedupe_keys AS text[]), CAST(:kinds AS text[]),
        CAST(:types AS text[]), CAST(:occurred AS timestamptz[]), CAST(:recipients AS text[]),
        CAST(:recipient_keys AS text[]), CAST(:message_ids AS text[]),
        CAST(:claimed AS uuid[]), CAST(:machine AS boolean[]), CAST(:reasons AS text[]),
        CAST(:smtp AS text[]), CAST(:categories AS text[]), CAST(:urls AS text[]),
        CAST(:raws AS text[])
    ) AS t(provider, dedupe_key, kind, provider_event_type, occurred_at, recipient,
           recipient_key, provider_message_id, claimed_email_id, machine, reason, smtp_status,
           failure_category, url, raw)
),
matched AS (
    SELECT i.*, COALESCE(c.id, m.id) AS email_id, COALESCE(c.org_id, m.org_id) AS org_id
    FROM input AS i
    -- Our id counts only for the recipient it was registered for: one ESP message to several
    -- recipients carries one set of custom args, and each recipient's events are their own.
    LEFT JOIN emails AS c ON c.id = i.claimed_email_id AND c.recipient_key = i.recipient_key
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
       smtp_status, failure_category, url, CAST(raw AS jsonb)
FROM matched
ORDER BY provider, dedupe_key
ON CONFLICT (provider, dedupe_key) DO NOTHING
RETURNING id, provider, dedupe_key, email_id, kind, occurred_at, machine, reason, smtp_status,
          failure_category, provider_message_id, recipient_key
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


def _jsonb_safe(value: Any) -> Any:
    # jsonb refuses the NUL character; replace it wherever it occurs.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_jsonb_safe(k): _jsonb_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonb_safe(v) for v in value]
    return value


def dump_jsonb(value: Any) -> str:
    data = orjson.dumps(value)
    if b"\\u0000" in data:
        data = orjson.dumps(_jsonb_safe(value))
    return data.decode()


def _dump_each(events: Sequence[NormalizedEvent]) -> list[str]:
    # Adapters that fan one item out to several recipients share its raw object: dump it once.
    dumped: dict[int, str] = {}
    return [
        dumped.get(id(e.raw)) or dumped.setdefault(id(e.raw), dump_jsonb(e.raw)) for e in events
    ]


async def insert_events(
    session: AsyncSession, events: Sequence[NormalizedEvent]
) -> list[StoredEvent]:
    """Insert, match to emails and dedupe in one statement; returns only the new events."""
    if not events:
        return []
    result = await session.execute(
        _INSERT_SQL,
        {
            "providers": [e.provider for e in events],
            "dedupe_keys": [e.dedupe_key for e in events],
            "kinds": [str(e.kind) for e in events],
            "types": [e.provider_event_type for e in events],
            "occurred": [e.occurred_at for e in events],
            "recipients": [e.recipient for e in events],
            "recipient_keys": [e.recipient_key for e in events],
            "message_ids": [e.provider_message_id for e in events],
            "claimed": [e.claimed_email_id for e in events],
            "machine": [e.machine for e in events],
            "reasons": [e.reason for e in events],
            "smtp": [e.smtp_status for e in events],
            "categories": [str(e.failure_category) if e.failure_category else None for e in events],
            "urls": [e.url for e in events],
            "raws": _dump_each(events),
        },
    )
    return [
        StoredEvent(
            id=row.id,
            provider=row.provider,
            email_id=row.email_id,
            dedupe_key=row.dedupe_key,
            kind=EventKind(row.kind),
            occurred_at=row.occurred_at,
            machine=row.machine,
            reason=row.reason,
            smtp_status=row.smtp_status,
            failure_category=row.failure_category,
            provider_message_id=row.provider_message_id,
            recipient_key=row.recipient_key,
        )
        for row in result
    ]


async def rematch_unmatched(
    session: AsyncSession, stored: Sequence[StoredEvent]
) -> list[StoredEvent]:
    """Lock the match keys of new unmatched events, then match them again. Returns `stored`
    with the newly matched email ids filled in."""
    keyed = [e for e in stored if e.email_id is None and e.provider_message_id and e.recipient_key]
    if not keyed:
        return list(stored)
    await session.execute(
        _LOCK_SHARED_SQL,
        {
            "providers": [e.provider for e in keyed],
            "message_ids": [e.provider_message_id for e in keyed],
            "recipient_keys": [e.recipient_key for e in keyed],
        },
    )
    result = await session.execute(_REMATCH_SQL, {"ids": [e.id for e in keyed]})
    found = {row.id: row.email_id for row in result}
    if not found:
        return list(stored)
    return [replace(e, email_id=found[e.id]) if e.id in found else e for e in stored]


async def quarantine(session: AsyncSession, rejects: Sequence[tuple[str, RejectedEvent]]) -> None:
    """Keep (provider, item) pairs we could not interpret, once per distinct raw item."""
    if not rejects:
        return
    raws = [dump_jsonb(r.raw) for _, r in rejects]
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
