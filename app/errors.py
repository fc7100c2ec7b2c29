"""One JSON error shape for every 4xx/5xx: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.db import READ_CONNECTION_LOST

log = logging.getLogger("landed.errors")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class AppError(Exception):
    status_code = 500
    code = "internal_error"
    message = "Internal error."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details

    def headers(self) -> dict[str, str] | None:
        return None


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "The request is not valid."


class MalformedPayload(BadRequest):
    code = "malformed_payload"
    message = "The webhook body could not be parsed."


class InvalidCursor(BadRequest):
    code = "invalid_cursor"
    message = "The cursor is not valid."


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Missing or invalid credentials."

    def headers(self) -> dict[str, str] | None:
        return {"WWW-Authenticate": "Bearer"}


class SignatureInvalid(AppError):
    status_code = 401
    code = "signature_invalid"
    message = "The webhook signature could not be verified."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "These credentials cannot use this route."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class ProviderNotConfigured(NotFound):
    code = "provider_not_configured"
    message = "This provider is not configured."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "The request body is too large."


class ServiceUnavailable(AppError):
    status_code = 503
    code = "database_unavailable"
    message = "The database is unavailable; retry later."

    def __init__(self, message: str | None = None, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after  # None: the configured LANDED_RETRY_AFTER_SECONDS

    def headers(self) -> dict[str, str] | None:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None


def error_json(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details}}
    return JSONResponse(body, status_code=status, headers=headers)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}

# Errors that mean "the database is not there right now": the caller should retry.
DATABASE_DOWN = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    OSError,
    TimeoutError,
    *READ_CONNECTION_LOST,  # raw asyncpg (the contact-history read pool)
)


# character_not_in_repertoire (NUL), untranslatable_character: a client's bad input.
UNSTORABLE_TEXT = frozenset({"22021", "22P05"})


def _sqlstate(exc: BaseException) -> str | None:
    if isinstance(exc, asyncpg.PostgresError):  # raw asyncpg (the contact-history reads)
        return exc.sqlstate
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(
        getattr(orig, "__cause__", None), "sqlstate", None
    )


# Out of memory or lock slots, too many connections, a statement cancelled (timeout or an
# operator), shutting down or starting up: the same request can succeed later.
UNAVAILABLE_SQLSTATES = frozenset(
    {"53000", "53100", "53200", "53300", "57014", "57P01", "57P02", "57P03"}
)


def is_database_down(exc: BaseException) -> bool:
    if isinstance(exc, DATABASE_DOWN) or _sqlstate(exc) in UNAVAILABLE_SQLSTATES:
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def install_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        headers = exc.headers()
        if isinstance(exc, ServiceUnavailable) and headers is None:
            headers = {"Retry-After": str(retry_after)}
        return error_json(exc.status_code, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        details = getattr(exc, "details", None)
        return error_json(exc.status_code, code, str(exc.detail), details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in exc.errors()
        ]
        return error_json(422, "validation_error", "The request is not valid.", details)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if _sqlstate(exc) in UNSTORABLE_TEXT:
            return error_json(
                400, "invalid_characters", "The request contains characters that cannot be stored."
            )
        if is_database_down(exc):
            log.warning(
                "database.unavailable",
                extra={"path": request.url.path, "error": type(exc).__name__},
            )
            return error_json(
                503,
                ServiceUnavailable.code,
                ServiceUnavailable.message,
                None,
                {"Retry-After": str(retry_after)},
            )
        log.error("database.error", exc_info=exc, extra={"path": request.url.path})
        return error_json(500, "internal_error", "Internal error.")

    # Handlers for specific classes run inside ExceptionMiddleware, so the JSON answer is
    # final; only truly unexpected errors reach Starlette's catch-all (a 500).
    for exc_class in (*DATABASE_DOWN, DBAPIError, asyncpg.PostgresError):
        app.add_exception_handler(exc_class, _database)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", extra={"path": request.url.path})
        return error_json(500, "internal_error", "Internal error.")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": desc}
    for code, desc in {
        400: "Malformed input",
        401: "Missing or invalid credentials",
        403: "Forbidden",
        404: "Not found (including ids of other organisations)",
        413: "Body too large",
        422: "Validation error",
        503: "Database unavailable; retry",
    }.items()
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {c: ERROR_RESPONSES[c] for c in codes}
