"""Application factory: settings in, a FastAPI app out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app import health
from app.auth import TokenVerifier
from app.body_limit import BodyLimitMiddleware
from app.config import Settings
from app.db import make_engine, make_read_pool, make_sessionmaker
from app.emails.router import router as emails_router
from app.errors import install_error_handlers
from app.history.router import router as history_router
from app.logs import configure_logging
from app.migrations import upgrade_head_async
from app.providers.registry import build_adapters
from app.webhooks.coalescer import IngestCoalescer
from app.webhooks.router import router as webhooks_router

log = logging.getLogger("landed.app")

API_DESCRIPTION = """Did the recruiter's email land? Landed records the emails the platform
sends, takes in signed delivery events from email service providers, and folds them into one
status per email: sent < delayed < soft bounce < delivered < opened < bounced < dropped.

Authentication: `Authorization: Bearer <token>`, either a service token (internal services,
any organisation; pass `org_id` on read routes) or a user's JWT scoped to one organisation.
Webhook routes are authenticated by the provider's own signature instead."""


async def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from app.embedded_pg import start_embedded

    return await asyncio.to_thread(start_embedded, settings.data_dir)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = await resolve_database_url(settings)
        if settings.migrate_on_start:
            await upgrade_head_async(url)
        engine = make_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        app.state.engine = engine
        app.state.sessionmaker = make_sessionmaker(engine)
        app.state.read_sessionmaker = make_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        app.state.read_pool = await make_read_pool(
            engine, size=settings.db_pool_size, acquire_timeout=settings.db_pool_timeout_seconds
        )
        coalescer = IngestCoalescer(
            app.state.sessionmaker,
            flushers=settings.ingest_flushers,
            max_group_events=settings.ingest_max_group_events,
            window_seconds=settings.ingest_window_ms / 1000,
        )
        coalescer.start()
        app.state.coalescer = coalescer
        log.info("app.ready", extra={"providers": sorted(app.state.adapters)})
        try:
            yield
        finally:
            try:
                await coalescer.stop()
                await app.state.read_pool.close()
            finally:
                await engine.dispose()

    app = FastAPI(
        title="Landed",
        version="1.0.0",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.adapters = build_adapters(settings)
    app.state.token_verifier = TokenVerifier(settings.service_token_list, settings.jwt)
    install_error_handlers(app, retry_after=settings.retry_after_seconds)
    # Never below the webhook cap, so that a webhook's 413 is always the route's own.
    body_limit = max(settings.max_request_body_bytes, settings.max_webhook_body_bytes)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit)
    for router in (emails_router, history_router, webhooks_router, health.router):
        app.include_router(router)
    return app
