"""Pre-encoded traffic: the same events as signed HTTP bodies and as the floor's SQL arrays.

A pool is built once (the body, and the arrays the product's own SendGrid adapter parses out
of it), then replayed in passes. Each pass gets a fresh marker inside every `sg_event_id`, so
replays are new events to the service and to the floor alike.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from app.config import Settings
from app.providers.base import InboundRequest
from app.providers.sendgrid import SendGridAdapter
from bench.events import MARKER, METADATA_KEY, marker_for, sendgrid_body
from bench.floor import DEDUPE_ARG, RAW_ARG, floor_args


@dataclass(frozen=True, slots=True)
class Item:
    body: bytes  # carries MARKER; see Pool.take
    args: tuple[list[Any], ...]  # the floor's arrays, same events, same marker
    events: int


def parser(verification_key: str) -> SendGridAdapter:
    settings = Settings(
        database_url="postgresql+asyncpg://unused/unused",
        metadata_key=METADATA_KEY,
        providers={"sendgrid": {"verification_key": SecretStr(verification_key)}},
    )
    adapter = SendGridAdapter.from_settings(settings)
    assert adapter is not None
    return adapter


class Pool:
    """Items replayed in passes; pass numbers are never reused within one benchmark run."""

    _passes = itertools.count(1)  # shared by all pools: markers stay unique per run

    def __init__(self, items: list[Item]) -> None:
        if not items:
            raise ValueError("empty pool")
        self.items = items
        self.events_per_pass = sum(i.events for i in items)

    @classmethod
    def build(cls, batches: Iterable[list[dict[str, Any]]], adapter: SendGridAdapter) -> Pool:
        items = []
        for events in batches:
            body = sendgrid_body(events)
            parsed = adapter.parse(InboundRequest(raw=body, headers={}))
            assert not parsed.rejects
            assert len(parsed.events) == len(events)
            items.append(Item(body=body, args=floor_args(parsed.events), events=len(events)))
        return cls(items)

    def cursor(self) -> Cursor:
        return Cursor(self)


class Cursor:
    """Hands out item i of an endless sequence of fresh passes (request i → item i % n)."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._markers: dict[int, str] = {}

    def _marker(self, i: int) -> tuple[Item, str]:
        n = len(self._pool.items)
        rnd = i // n
        marker = self._markers.get(rnd)
        if marker is None:
            marker = self._markers[rnd] = marker_for(next(Pool._passes))
        return self._pool.items[i % n], marker

    def body(self, i: int) -> tuple[bytes, int]:
        item, marker = self._marker(i)
        return item.body.replace(MARKER.encode(), marker.encode()), item.events

    def args(self, i: int) -> tuple[tuple[Any, ...], int]:
        item, marker = self._marker(i)
        args = list(item.args)
        args[DEDUPE_ARG] = [k.replace(MARKER, marker, 1) for k in args[DEDUPE_ARG]]
        args[RAW_ARG] = [r.replace(MARKER, marker, 1) for r in args[RAW_ARG]]
        return tuple(args), item.events
