"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.errors import error_json, is_database_down, responses
from app.migrations import head_revision

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    migration: str | None = None


@router.get(
    "/healthz", operation_id="health-live", summary="The process is up", response_model=Health
)
async def healthz() -> Health:
    """Liveness: answers while the process runs, whatever the database does."""
    return Health(status="ok")


@router.get(
    "/readyz",
    operation_id="health-ready",
    summary="Database reachable and migrated",
    response_model=Health,
    responses=responses(503),
)
async def readyz(request: Request) -> Health | JSONResponse:
    """Readiness: the database answers and its schema is at the latest migration."""
    head = head_revision()
    try:
        async with request.app.state.engine.connect() as conn:
            current = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception as exc:
        if not is_database_down(exc):
            current = None
        else:
            retry_after = str(request.app.state.settings.retry_after_seconds)
            return error_json(
                503,
                "database_unavailable",
                "The database is unavailable.",
                None,
                {"Retry-After": retry_after},
            )
    if current != head:
        return error_json(
            503,
            "migrations_pending",
            "The database schema is not at head.",
            {"current": current, "head": head},
        )
    return Health(status="ready", migration=current)
