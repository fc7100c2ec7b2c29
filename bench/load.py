"""A bounded load driver: N concurrent callers, a deadline and a request cap, latencies."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# A call returns (HTTP-like status, units done): events ingested or queries answered.
Call = Callable[[int], Awaitable[tuple[int, int]]]
# Makes the call of one concurrent caller (which may own a connection).
CallFactory = Callable[[], Call]


@dataclass
class Load:
    """What to run: a call per concurrent caller, and how to close their connections after."""

    make: CallFactory
    close: Callable[[], Awaitable[None]] | None = None


@dataclass
class LoadResult:
    concurrency: int
    requests: int = 0
    units: int = 0
    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, successful calls only
    statuses: Counter[str] = field(default_factory=Counter)

    @property
    def rate(self) -> float:
        return self.units / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def failures(self) -> int:
        return sum(n for s, n in self.statuses.items() if not s.startswith("2"))

    def percentile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0] * 1000
        cuts = statistics.quantiles(self.latencies, n=1000, method="inclusive")
        return cuts[min(len(cuts) - 1, max(0, round(q * 1000) - 1))] * 1000


async def drive(load: Load, *, concurrency: int, duration: float, max_requests: int) -> LoadResult:
    """Run `call(i)` for i = 0, 1, ... from `concurrency` callers until the deadline or the cap.

    No new call starts after the deadline; calls in flight finish and count. The rate is units
    over the time from the start to the last completion. Exceptions count as failures, by type.
    """
    result = LoadResult(concurrency=concurrency)
    counter = itertools.count()
    start = time.perf_counter()
    deadline = start + duration
    last_done = start

    async def worker(call: Call) -> None:
        nonlocal last_done
        while time.perf_counter() < deadline:
            i = next(counter)
            if i >= max_requests:
                return
            t0 = time.perf_counter()
            try:
                status, units = await call(i)
            except Exception as exc:  # counted and shown, never hidden
                status, units = 0, 0
                result.statuses[f"error:{type(exc).__name__}"] += 1
            else:
                result.statuses[str(status)] += 1
            t1 = time.perf_counter()
            last_done = max(last_done, t1)
            result.requests += 1
            if 200 <= status < 300:
                result.units += units
                result.latencies.append(t1 - t0)

    try:
        await asyncio.gather(*(worker(load.make()) for _ in range(concurrency)))
    finally:
        if load.close is not None:
            await load.close()
    result.elapsed = last_done - start
    return result
