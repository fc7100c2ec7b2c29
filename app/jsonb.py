"""JSON for PostgreSQL: jsonb refuses the NUL character, so it is replaced wherever it occurs."""

from __future__ import annotations

import uuid
from typing import Any

import orjson


def _default(value: Any) -> str:
    if isinstance(value, uuid.UUID):  # asyncpg's UUID subclass, which orjson does not know
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_without_nul(k): _without_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    return value


def dump_json(value: Any) -> str:
    """JSON text that PostgreSQL can cast to jsonb (UUIDs as strings, NUL replaced)."""
    data = orjson.dumps(value, default=_default)
    if b"\\u0000" in data:
        data = orjson.dumps(_without_nul(value), default=_default)
    return data.decode()
