"""Turn the many timestamp encodings ESPs use into aware UTC datetimes."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Epoch values above this are milliseconds (10^11 s is the year 5138).
_MILLISECONDS_THRESHOLD = 10**11
_MIN = datetime(1970, 1, 1, tzinfo=UTC)
_MAX = datetime(9999, 12, 31, tzinfo=UTC)


class InvalidTimestamp(ValueError):
    pass


def from_epoch(value: object) -> datetime:
    """Seconds, milliseconds (> 10^11) or float seconds since the epoch, as UTC."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InvalidTimestamp(f"not a number: {value[:40]!r}") from None
        else:
            raise InvalidTimestamp(f"expected a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise InvalidTimestamp(f"out of range: {value}")
    if value > _MILLISECONDS_THRESHOLD:
        value = value / 1000
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidTimestamp(f"out of range: {value}") from None


def from_iso(value: object) -> datetime:
    """ISO 8601 with an offset or Z, up to 7 fractional digits (Postmark); naive means UTC."""
    if not isinstance(value, str):
        raise InvalidTimestamp(f"expected a string, got {type(value).__name__}")
    text = value.strip()
    # Python keeps microseconds only: trim longer fractions (Postmark sends 7 digits).
    if "." in text:
        head, _, tail = text.partition(".")
        digits = len(tail) - len(tail.lstrip("0123456789"))
        if digits > 6:
            text = f"{head}.{tail[:6]}{tail[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidTimestamp(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidTimestamp(f"out of range: {value[:40]!r}") from None
    if not _MIN <= parsed <= _MAX:
        raise InvalidTimestamp(f"out of range: {value[:40]!r}")
    return parsed
