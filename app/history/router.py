"""SPA API: a candidate's contact history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from app.auth import NO_NUL, OrgScope
from app.db import ReadPoolDep
from app.domain.status import Status
from app.emails.presenter import json_response
from app.emails.schemas import EmailType
from app.errors import responses
from app.history import service
from app.history.schemas import ContactHistoryPage

router = APIRouter(prefix="/v1/candidates", tags=["history"])


@router.get(
    "/{candidate_id}/contact-history",
    operation_id="history-contact-history",
    summary="A candidate's emails, newest first, with a status badge each",
    response_model=ContactHistoryPage,
    responses=responses(400, 401, 404, 422, 503),
)
async def contact_history(
    candidate_id: Annotated[str, Path(max_length=200, pattern=NO_NUL)],
    org_id: OrgScope,
    pool: ReadPoolDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    type: Annotated[EmailType | None, Query(description="Only this email type.")] = None,
    status: Annotated[Status | None, Query(description="Only this status.")] = None,
) -> Response:
    """Keyset-paginated; another organisation's candidate is 404."""
    page = await service.contact_history(
        pool,
        org_id=org_id,
        candidate_id=candidate_id,
        limit=limit,
        cursor=cursor,
        email_type=type,
        status=status,
    )
    return json_response(page)
