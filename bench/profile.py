"""Optional py-spy profiles of the uvicorn workers during a measured run (--profile)."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

# Self time is grouped by the top-level package of the frame's file (py-spy prints paths
# relative to sys.path: "sqlalchemy/orm/session.py", "app/resolution.py", "threading.py").
GROUPS = {
    "app": "app",
    "sqlalchemy": "sqlalchemy",
    "asyncpg": "asyncpg",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "fastapi": "fastapi+starlette",
    "starlette": "fastapi+starlette",
    "uvicorn": "uvicorn",
    "cryptography": "cryptography",
    "asyncio": "asyncio/uvloop loop",
    "json": "json",
    "logging": "logging",
}
# Threads that py-spy samples while they sleep (thread pool, uvicorn's parent pipe).
IDLE_LEAVES = ("Condition.wait", "Connection._recv", "Connection.poll", "_worker", "Event.wait")
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


async def record(pids: list[int], seconds: float, out_dir: Path, name: str) -> list[Path]:
    """Sample each pid at 100 Hz; collapsed stacks to out_dir/profile-<name>-<pid>.txt."""
    exe = py_spy()
    if exe is None:
        print("  · py-spy not found: `pip install py-spy` into the venv to profile", flush=True)
        return []
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    paths = [out_dir / f"profile-{name}-{pid}.txt" for pid in pids]
    procs = []
    for pid, path in zip(pids, paths, strict=True):
        args = ["record", "--pid", str(pid), "--rate", "100", "--format", "raw"]
        args += ["--duration", str(max(1, round(seconds))), "--output", str(path)]
        procs.append(
            await asyncio.create_subprocess_exec(
                exe, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
            )
        )
    await asyncio.gather(*(p.wait() for p in procs))
    return [p for p in paths if p.exists()]


def _frame_parts(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    return (match["func"], match["file"]) if match else (frame, "")


def _group(file: str) -> str:
    head = file.split("/", 1)[0]
    return GROUPS.get(head.removesuffix(".py"), "other" if "/" in file else f"stdlib {head}")


def summarize(paths: list[Path], top: int = 15) -> str:
    """Top frames by self and by inclusive samples, and self samples by package. Samples of
    sleeping helper threads are left out; the event loop's own C code shows as Runner.run."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = stack.split(";")
            leaf_func, leaf_file = _frame_parts(frames[-1])
            if leaf_func in IDLE_LEAVES:
                continue
            n = int(count)
            total += n
            self_counts[f"{leaf_func} ({leaf_file})"] += n
            packages[_group(leaf_file)] += n
            for label in {f"{fn} ({fl})" for fn, fl in map(_frame_parts, frames)}:
                incl_counts[label] += n
    if not total:
        return "no samples"
    lines = [f"{total} samples (sleeping helper threads left out)", "self time by package:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in packages.most_common()]
    lines.append("top frames, self:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_counts.most_common(top)]
    lines.append("top frames, inclusive (below the event loop):")
    skip = (
        "<module>",
        "spawn_main",
        "_main",
        "BaseProcess",
        "subprocess_started",
        "Process.target",
    )
    skip += ("Server.run", "asyncio_run", "Runner.run", "Thread.", "ProxyHeadersMiddleware")
    inclusive = [(k, n) for k, n in incl_counts.most_common() if not k.startswith(skip)]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive[: top + 10]]
    return "\n".join(lines)
