"""A cap on every request body, checked before any route reads it (pure ASGI)."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_json

TOO_LARGE = "The request body is too large."


class BodyTooLarge(HTTPException):
    """Raised from receive(): FastAPI lets HTTPException through its body parsing (anything
    else would become a 400), and the app's handler writes it in the one error shape."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, TOO_LARGE)
        self.details = {"limit_bytes": limit}


class BodyLimitMiddleware:
    """413 for a declared Content-Length over the limit, without reading the body; a body
    that streams past it (chunked, or lying about its length) is cut off with 413 too.
    Without this, a JSON route reads a body whole before authentication runs."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                details = {"limit_bytes": self.limit}
                response = error_json(413, "payload_too_large", TOO_LARGE, details)
                await response(scope, receive, send)
                return
        seen = 0

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, capped_receive, send)
