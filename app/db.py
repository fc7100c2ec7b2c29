"""Metadata with a naming convention, and the async engine and session factories."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import asyncpg
from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def make_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 10, pool_timeout: float = 5.0
) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=pool_timeout,
        # No pre-ping: it costs a round trip per checkout. A connection that died is
        # invalidated on its first error (the request gets 503 and the ESP retries).
        pool_pre_ping=False,
        connect_args={"timeout": 5, "command_timeout": 60},
    )


READ_POOL_APPLICATION_NAME = "landed-read"
# What a pooled asyncpg connection raises once the server has dropped it (asyncpg may notice
# only on the next use, and then in a confused protocol state: InternalClientError). Not
# query cancellations or bad arguments: those are not repeated.
READ_CONNECTION_LOST = (
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.ConnectionFailureError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.InternalClientError,
    ConnectionError,
)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ReadPool:
    """A plain asyncpg pool for the hottest read (contact history): SQLAlchemy's session,
    pool and result layers cost more than the query itself there (profiled)."""

    pool: asyncpg.Pool
    acquire_timeout: float

    async def run(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        """work(connection), once more on a new connection if the first one turns out to be
        dead (the server restarted or dropped it while it sat in the pool). A read is safe
        to repeat; a second failure propagates (503)."""
        for attempt in (1, 2):
            async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
                try:
                    return await work(connection)
                except READ_CONNECTION_LOST:
                    # A lost connection mostly means the server restarted or dropped its
                    # clients: every idle one is suspect, so all are replaced on next use.
                    await self.pool.expire_connections()
                    with contextlib.suppress(asyncpg.InterfaceError):  # already detached
                        connection.terminate()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    async def close(self, grace_seconds: float = 10.0) -> None:
        """Wait for reads under way, then drop what is left."""
        try:
            await asyncio.wait_for(self.pool.close(), grace_seconds)
        except TimeoutError:
            self.pool.terminate()


async def make_read_pool(engine: AsyncEngine, *, size: int, acquire_timeout: float) -> ReadPool:
    """Lazy (no connection until the first read), so the service starts while the database
    is down; a connection that broke is replaced by the pool on release. Connects exactly as
    the engine does (host, credentials, ssl and the other URL options)."""
    _, connect_args = engine.dialect.create_connect_args(engine.url)
    for sqlalchemy_only in ("prepared_statement_cache_size", "prepared_statement_name_func"):
        connect_args.pop(sqlalchemy_only, None)
    server_settings = {
        **connect_args.pop("server_settings", {}),
        "application_name": READ_POOL_APPLICATION_NAME,
    }
    options = {"timeout": 5, "command_timeout": 60, **connect_args}
    pool = await asyncpg.create_pool(
        min_size=0,
        max_size=size,
        reset=_keep_session,
        server_settings=server_settings,
        **options,
    )
    return ReadPool(pool, acquire_timeout)


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset query on release (a round trip per read, profiled): these
    connections only run plain SELECTs, which leave no session state behind. An open
    transaction is still rolled back by asyncpg before this is called."""


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session per request. Services commit before returning; this only closes it."""
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """For read-only routes: autocommit, so a read is one round trip (no BEGIN/ROLLBACK)."""
    async with request.app.state.read_sessionmaker() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]


async def get_read_pool(request: Request) -> ReadPool:
    return request.app.state.read_pool


ReadPoolDep = Annotated[ReadPool, Depends(get_read_pool)]

# Deadlocks and serialization failures: the whole transaction may simply be run again.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})


def is_retryable(exc: BaseException) -> bool:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES or (
        getattr(getattr(orig, "__cause__", None), "sqlstate", None) in RETRYABLE_SQLSTATES
    )
