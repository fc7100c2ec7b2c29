"""Fill the tables with history: millions of emails and their events, through binary COPY.

Rows are what the service itself would have stored: the same SendGrid lifecycles as the load
(processed, deferred, delivered, opens, clicks, bounces, drops), the raw event as jsonb, each
email's status folded by the product's rank rule. Organisations are skewed (a few large), emails
per candidate vary (1 to 60). Secondary indexes are dropped for the load and rebuilt from their
own catalog definitions afterwards, so the schema ends exactly as the migrations made it.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from app.domain.events import EventKind
from app.domain.status import Rank, rank_of
from app.providers.sendgrid import BOUNCE_CLASSIFICATIONS, BOUNCE_TYPES, DROP_REASONS, EVENT_KINDS
from bench.db import connect
from bench.events import (
    EMAIL_TYPES,
    PROVIDER,
    SUBJECTS,
    Target,
    address,
    event_id,
    lifecycle,
    message_id,
)

EMAIL_COLUMNS = (
    "id", "org_id", "candidate_id", "type", "recipient", "recipient_key", "subject", "sent_at",
    "provider", "provider_message_id", "blast_id", "external_id", "created_at", "status_rank",
    "status_at", "status_event_key", "status_reason", "status_smtp", "status_category",
    "event_count", "open_count", "machine_open_count", "first_opened_at", "last_opened_at",
    "click_count", "first_clicked_at", "complained_at", "unsubscribed_at", "resubscribed_at",
    "last_event_at",
)  # fmt: skip
EVENT_COLUMNS = (
    "provider", "dedupe_key", "email_id", "org_id", "kind", "provider_event_type",
    "occurred_at", "received_at", "recipient", "recipient_key", "provider_message_id",
    "claimed_email_id", "machine", "reason", "smtp_status", "failure_category", "url", "raw",
)  # fmt: skip
CHUNK_EMAILS = 20_000
ORGS = 200
EPOCH = datetime(2024, 6, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 86_400


@dataclass(frozen=True, slots=True)
class _Index:
    table: str
    name: str
    definition: str
    constraint: bool


def _kind(item: dict[str, Any]) -> EventKind:
    name = item["event"]
    if name == "bounce":
        return BOUNCE_TYPES.get(item.get("type", "bounce"), EventKind.HARD_BOUNCE)
    return EVENT_KINDS.get(name, EventKind.UNKNOWN)


def _category(item: dict[str, Any]) -> str | None:
    if item["event"] == "dropped":
        return str(DROP_REASONS.get(item["reason"].lower(), "unknown"))
    if item["event"] == "bounce":
        return str(BOUNCE_CLASSIFICATIONS.get(item["bounce_classification"].lower(), "unknown"))
    return None


def _email_rows(
    rng: random.Random, n: int, ratio: float, serial: Iterator[int]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """About n emails (whole candidates) and their events, `ratio` events per email on average."""
    emails: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    # lifecycle() alone gives ≈3.03 events per email, 95% of them delivered.
    extra_opens = max(0.0, ratio - 3.03) / 0.95
    while len(emails) < n:
        org = f"org-big-{min(ORGS - 1, int(rng.paretovariate(1.2)) - 1)}"
        cand = next(serial)
        count = min(60, 1 + int(rng.expovariate(1 / 7)))
        recipient = address(rng, cand)
        for _ in range(count):
            sent = EPOCH + timedelta(seconds=rng.randrange(SPAN_SECONDS))
            email_id = uuid.UUID(bytes=rng.randbytes(16), version=4)
            target = Target(str(email_id), recipient, message_id(rng))
            items = lifecycle(rng, target, int(sent.timestamp()))
            if items[-1]["event"] in ("delivered", "open", "click"):
                ts = items[-1]["timestamp"]
                for _ in range(int(extra_opens) + (rng.random() < extra_opens % 1)):
                    ts += 60 + rng.randrange(86_400)
                    extra = dict(items[-1], event="open", timestamp=ts, sg_machine_open=False)
                    extra["sg_event_id"] = event_id(rng)
                    extra.pop("url", None)
                    items.append(extra)
            best: tuple[int, datetime, str, dict[str, Any]] | None = None
            opens = machine_opens = clicks = 0
            first_open = last_open = first_click = None
            last_event = sent
            for item in items:
                kind = _kind(item)
                machine = item.get("sg_machine_open") is True
                at = datetime.fromtimestamp(item["timestamp"], UTC)
                key = "id:" + item["sg_event_id"]
                rank = int(rank_of(kind, machine=machine))
                if rank != Rank.NONE and (
                    best is None or (-rank, at, key) < (-best[0], best[1], best[2])
                ):
                    best = (rank, at, key, item)
                if kind is EventKind.OPENED:
                    machine_opens += machine
                    if not machine:
                        opens += 1
                        first_open = min(first_open or at, at)
                        last_open = max(last_open or at, at)
                if kind is EventKind.CLICKED:
                    clicks += 1
                    first_click = min(first_click or at, at)
                last_event = max(last_event, at)
                reason = item.get("reason") or (
                    item.get("response") if item["event"] == "deferred" else None
                )
                events.append(
                    (
                        PROVIDER, key, email_id, org, str(kind), item["event"], at,
                        at + timedelta(seconds=2 + rng.randrange(60)), recipient,
                        recipient.lower(), target.message_id, email_id, machine, reason,
                        item.get("status"), _category(item),
                        item.get("url") if kind is EventKind.CLICKED else None,
                        orjson.dumps(item).decode(),
                    )
                )  # fmt: skip
            assert best is not None
            rank, at, key, item = best
            if rank < Rank.SENT or (rank == Rank.SENT and at >= sent):
                rank, at, key, item = int(Rank.SENT), sent, "", {}
            emails.append(
                (
                    email_id, org, f"big-cand-{cand}", rng.choice(EMAIL_TYPES), recipient,
                    recipient.lower(), rng.choice(SUBJECTS), sent, PROVIDER, target.message_id,
                    None, f"big-{email_id.hex}", sent, rank, at, key, item.get("reason"),
                    item.get("status"), _category(item) if item else None, len(items), opens,
                    machine_opens, first_open, last_open, clicks, first_click, None, None,
                    None, last_event,
                )
            )  # fmt: skip
    return emails, events


async def _secondary_indexes(conn: asyncpg.Connection) -> list[_Index]:
    rows = await conn.fetch("""
        SELECT t.relname AS table, i.indexrelid::regclass::text AS name,
               COALESCE(pg_get_constraintdef(c.oid), pg_get_indexdef(i.indexrelid)) AS definition,
               c.conname IS NOT NULL AS constraint, c.conname
        FROM pg_index AS i
        JOIN pg_class AS t ON t.oid = i.indrelid
        LEFT JOIN pg_constraint AS c ON c.conindid = i.indexrelid AND c.conrelid = t.oid
                                    AND c.contype IN ('u', 'x')
        WHERE t.relname IN ('emails', 'email_events') AND NOT i.indisprimary
        ORDER BY 1, 2
    """)
    return [
        _Index(r["table"], r["conname"] or r["name"], r["definition"], r["constraint"])
        for r in rows
    ]


async def _drop(conn: asyncpg.Connection, indexes: list[_Index]) -> None:
    for ix in indexes:
        if ix.constraint:
            await conn.execute(f'ALTER TABLE {ix.table} DROP CONSTRAINT "{ix.name}"')
        else:
            await conn.execute(f'DROP INDEX "{ix.name}"')


async def _create(conn: asyncpg.Connection, indexes: list[_Index]) -> None:
    await conn.execute("SET maintenance_work_mem = '1GB'")
    for ix in indexes:
        if ix.constraint:
            await conn.execute(f'ALTER TABLE {ix.table} ADD CONSTRAINT "{ix.name}" {ix.definition}')
        else:
            await conn.execute(ix.definition)


async def fill(url: str, *, emails: int, events: int, seed: int) -> dict[str, float]:
    """Add about `emails` emails and `events` events; returns timings in seconds."""
    ratio = events / max(1, emails)
    rng = random.Random(seed)
    serial = iter(range(10**9))
    admin, emails_conn, events_conn = await asyncio.gather(connect(url), connect(url), connect(url))
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    indexes = await _secondary_indexes(admin)
    try:
        if await admin.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            # Rows are consistent by construction; skip the per-row foreign-key trigger.
            await events_conn.execute("SET session_replication_role = replica")
        await _drop(admin, indexes)
        done_emails = done_events = 0

        def chunk() -> asyncio.Task[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
            size = min(CHUNK_EMAILS, emails - done_emails)
            return asyncio.create_task(asyncio.to_thread(_email_rows, rng, size, ratio, serial))

        pending = chunk()
        while done_emails < emails:
            email_rows, event_rows = await pending
            done_emails += len(email_rows)
            done_events += len(event_rows)
            if done_emails < emails:  # generate the next chunk while this one is copied
                pending = chunk()
            await asyncio.gather(
                emails_conn.copy_records_to_table(
                    "emails", records=email_rows, columns=EMAIL_COLUMNS
                ),
                events_conn.copy_records_to_table(
                    "email_events", records=event_rows, columns=EVENT_COLUMNS
                ),
            )
        timings["copy_s"] = time.perf_counter() - t0
    finally:
        t1 = time.perf_counter()
        await _create(admin, indexes)
        timings["index_s"] = time.perf_counter() - t1
        await asyncio.gather(emails_conn.close(), events_conn.close())
    t2 = time.perf_counter()
    await admin.execute("VACUUM (ANALYZE) emails")
    await admin.execute("VACUUM (ANALYZE) email_events")
    timings["vacuum_analyze_s"] = time.perf_counter() - t2
    await admin.close()
    timings["emails"] = done_emails
    timings["events"] = done_events
    return timings
