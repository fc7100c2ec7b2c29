"""Figures: one line each (median of the runs, min–max, unit, ratio), targets, a JSON file."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Figure:
    name: str
    unit: str
    values: list[float]
    # Paired per run with the same run's floor (or reference): product / floor.
    ratios: list[float] = field(default_factory=list)
    ratio_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return _median(self.values)

    @property
    def ratio(self) -> float | None:
        return _median(self.ratios) if self.ratios else None

    def line(self) -> str:
        lo, hi = (min(self.values), max(self.values)) if self.values else (math.nan, math.nan)
        text = f"{self.name:<34} {_fmt(self.median):>10}  ({_fmt(lo)}–{_fmt(hi)})  {self.unit:<9}"
        if self.ratio is not None:
            text += f"  ×{self.ratio:.2f} of {self.ratio_to}"
        return text


@dataclass(frozen=True)
class Target:
    """A goal from the issue: a figure's median (or ratio) compared with a bound."""

    label: str
    figure: str
    bound: float
    at_most: bool = False  # else at least
    on_ratio: bool = False


TARGETS = (
    Target("batches ≥ 0.6 × floor (c8)", "s1.batch.c8.events_per_s", 0.6, on_ratio=True),
    Target("batches: zero non-2xx (c8)", "s1.batch.c8.non_2xx", 0, at_most=True),
    Target("batches: p99 < 2 s (c8)", "s1.batch.c8.p99_ms", 2000, at_most=True),
    Target("single events ≥ 1.0 × floor (c16)", "s2.single.c16.events_per_s", 1.0, on_ratio=True),
    Target("single events ≥ 1.0 × floor (c64)", "s2.single.c64.events_per_s", 1.0, on_ratio=True),
    Target("history ≥ 0.5 × floor (c8)", "s3.history.c8.qps", 0.5, on_ratio=True),
    Target("history: p99 < 20 ms (c8)", "s3.history.c8.p99_ms", 20, at_most=True),
    Target(
        "history at 2M: p50 ≤ 1.2 × small (c8)", "s4.history.c8.p50_vs_small", 1.2, at_most=True
    ),
    Target("batches at 10M ≥ 0.8 × empty (c8)", "s4.batch.c8.vs_empty", 0.8),
    Target("peak RSS per worker < 200 MB", "s5.rss_peak_mb", 200, at_most=True),
)


class Report:
    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta
        self.figures: dict[str, Figure] = {}
        self.notes: list[str] = []

    def add(self, figure: Figure, *, show: bool = True) -> Figure:
        self.figures[figure.name] = figure
        if show:
            print(figure.line(), flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  · {text}", flush=True)

    def get(self, name: str) -> Figure | None:
        return self.figures.get(name)

    def target_lines(self) -> list[tuple[str, str]]:
        out = []
        for target in TARGETS:
            figure = self.figures.get(target.figure)
            if figure is None:
                continue
            value = figure.ratio if target.on_ratio else figure.median
            if value is None or math.isnan(value):
                continue
            ok = value <= target.bound if target.at_most else value >= target.bound
            out.append((target.label, f"{'met' if ok else 'MISSED':<6} {_fmt(value)}"))
        return out

    def print_summary(self) -> None:
        print("\n== figures (median of runs, min–max, unit, ratio to the same run's floor) ==")
        for figure in self.figures.values():
            print(figure.line())
        lines = self.target_lines()
        if lines:
            print("\n== targets ==")
            for label, verdict in lines:
                print(f"{label:<42} {verdict}")

    def write_json(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "meta": self.meta,
            "figures": {
                name: {**asdict(f), "median": f.median, "ratio": f.ratio}
                for name, f in self.figures.items()
            },
            "targets": dict(self.target_lines()),
            "notes": self.notes,
        }
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"\nwrote {path}")


def _median(values: list[float]) -> float:
    clean = [v for v in values if not math.isnan(v)]
    return statistics.median(clean) if clean else math.nan


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
