"""The contact-history query: one index range scan, newest first, keyset pagination."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Row, exists, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Email

# What a contact-history line needs; rows, not ORM objects (no identity map on a hot path).
SUMMARY_COLUMNS = (
    Email.id,
    Email.type,
    Email.recipient,
    Email.subject,
    Email.sent_at,
    Email.status_rank,
    Email.status_at,
    Email.status_reason,
    Email.status_category,
    Email.open_count,
    Email.first_opened_at,
    Email.last_opened_at,
    Email.machine_open_count,
    Email.click_count,
    Email.first_clicked_at,
    Email.complained_at,
    Email.unsubscribed_at,
    Email.resubscribed_at,
)


async def page(
    session: AsyncSession,
    *,
    org_id: str,
    candidate_id: str,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
    email_type: str | None,
    ranks: tuple[int, ...] | None,
) -> list[Row[Any]]:
    query = select(*SUMMARY_COLUMNS).where(
        Email.org_id == org_id, Email.candidate_id == candidate_id
    )
    if after is not None:
        query = query.where(tuple_(Email.sent_at, Email.id) < tuple_(*after))
    if email_type is not None:
        query = query.where(Email.type == email_type)
    if ranks is not None:
        query = query.where(Email.status_rank.in_(ranks))
    query = query.order_by(Email.sent_at.desc(), Email.id.desc()).limit(limit)
    return list(await session.execute(query))


async def candidate_exists(session: AsyncSession, *, org_id: str, candidate_id: str) -> bool:
    query = select(exists().where(Email.org_id == org_id, Email.candidate_id == candidate_id))
    return bool(await session.scalar(query))
