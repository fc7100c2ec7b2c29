from datetime import UTC, datetime

import pytest

from app.domain.timestamps import InvalidTimestamp, from_epoch, from_iso


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_764_000_000, datetime(2025, 11, 24, 16, 0, tzinfo=UTC)),
        (1_764_000_000_250, datetime(2025, 11, 24, 16, 0, 0, 250000, tzinfo=UTC)),
        (1_764_000_000.75, datetime(2025, 11, 24, 16, 0, 0, 750000, tzinfo=UTC)),
        ("1764000000", datetime(2025, 11, 24, 16, 0, tzinfo=UTC)),
        (100_000_000_000, datetime(5138, 11, 16, 9, 46, 40, tzinfo=UTC)),  # 10^11: seconds
        (100_000_000_001, datetime(1973, 3, 3, 9, 46, 40, 1000, tzinfo=UTC)),  # above: ms
    ],
)
def test_from_epoch(value, expected):
    assert from_epoch(value) == expected


@pytest.mark.parametrize("value", [None, True, "soon", -1, float("nan"), float("inf"), 1e300, []])
def test_from_epoch_rejects(value):
    with pytest.raises(InvalidTimestamp):
        from_epoch(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "2016-04-27T16:28:50.3963933-04:00",
            datetime(2016, 4, 27, 20, 28, 50, 396393, tzinfo=UTC),
        ),
        ("2025-11-24T16:00:00Z", datetime(2025, 11, 24, 16, 0, tzinfo=UTC)),
        ("2025-11-24T16:00:00.123Z", datetime(2025, 11, 24, 16, 0, 0, 123000, tzinfo=UTC)),
        ("2025-11-24 16:00:00", datetime(2025, 11, 24, 16, 0, tzinfo=UTC)),
        ("2025-11-24T18:00:00+02:00", datetime(2025, 11, 24, 16, 0, tzinfo=UTC)),
    ],
)
def test_from_iso(value, expected):
    assert from_iso(value) == expected


@pytest.mark.parametrize("value", ["yesterday", "", 1764000000, None, "2025-13-01T00:00:00Z"])
def test_from_iso_rejects(value):
    with pytest.raises(InvalidTimestamp):
        from_iso(value)
