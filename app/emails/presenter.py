"""How an email looks to API callers, as plain dicts: the one place that turns stored columns
into status, badge and flags. The pydantic models in schemas.py document (and in tests
validate) these shapes; hot read paths serialise the dicts directly."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from typing import Any, Protocol

import orjson
from fastapi import Response

from app.domain.badges import badge_for
from app.domain.status import STATUS_BY_RANK, Rank


class EmailColumns(Protocol):
    """The stored columns presentation needs (an ORM Email, or a row of SUMMARY_FIELDS)."""

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
# rank → (status, bounce type), looked up per line on hot read paths.
_STATUS_BY_RANK = {
    int(rank): (status.value, _BOUNCE_TYPES.get(rank)) for rank, status in STATUS_BY_RANK.items()
}


@lru_cache(maxsize=4096)
def badge_dict(rank: int, category: str | None, reason: str | None) -> dict[str, str | None]:
    # Shared between responses: callers must not mutate it.
    return asdict(badge_for(rank, category=category, reason=reason))


# The columns a contact-history line is made of, in the order summary_from_row unpacks them.
SUMMARY_FIELDS = (
    "id",
    "type",
    "recipient",
    "subject",
    "sent_at",
    "status_rank",
    "status_at",
    "status_reason",
    "status_category",
    "open_count",
    "first_opened_at",
    "last_opened_at",
    "machine_open_count",
    "click_count",
    "first_clicked_at",
    "complained_at",
    "unsubscribed_at",
    "resubscribed_at",
)
_STATUS_FIELDS = SUMMARY_FIELDS[5:]  # _status_fields' parameters, in order
_FAILURE_RANKS = frozenset(int(r) for r in (Rank.SOFT_BOUNCED, Rank.BOUNCED, Rank.DROPPED))


def _status_fields(
    rank: int,
    status_at: Any,
    reason: str | None,
    category: str | None,
    open_count: int,
    first_opened_at: Any,
    last_opened_at: Any,
    machine_open_count: int,
    click_count: int,
    first_clicked_at: Any,
    complained_at: Any,
    unsubscribed_at: Any,
    resubscribed_at: Any,
) -> dict[str, Any]:
    """Status, badge and flags from the stored columns (positional: this runs per history
    line). Opens and clicks of a bounced or dropped email stay on the timeline only: they
    are almost always scanners, so they are not shown as engagement."""
    status, bounce_type = _STATUS_BY_RANK[rank]
    engaged = rank not in _FAILURE_RANKS
    unsubscribed = unsubscribed_at is not None and (
        resubscribed_at is None or unsubscribed_at > resubscribed_at
    )
    return {
        "status": status,
        "bounce_type": bounce_type,
        "status_at": status_at,
        "badge": badge_dict(rank, category, reason),
        "flags": {
            "opened": engaged and open_count > 0,
            "open_count": open_count if engaged else 0,
            "first_opened_at": first_opened_at if engaged else None,
            "last_opened_at": last_opened_at if engaged else None,
            "machine_open_count": machine_open_count,
            "clicked": engaged and click_count > 0,
            "click_count": click_count if engaged else 0,
            "first_clicked_at": first_clicked_at if engaged else None,
            "complained": complained_at is not None,
            "complained_at": complained_at,
            "unsubscribed": unsubscribed,
            "unsubscribed_at": unsubscribed_at if unsubscribed else None,
        },
    }


def status_dict(email: EmailColumns) -> dict[str, Any]:
    """status, bounce_type, status_at, badge and flags of one email."""
    return _status_fields(*(getattr(email, name) for name in _STATUS_FIELDS))


def summary_from_row(row: Sequence[Any]) -> dict[str, Any]:
    """One line of a contact history from a row of SUMMARY_FIELDS (a tuple or a Record)."""
    email_id, type_, recipient, subject, sent_at, *status = row
    return {
        "id": email_id,
        "type": type_,
        "recipient": recipient,
        "subject": subject,
        "sent_at": sent_at,
        **_status_fields(*status),
    }


def summary_dict(email: EmailColumns) -> dict[str, Any]:
    """One line of a contact history from an email object."""
    return summary_from_row([getattr(email, name) for name in SUMMARY_FIELDS])


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
