"""A candidate's contact history in one organisation: every email, newest first."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from app.db import ReadPool
from app.domain.status import RANKS_BY_STATUS, Status
from app.emails.presenter import summary_from_row
from app.errors import InvalidCursor, NotFound
from app.history import repository
from app.history.repository import ID, SENT_AT


def encode_cursor(sent_at: datetime, email_id: str | uuid.UUID) -> str:
    payload = orjson.dumps([sent_at.isoformat(), str(email_id)])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sent_at, email_id = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(sent_at, str) or not isinstance(email_id, str):
            raise ValueError("not strings")
        parsed = datetime.fromisoformat(sent_at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed.astimezone(UTC), uuid.UUID(email_id)
    except (binascii.Error, ValueError, TypeError, OverflowError, orjson.JSONDecodeError):
        raise InvalidCursor() from None


async def contact_history(
    pool: ReadPool,
    *,
    org_id: str,
    candidate_id: str,
    limit: int,
    cursor: str | None,
    email_type: str | None,
    status: Status | None,
) -> dict[str, Any]:
    """The page as plain data (see app.emails.presenter); shaped as ContactHistoryPage."""
    after = decode_cursor(cursor) if cursor else None
    ranks = RANKS_BY_STATUS[status] if status else None

    async def read(connection: asyncpg.Connection) -> list[Sequence[Any]]:
        rows = await repository.page(
            connection,
            org_id=org_id,
            candidate_id=candidate_id,
            limit=limit + 1,
            after=after,
            email_type=email_type,
            ranks=ranks,
        )
        if (
            not rows
            and after is None
            and not await repository.candidate_exists(
                connection, org_id=org_id, candidate_id=candidate_id
            )
        ):
            # Unknown here, or another organisation's candidate: the same answer either way.
            raise NotFound("No such candidate.")
        return rows

    rows = await pool.run(read)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1][SENT_AT], rows[-1][ID]) if more else None
    return {"items": [summary_from_row(r) for r in rows], "next_cursor": next_cursor}
