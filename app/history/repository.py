"""The contact-history query: one index range scan, newest first, keyset pagination."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

import asyncpg

from app.emails.presenter import SUMMARY_FIELDS

# What a contact-history line needs, in the presenter's order; the id as text, which orjson
# writes natively (asyncpg's own UUID type would cost a Python callback per line).
_SELECT_LIST = ", ".join("id::text AS id" if name == "id" else name for name in SUMMARY_FIELDS)
ID, SENT_AT = SUMMARY_FIELDS.index("id"), SUMMARY_FIELDS.index("sent_at")

CANDIDATE_EXISTS_SQL = (
    "SELECT EXISTS (SELECT 1 FROM emails WHERE org_id = $1 AND candidate_id = $2)"
)


@lru_cache(maxsize=8)
def _page_sql(keyset: bool, by_type: bool, by_status: bool) -> str:
    """One of eight fixed statements (built once), each a prepared statement with its own
    plan, so the keyset bound is an index range start. Parameters: $1 org, $2 candidate,
    $3 limit, then the optional ones in this order."""
    where = ["org_id = $1", "candidate_id = $2"]
    params = iter(range(4, 8))
    if keyset:
        a, b = next(params), next(params)
        where.append(f"(sent_at, id) < (${a}::timestamptz, ${b}::uuid)")
    if by_type:
        where.append(f"type = ${next(params)}")
    if by_status:
        where.append(f"status_rank = ANY(${next(params)}::smallint[])")
    return (
        f"SELECT {_SELECT_LIST} FROM emails WHERE {' AND '.join(where)} "
        # Qualified: a bare `id` would sort by the text alias above, not the index order.
        "ORDER BY emails.sent_at DESC, emails.id DESC LIMIT $3"
    )


async def page(
    connection: asyncpg.Connection,
    *,
    org_id: str,
    candidate_id: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    email_type: str | None,
    ranks: tuple[int, ...] | None,
) -> list[Sequence[Any]]:
    """Rows in SUMMARY_FIELDS order (asyncpg records: tuples, cheap to unpack)."""
    statement = _page_sql(after is not None, email_type is not None, ranks is not None)
    args: list[Any] = [org_id, candidate_id, limit]
    if after is not None:
        args.extend(after)
    if email_type is not None:
        args.append(email_type)
    if ranks is not None:
        args.append(list(ranks))
    return await connection.fetch(statement, *args)


async def candidate_exists(
    connection: asyncpg.Connection, *, org_id: str, candidate_id: str
) -> bool:
    return bool(await connection.fetchval(CANDIDATE_EXISTS_SQL, org_id, candidate_id))
