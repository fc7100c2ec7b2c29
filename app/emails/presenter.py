"""How an email looks to API callers, as plain dicts: the one place that turns stored columns
into status, badge and flags. The pydantic models in schemas.py document (and in tests
validate) these shapes; hot read paths serialise the dicts directly."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from functools import lru_cache
from typing import Any, Protocol

import orjson
from fastapi import Response

from app.domain.badges import badge_for
from app.domain.status import STATUS_BY_RANK, Rank, is_failure


class EmailColumns(Protocol):
    """The stored columns presentation needs (an ORM Email or a Row of SUMMARY_COLUMNS)."""

    id: Any
    type: str
    recipient: str
    subject: str
    sent_at: Any
    status_rank: int
    status_at: Any
    status_reason: str | None
    status_category: str | None
    open_count: int
    first_opened_at: Any
    last_opened_at: Any
    machine_open_count: int
    click_count: int
    first_clicked_at: Any
    complained_at: Any
    unsubscribed_at: Any
    resubscribed_at: Any


_BOUNCE_TYPES = {Rank.SOFT_BOUNCED: "soft", Rank.BOUNCED: "hard"}


@lru_cache(maxsize=4096)
def badge_dict(rank: int, category: str | None, reason: str | None) -> dict[str, str | None]:
    # Shared between responses: callers must not mutate it.
    return asdict(badge_for(rank, category=category, reason=reason))


def flags_dict(email: EmailColumns) -> dict[str, Any]:
    """Opens and clicks of a bounced or dropped email stay on the timeline only: they are
    almost always scanners, so they are not shown as engagement."""
    engaged = not is_failure(email.status_rank)
    unsubscribed = email.unsubscribed_at is not None and (
        email.resubscribed_at is None or email.unsubscribed_at > email.resubscribed_at
    )
    return {
        "opened": engaged and email.open_count > 0,
        "open_count": email.open_count if engaged else 0,
        "first_opened_at": email.first_opened_at if engaged else None,
        "last_opened_at": email.last_opened_at if engaged else None,
        "machine_open_count": email.machine_open_count,
        "clicked": engaged and email.click_count > 0,
        "click_count": email.click_count if engaged else 0,
        "first_clicked_at": email.first_clicked_at if engaged else None,
        "complained": email.complained_at is not None,
        "complained_at": email.complained_at,
        "unsubscribed": unsubscribed,
        "unsubscribed_at": email.unsubscribed_at if unsubscribed else None,
    }


def status_dict(email: EmailColumns) -> dict[str, Any]:
    rank = Rank(email.status_rank)
    return {
        "status": STATUS_BY_RANK[rank].value,
        "bounce_type": _BOUNCE_TYPES.get(rank),
        "status_at": email.status_at,
        "badge": badge_dict(email.status_rank, email.status_category, email.status_reason),
        "flags": flags_dict(email),
    }


def summary_dict(email: EmailColumns) -> dict[str, Any]:
    """One line of a contact history."""
    return {
        "id": email.id,
        "type": email.type,
        "recipient": email.recipient,
        "subject": email.subject,
        "sent_at": email.sent_at,
        **status_dict(email),
    }


def _default(value: Any) -> str:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID subclass, which orjson skips
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def json_response(data: Any, status_code: int = 200) -> Response:
    """orjson straight to bytes; UTC datetimes end in Z like pydantic's."""
    return Response(
        orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z),
        status_code=status_code,
        media_type="application/json",
    )
