"""Load clients: one keep-alive HTTP/1.1 connection per concurrent caller, over loopback.

`raw` (the default) is a minimal client on asyncio streams: on this 2-core machine it costs
≈0.03 ms of CPU per request, where httpx.AsyncClient costs ≈0.7 ms (its pool scans every
connection per request, and httpcore retries a missing `sniffio` import on each one). The
client shares the two cores with the service, so its cost would show up as the service's.
`httpx` (--client httpx) is kept to cross-check: one AsyncClient with one connection per caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol
from urllib.parse import urlsplit

import httpx


class HttpClient(Protocol):
    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]: ...

    async def aclose(self) -> None: ...


class RawClient:
    """A keep-alive connection, renewed after `requests_per_connection` requests or
    `max_age` seconds (and after an error or `Connection: close`). Renewing models many senders
    and lets the kernel hand the new connection to whichever worker accepts first: without it,
    connections opened together often all land on one uvicorn worker and stay there."""

    def __init__(
        self, host: str, port: int, requests_per_connection: int = 20, max_age: float = 1.0
    ) -> None:
        self.host, self.port = host, port
        self.requests_per_connection, self.max_age = requests_per_connection, max_age
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0
        self._opened = 0.0

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self._writer is not None and (
            self._used >= self.requests_per_connection
            or time.monotonic() - self._opened > self.max_age
        ):
            await self.aclose()
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            self._used, self._opened = 0, time.monotonic()
        assert self._reader is not None
        self._used += 1
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        lines.append(f"content-length: {len(body)}")
        try:
            self._writer.writelines([("\r\n".join(lines) + "\r\n\r\n").encode(), body])
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            fields = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip()
            if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                payload = await self._chunked()
            else:
                payload = await self._reader.readexactly(int(fields.get(b"content-length", 0)))
        except BaseException:
            await self.aclose()
            raise
        if fields.get(b"connection", b"").lower() == b"close":
            await self.aclose()
        return status, payload

    async def _chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def aclose(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


class HttpxClient:
    def __init__(self, base_url: str) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._client = httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        response = await self._client.request(method, path, headers=headers, content=body)
        return response.status_code, response.content

    async def aclose(self) -> None:
        await self._client.aclose()


class Clients:
    """Makes one client per concurrent caller and closes them all afterwards."""

    def __init__(self, base_url: str, kind: str = "raw", requests_per_connection: int = 20) -> None:
        self.base_url, self.kind = base_url, kind
        self.requests_per_connection = requests_per_connection
        self._made: list[HttpClient] = []

    def new(self) -> HttpClient:
        if self.kind == "httpx":
            client: HttpClient = HttpxClient(self.base_url)
        else:
            parts = urlsplit(self.base_url)
            host, port = parts.hostname or "127.0.0.1", parts.port or 80
            client = RawClient(host, port, self.requests_per_connection)
        self._made.append(client)
        return client

    async def aclose(self) -> None:
        made, self._made = self._made, []
        for client in made:
            await client.aclose()
