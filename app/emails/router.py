"""Internal API: register sent emails, read one email, bulk statuses."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from app.auth import OrgScope, ServiceCaller
from app.db import ReadSessionDep, SessionDep
from app.emails import service
from app.emails.schemas import (
    EmailBatchCreate,
    EmailCreate,
    EmailOut,
    RegisteredBatch,
    RegisteredEmail,
    StatusesRequest,
    StatusesResponse,
)
from app.errors import NotFound, responses
from app.providers.base import parse_uuid

router = APIRouter(prefix="/v1/emails", tags=["emails"])


@router.post(
    "",
    operation_id="emails-register",
    summary="Register one sent email",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredEmail,
    responses={
        200: {
            "model": RegisteredEmail,
            "description": "Already registered (same org_id and external_id)",
        },
        **responses(401, 403, 422, 503),
    },
)
async def register_email(
    body: EmailCreate, session: SessionDep, _: ServiceCaller, response: Response
) -> RegisteredEmail:
    """Record an email the platform sent; idempotent on (org_id, external_id)."""
    (item,) = await service.register(session, [body])
    if not item.created:
        response.status_code = status.HTTP_200_OK
    return item


@router.post(
    "/batch",
    operation_id="emails-register-batch",
    summary="Register up to 10,000 sent emails at once",
    status_code=status.HTTP_201_CREATED,
    response_model=RegisteredBatch,
    responses={
        200: {"model": RegisteredBatch, "description": "All were already registered"},
        **responses(401, 403, 422, 503),
    },
)
async def register_batch(
    body: EmailBatchCreate, session: SessionDep, _: ServiceCaller, response: Response
) -> RegisteredBatch:
    """Register an email blast in one set-based statement."""
    items = await service.register(session, body.emails)
    created = sum(1 for i in items if i.created)
    if created == 0:
        response.status_code = status.HTTP_200_OK
    return RegisteredBatch(created=created, existing=len(items) - created, items=items)


@router.post(
    "/statuses",
    operation_id="emails-statuses",
    summary="Statuses of up to 1,000 emails by id or provider message id",
    response_model=StatusesResponse,
    responses=responses(401, 403, 422, 503),
)
async def bulk_statuses(
    body: StatusesRequest, session: ReadSessionDep, _: ServiceCaller
) -> StatusesResponse:
    """One query for many emails; unknown ids are listed in not_found."""
    return await service.statuses(session, body)


@router.get(
    "/{email_id}",
    operation_id="emails-get",
    summary="One email with its status, badge, flags and event timeline",
    response_model=EmailOut,
    responses=responses(400, 401, 404, 422, 503),
)
async def get_email(
    email_id: Annotated[str, Path(max_length=100)], org_id: OrgScope, session: ReadSessionDep
) -> EmailOut:
    """404 for an id outside the caller's organisation (or not an id at all)."""
    parsed = parse_uuid(email_id)
    if parsed is None:
        raise NotFound("No such email.")
    return await service.get_email(session, parsed, org_id)
