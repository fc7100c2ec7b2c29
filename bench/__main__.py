"""`python -m bench`: start Landed as in production, drive it over loopback, compare with the floor.

See bench/README.md. Figures print as they come; a summary, the targets and a JSON file follow.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench import db
from bench.report import Report
from bench.scenarios import Bench, Options, prepare, run_all
from bench.service import ROOT, Credentials, Service

RESULTS = Path(__file__).resolve().parent / "results"
RECOMMENDED_WORKERS = 2  # see README: measured 1 vs 2 vs 3 on a 2-core machine


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="short runs, 1 run, small tables")
    p.add_argument("--scenarios", default="1,2,3,4,5", help="comma list of 1..5 (default all)")
    p.add_argument("--runs", type=int, help="measured runs per figure (default 3; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per measured run (default 15; quick 3)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds first (default 3; quick 1)")
    p.add_argument(
        "--workers",
        default=str(RECOMMENDED_WORKERS),
        help=f"uvicorn workers (default {RECOMMENDED_WORKERS}); a comma list (1,2,3) sweeps "
        "them, figures prefixed wN. (not with scenario 4)",
    )
    p.add_argument(
        "--database-url",
        help="server to create the bench database on (else LANDED_DATABASE_URL, "
        "else an embedded PostgreSQL in a temp dir)",
    )
    p.add_argument("--json", type=Path, default=RESULTS / "latest.json", help="results file")
    p.add_argument("--blast-emails", type=int, help="emails the events are about (40,000)")
    p.add_argument("--history-candidates", type=int, help="candidates with 50 emails (2,000)")
    p.add_argument("--big-emails", type=int, help="scenario 4 emails (2,000,000; quick 50,000)")
    p.add_argument("--big-events", type=int, help="scenario 4 events (10,000,000; quick 250,000)")
    p.add_argument(
        "--client", choices=("raw", "httpx"), default="raw", help="load client (see bench/http.py)"
    )
    p.add_argument(
        "--requests-per-connection",
        type=int,
        default=20,
        help="raw client: renew each keep-alive connection after this many requests (20) or 1 s",
    )
    p.add_argument("--profile", action="store_true", help="py-spy the workers (extra runs)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="LANDED_NAME=VALUE",
        help="a setting for the service under test (repeatable), e.g. LANDED_INGEST_FLUSHERS=4",
    )
    p.add_argument("--seed", type=int, default=20_261_203)
    return p


def options(args: argparse.Namespace) -> Options:
    quick = args.quick

    def pick(value: float | None, full: float, small: float) -> float:
        return value if value is not None else (small if quick else full)

    scenarios = frozenset(int(s) for s in args.scenarios.split(",") if s.strip())
    if not scenarios <= {1, 2, 3, 4, 5}:
        raise SystemExit("--scenarios takes numbers 1 to 5")
    return Options(
        scenarios=scenarios,
        runs=int(pick(args.runs, 3, 1)),
        duration=pick(args.duration, 15, 3),
        warmup=pick(args.warmup, 3, 1),
        blast_emails=int(pick(args.blast_emails, 40_000, 4_000)),
        history_candidates=int(pick(args.history_candidates, 2_000, 100)),
        emails_per_candidate=50,
        big_emails=int(pick(args.big_emails, 2_000_000, 50_000)),
        big_events=int(pick(args.big_events, 10_000_000, 250_000)),
        single_pool=30_000 if not quick else 5_000,
        client=args.client,
        requests_per_connection=args.requests_per_connection,
        profile=args.profile,
        results_dir=args.json.parent,
        seed=args.seed,
    )


@contextlib.contextmanager
def server_url(flag: str | None) -> Iterator[tuple[str, str]]:
    url = flag or os.environ.get("LANDED_DATABASE_URL")
    if url:
        yield url, "given"
        return
    with db.embedded_server() as embedded:
        yield embedded, "embedded"


def service_settings(pairs: list[str]) -> dict[str, str]:
    settings = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    if len(settings) != len(pairs) or not all(k.startswith("LANDED_") for k in settings):
        raise SystemExit("--set takes LANDED_NAME=VALUE")
    return settings


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


async def run(args: argparse.Namespace, server: str, source: str) -> Report:
    # SIGTERM unwinds like Ctrl-C: the finally blocks stop the service and drop the database.
    main_task = asyncio.current_task()
    assert main_task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
    opts = options(args)
    workers = [int(w) for w in args.workers.split(",")]
    if len(workers) > 1 and 4 in opts.scenarios:
        raise SystemExit("a worker sweep runs scenarios 1, 2, 3, 5 only: pass --scenarios")
    name = db.fresh_name()
    url = await db.create_database(server, name)
    facts = await db.server_facts(url)
    report = Report(
        {
            "started": datetime.now(UTC).isoformat(),
            "git": {"commit": _git("rev-parse", "HEAD"), "dirty": bool(_git("status", "-s"))},
            "host": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "postgres": facts | {"source": source},
            "options": {k: str(v) for k, v in vars(opts).items()},
            "workers": workers,
            "service_settings": service_settings(args.set),
        }
    )
    print(
        f"landed bench: workers {args.workers}, {opts.runs} run(s) × {opts.duration:.0f}s, "
        f"scenarios {sorted(opts.scenarios)}, database {name} on {source} server, "
        f"synchronous_commit={facts['synchronous_commit']}",
        flush=True,
    )
    postmaster = facts["postmaster_pid"]
    credentials = Credentials()
    (opts.results_dir / "server.log").unlink(missing_ok=True)
    try:
        from app.migrations import upgrade_head

        await asyncio.to_thread(upgrade_head, url)
        prepared = False
        for n in workers:
            service = Service(
                url,
                credentials,
                workers=n,
                log_path=opts.results_dir / "server.log",
                settings=service_settings(args.set),
            )
            bench = Bench(
                opts=opts, report=report, database_url=url, service=service,
                creds=credentials, postmaster=postmaster,
                prefix=f"w{n}." if len(workers) > 1 else "", rng=random.Random(opts.seed),
            )  # fmt: skip
            try:
                await service.start()
                if not prepared:
                    await prepare(bench)
                    pools = (bench.batches, bench.singles, bench.history, bench.tokens)
                    prepared = True
                else:
                    bench.batches, bench.singles, bench.history, bench.tokens = pools
                await run_all(bench)
            finally:
                service.stop()
    finally:
        await db.drop_database(server, name)
    return report


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.perf_counter()
    with server_url(args.database_url) as (server, source):
        try:
            report = asyncio.run(run(args, server, source))
        except (KeyboardInterrupt, asyncio.CancelledError):
            print("\ninterrupted: service stopped, bench database dropped", file=sys.stderr)
            return 130
    report.meta["wall_seconds"] = round(time.perf_counter() - t0)
    report.print_summary()
    report.write_json(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
