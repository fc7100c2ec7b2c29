"""POST /v1/webhooks/{provider}: raw bytes → verify → parse → ingest → counts."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from app.errors import PayloadTooLarge, ProviderNotConfigured, SignatureInvalid, responses
from app.providers.base import InboundRequest, WebhookAdapter
from app.providers.registry import PROVIDER_NAMES
from app.webhooks.service import Submission

log = logging.getLogger("landed.webhooks")
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

ProviderPath = Annotated[
    str, Path(description=f"The ESP: one of {', '.join(PROVIDER_NAMES)}.", max_length=40)
]


class IngestResponse(BaseModel):
    received: int
    stored: int
    duplicates: int
    unmatched: int
    quarantined: int


def _adapter(request: Request, provider: str) -> WebhookAdapter:
    adapter = request.app.state.adapters.get(provider)
    if adapter is None:
        raise ProviderNotConfigured()
    return adapter


async def read_body_capped(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it passes the limit (never read whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(details={"limit_bytes": limit})
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(details={"limit_bytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{provider}",
    operation_id="webhooks-receive",
    summary="Receive a signed batch of delivery events from an ESP",
    response_model=IngestResponse,
    responses=responses(400, 401, 404, 413, 503),
)
async def receive(provider: ProviderPath, request: Request) -> IngestResponse:
    """Verify the signature over the raw body, store new events, answer after the commit."""
    adapter = _adapter(request, provider)
    raw = await read_body_capped(request, request.app.state.settings.max_webhook_body_bytes)
    inbound = InboundRequest(
        raw=raw,
        headers=request.headers,
        client_ip=request.client.host if request.client else None,
        url=str(request.url),
    )
    try:
        verified = await adapter.verify(inbound)
    except SignatureInvalid as exc:
        log.warning("webhook.signature_invalid", extra={"provider": provider, "why": exc.message})
        raise
    if await adapter.handle_control(inbound):
        return IngestResponse(received=0, stored=0, duplicates=0, unmatched=0, quarantined=0)
    submission = Submission(provider, adapter.parse(inbound), nonce=verified.nonce, raw=raw)
    result = await request.app.state.coalescer.submit(submission)
    return IngestResponse(**asdict(result))


@router.head(
    "/{provider}",
    operation_id="webhooks-probe",
    summary="Answer an ESP's reachability probe",
    responses=responses(404),
)
async def probe(provider: ProviderPath, request: Request) -> Response:
    """200 for a configured provider (ESPs probe the URL when it is saved)."""
    _adapter(request, provider)
    return Response(status_code=200)
