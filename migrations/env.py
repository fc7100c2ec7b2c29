"""Alembic environment: async engine, URL from the caller or LANDED_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Base
from app.models import Email  # noqa: F401  (registers the tables)

config = context.config
target_metadata = Base.metadata
# Several workers may start at once: one migrates, the others wait on this lock.
MIGRATION_LOCK_ID = 7_240_011


def _url() -> str:
    url = config.attributes.get("database_url") or os.environ.get("LANDED_DATABASE_URL")
    if not url:
        raise RuntimeError("No database URL: set LANDED_DATABASE_URL or use `landed migrate`.")
    return url


def _run(connection: Connection) -> None:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    try:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
        connection.commit()


async def _run_async() -> None:
    engine = create_async_engine(_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
