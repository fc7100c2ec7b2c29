"""Group commit for webhook requests.

Concurrent requests hand their verified batches to a few flusher tasks; a flusher takes
everything queued (up to a cap) and stores it in one transaction, then answers each request
with its own counts. Nobody is answered before the commit; if the commit fails, every
request of the group fails (503 when the database is down) and the ESPs retry. Under no load
a request is flushed at once; under load, requests that arrive while a flush runs share the
next one, so a commit (and its fsync) is paid per group instead of per request.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import ServiceUnavailable, is_database_down
from app.webhooks.service import IngestResult, Submission, ingest_many

log = logging.getLogger("landed.webhooks")


class IngestCoalescer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        flushers: int = 2,
        max_group_events: int = 5000,
        window_seconds: float = 0.0,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._flushers = flushers
        self._max_events = max_group_events
        self._window = window_seconds
        self._pending: list[tuple[Submission, asyncio.Future[IngestResult]]] = []
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._inflight = 0
        self._closing = False

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._run()) for _ in range(self._flushers)]

    async def stop(self) -> None:
        """Finish what was submitted, then let the flushers end."""
        self._closing = True
        self._ready.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, submission: Submission) -> IngestResult:
        if not self._tasks or self._closing:
            raise ServiceUnavailable("Not accepting webhooks right now; retry later.")
        future: asyncio.Future[IngestResult] = asyncio.get_running_loop().create_future()
        self._pending.append((submission, future))
        self._ready.set()
        return await future

    def _take_group(self) -> list[tuple[Submission, asyncio.Future[IngestResult]]]:
        group, size = [], 0
        while self._pending and (
            not group or size + len(self._pending[0][0].events) <= self._max_events
        ):
            item = self._pending.pop(0)
            group.append(item)
            size += len(item[0].events)
        if not self._pending and not self._closing:
            self._ready.clear()
        return group

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            if self._window and self._inflight:
                await asyncio.sleep(self._window)  # let a busy moment gather a bigger group
            group = self._take_group()
            if not group:
                if self._closing:
                    return
                continue
            self._inflight += 1
            try:
                await self._flush(group)
            finally:
                self._inflight -= 1

    async def _flush(self, group: list[tuple[Submission, asyncio.Future[IngestResult]]]) -> None:
        try:
            async with self._sessionmaker() as session:
                results = await ingest_many(session, [sub for sub, _ in group])
        except asyncio.CancelledError:
            for _, future in group:
                if not future.done():
                    future.set_exception(ServiceUnavailable("Shutting down; retry later."))
            raise
        except Exception as exc:
            if len(group) > 1 and not is_database_down(exc):
                # One request's bad data must not fail the others: store each on its own.
                log.warning(
                    "webhook.group_split",
                    extra={"requests": len(group), "error": type(exc).__name__},
                )
                for item in group:
                    await self._flush([item])
                return
            log.warning(
                "webhook.group_failed", extra={"requests": len(group), "error": type(exc).__name__}
            )
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), result in zip(group, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
