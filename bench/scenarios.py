"""The scenarios: each measures the service over HTTP and the floor over asyncpg, run by run.

Runs alternate product and floor on the same data, so a ratio always compares two figures taken
minutes apart on the same machine. Before each measured run the event tables are emptied (or,
with big tables, left as they are), emails vacuumed and a checkpoint taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from bench import bigdata, db, floor, profile
from bench.events import PROVIDER, Target, blast, event_stream
from bench.http import Clients
from bench.load import Call, Load, LoadResult, drive
from bench.pool import Pool, parser
from bench.procs import CpuMeter, RssSampler, children, memory_kb
from bench.report import Figure, Report
from bench.service import Credentials, Service

WEBHOOK = f"/v1/webhooks/{PROVIDER}"
MAX_REQUESTS = 10_000_000  # the deadline ends a run long before this
BATCH_SIZE = 1000
REGISTER_CHUNK = 10_000


@dataclass
class Options:
    scenarios: frozenset[int]
    runs: int
    duration: float
    warmup: float
    blast_emails: int
    history_candidates: int
    emails_per_candidate: int
    big_emails: int
    big_events: int
    single_pool: int
    client: str
    requests_per_connection: int
    profile: bool
    results_dir: Path
    seed: int


@dataclass
class Bench:
    opts: Options
    report: Report
    database_url: str
    service: Service
    creds: Credentials
    postmaster: int | None
    prefix: str = ""
    rng: random.Random = field(default_factory=random.Random)
    batches: Pool | None = None
    singles: Pool | None = None
    history: list[tuple[str, str]] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    rss_peaks: list[float] = field(default_factory=list)
    rss_hwm: dict[int, float] = field(default_factory=dict)

    def name(self, name: str) -> str:
        return self.prefix + name

    def clients(self) -> Clients:
        return Clients(self.service.base_url, self.opts.client, self.opts.requests_per_connection)

    def cpu_meter(self) -> CpuMeter:
        assert self.service.process is not None
        workers = self.service.worker_pids()
        groups = {f"worker{i}": [pid] for i, pid in enumerate(workers, 1)}
        if workers != [self.service.process.pid]:
            groups["supervisor"] = [self.service.process.pid]
        groups["bench"] = [os.getpid()]
        if self.postmaster is not None:
            groups["postgres"] = children(self.postmaster)
        return CpuMeter({k: sorted(set(v)) for k, v in groups.items()})


# ---- setup ---------------------------------------------------------------------------------


async def _register(b: Bench, items: list[dict[str, Any]]) -> list[str]:
    ids: list[str] = []
    headers = {"Authorization": f"Bearer {b.creds.service_token}"}
    async with httpx.AsyncClient(base_url=b.service.base_url, timeout=300) as client:
        for lo in range(0, len(items), REGISTER_CHUNK):
            response = await client.post(
                "/v1/emails/batch",
                json={"emails": items[lo : lo + REGISTER_CHUNK]},
                headers=headers,
            )
            response.raise_for_status()
            ids.extend(item["id"] for item in response.json()["items"])
    return ids


async def prepare(b: Bench) -> None:
    """Register the emails the load is about, then build the pools of signed traffic."""
    opts, rng = b.opts, b.rng
    t0 = time.perf_counter()
    if opts.scenarios & {1, 2, 4, 5}:
        items = blast(rng, opts.blast_emails, org_id="org-bench", prefix="blast")
        ids = await _register(b, items)
        targets = [
            Target(i, item["recipient"], item["provider_message_id"])
            for i, item in zip(ids, items, strict=True)
        ]
        adapter = parser(b.creds.signer.verification_key)
        # ~8 batches share each window of messages (≈3 events per email), so concurrent
        # batches touch the same emails, as SendGrid's parallel posters do.
        window = 8 * BATCH_SIZE // 3
        stream = [
            e for w in event_stream(rng, targets, window=window, unmatched_share=0.02) for e in w
        ]
        b.batches = Pool.build(
            (stream[lo : lo + BATCH_SIZE] for lo in range(0, len(stream), BATCH_SIZE)), adapter
        )
        singles = [
            e
            for w in event_stream(rng, targets, window=len(targets), unmatched_share=0.02)
            for e in w
        ]
        b.singles = Pool.build(([e] for e in singles[: opts.single_pool]), adapter)
    if opts.scenarios & {3, 4}:
        per = opts.emails_per_candidate
        items = []
        for org in range(10):
            n = opts.history_candidates // 10 * per
            items += blast(rng, n, org_id=f"org-hist-{org}", prefix=f"hist{org}", per_candidate=per)
        await _register(b, items)
        await _vary_statuses(b.database_url)
        b.history = sorted({(i["org_id"], i["candidate_id"]) for i in items})
        b.tokens = {org: f"Bearer {b.creds.user_token(org)}" for org, _ in b.history}
    print(f"  · setup: {time.perf_counter() - t0:.1f}s", flush=True)


async def _vary_statuses(url: str) -> None:
    """History rows with the mix of statuses (and failure reasons) a real page shows."""
    conn = await db.connect(url)
    try:
        await conn.execute("""
            UPDATE emails SET status_rank = (ARRAY[10,20,30,40,40,40,50,50,60,70])
                                            [1 + floor(random() * 10)::int]
            WHERE org_id LIKE 'org-hist-%'
        """)
        await conn.execute("""
            UPDATE emails SET status_reason = '550 5.1.1 The email account does not exist.',
                              status_smtp = '5.1.1', status_category = 'invalid_address'
            WHERE org_id LIKE 'org-hist-%' AND status_rank IN (30, 60, 70)
        """)
        await conn.execute("VACUUM (ANALYZE) emails")
    finally:
        await conn.close()


async def settle(url: str, *, empty_events: bool) -> None:
    if empty_events:
        await db.reset_events(url)
    conn = await db.connect(url)
    try:
        if not empty_events:
            await conn.execute("VACUUM (ANALYZE) emails")
        with contextlib.suppress(asyncpg.PostgresError):
            await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# ---- calls ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What the service said it did, and the first few failures verbatim."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)

    def failure(self, status: int, body: bytes) -> None:
        if len(self.samples) < 5:
            self.samples.append(f"{status} {body[:300].decode(errors='replace')}")


def webhook_load(b: Bench, pool: Pool, tally: Tally) -> Load:
    """Signed SendGrid posts; each caller has its own connection, all share one cursor."""
    cursor, signer, clients = pool.cursor(), b.creds.signer, b.clients()

    def make() -> Call:
        http = clients.new()

        async def call(i: int) -> tuple[int, int]:
            body, n = cursor.body(i)
            status, payload = await http.request("POST", WEBHOOK, signer.headers(body), body)
            if status == 200:
                tally.counts.update(orjson.loads(payload))
            else:
                tally.failure(status, payload)
            return status, n

        return call

    return Load(make, clients.aclose)


def floor_ingest_load(conn_pool: asyncpg.Pool, pool: Pool) -> Load:
    cursor = pool.cursor()

    async def call(i: int) -> tuple[int, int]:
        args, n = cursor.args(i)
        await floor.ingest(conn_pool, PROVIDER, args)
        return 200, n

    return Load(lambda: call)


def _history_order(b: Bench) -> list[int]:
    return [b.rng.randrange(len(b.history)) for _ in range(100_000)]


def history_load(b: Bench, tally: Tally) -> Load:
    """Contact-history pages with a user token of the candidate's organisation."""
    order, clients = _history_order(b), b.clients()

    def make() -> Call:
        http = clients.new()

        async def call(i: int) -> tuple[int, int]:
            org, candidate = b.history[order[i % len(order)]]
            path = f"/v1/candidates/{candidate}/contact-history"
            status, payload = await http.request("GET", path, {"authorization": b.tokens[org]})
            if status != 200:
                tally.failure(status, payload)
            return status, 1

        return call

    return Load(make, clients.aclose)


def floor_history_load(b: Bench, conn_pool: asyncpg.Pool) -> Load:
    order = _history_order(b)

    async def call(i: int) -> tuple[int, int]:
        org, candidate = b.history[order[i % len(order)]]
        await floor.history(conn_pool, org, candidate)
        return 200, 1

    return Load(lambda: call)


# ---- measuring -----------------------------------------------------------------------------


async def measure(
    b: Bench, load: Load, concurrency: int, *, rss: RssSampler | None = None
) -> tuple[LoadResult, dict[str, float]]:
    """One measured run; also the CPU cores each process group used meanwhile."""
    meter = b.cpu_meter()
    meter.start()
    if rss is not None:
        rss.start()
    result = await drive(
        load, concurrency=concurrency, duration=b.opts.duration, max_requests=MAX_REQUESTS
    )
    used = meter.stop()
    if rss is not None:
        await rss.stop()
    return result, {k: round(v / result.elapsed, 2) for k, v in used.items() if result.elapsed}


async def warm(load: Load, concurrency: int, seconds: float) -> None:
    if seconds > 0:
        await drive(load, concurrency=concurrency, duration=seconds, max_requests=MAX_REQUESTS)


async def profiled(b: Bench, load: Load, concurrency: int, name: str) -> None:
    """An extra, unrecorded run with py-spy attached to every worker."""
    pids = b.service.worker_pids()
    task = asyncio.create_task(profile.record(pids, b.opts.duration, b.opts.results_dir, name))
    await asyncio.sleep(0.5)  # py-spy attaches
    await drive(load, concurrency=concurrency, duration=b.opts.duration, max_requests=MAX_REQUESTS)
    paths = await task
    summary = profile.summarize(paths)
    out = b.opts.results_dir / f"profile-{name}.top.txt"
    out.write_text(summary + "\n")
    print(f"  · profile {name} ({len(paths)} workers) → {out}\n{summary}", flush=True)


def _load_figures(
    b: Bench,
    base: str,
    unit: str,
    products: list[LoadResult],
    floors: list[LoadResult],
    cpu: list[dict[str, float]],
    tally: Tally,
) -> None:
    ratios = [p.rate / f.rate for p, f in zip(products, floors, strict=False) if f.rate]
    b.report.add(
        Figure(
            b.name(f"{base}.{unit}"),
            unit.replace("_per_s", "/s"),
            [p.rate for p in products],
            ratios=ratios,
            ratio_to="floor",
            extra={"cpu_cores": cpu, "service_counts": dict(tally.counts)},
        )
    )
    b.report.add(Figure(b.name(f"{base}.p50_ms"), "ms", [p.percentile_ms(0.5) for p in products]))
    b.report.add(Figure(b.name(f"{base}.p99_ms"), "ms", [p.percentile_ms(0.99) for p in products]))
    statuses: Counter[str] = Counter()
    for p in products:
        statuses.update(p.statuses)
    b.report.add(
        Figure(
            b.name(f"{base}.non_2xx"),
            "answers",
            [float(p.failures) for p in products],
            extra={"statuses": dict(statuses)},
        )
    )
    if any(p.failures for p in products):
        b.report.note(f"{base}: answers {dict(statuses)}; first: {tally.samples[:3]}")
    b.report.note(f"{base}: CPU cores used, per run: {cpu}")


def _floor_figures(b: Bench, base: str, unit: str, floors: list[LoadResult]) -> None:
    errors: Counter[str] = Counter()
    for f in floors:
        errors.update({s: n for s, n in f.statuses.items() if not s.startswith("2")})
    b.report.add(
        Figure(
            b.name(f"{base}.{unit}"),
            unit.replace("_per_s", "/s"),
            [f.rate for f in floors],
            extra={
                "p50_ms": [f.percentile_ms(0.5) for f in floors],
                "p99_ms": [f.percentile_ms(0.99) for f in floors],
                "errors": dict(errors),
            },
        )
    )
    if errors:
        b.report.note(f"{base}: floor errors {dict(errors)}")


# ---- scenarios -----------------------------------------------------------------------------


async def single_batch(b: Bench, count: int = 10) -> None:
    """Wall time of one signed 1,000-event batch, POST to 200, on an idle service."""
    assert b.batches is not None
    await settle(b.database_url, empty_events=True)
    times: list[float] = []
    load = webhook_load(b, b.batches, Tally())
    call = load.make()
    try:
        await call(0)  # the connection and the worker's caches
        for i in range(1, count + 1):
            t0 = time.perf_counter()
            status, _ = await call(i)
            if status == 200:
                times.append((time.perf_counter() - t0) * 1000)
    finally:
        assert load.close is not None
        await load.close()
    b.report.add(Figure(b.name("single_batch_1000_ms"), "ms", times))
    conn_pool = await db.create_pool(b.database_url, 1)
    try:
        call = floor_ingest_load(conn_pool, b.batches).make()
        await call(0)
        floor_times = []
        for i in range(1, count + 1):
            t0 = time.perf_counter()
            await call(i)
            floor_times.append((time.perf_counter() - t0) * 1000)
    finally:
        await conn_pool.close()
    b.report.add(Figure(b.name("floor.single_batch_1000_ms"), "ms", floor_times))


async def batches(b: Bench, label: str, *, empty_events: bool, sample_rss: bool) -> None:
    """1,000-event batches at concurrency 4 and 8, overlapping messages; the same via the floor."""
    assert b.batches is not None
    for c in (4, 8):
        tally = Tally()
        products: list[LoadResult] = []
        floors: list[LoadResult] = []
        cpu: list[dict[str, float]] = []
        conn_pool = await db.create_pool(b.database_url, c)
        try:
            product = webhook_load(b, b.batches, tally)
            floor_load = floor_ingest_load(conn_pool, b.batches)
            await warm(product, c, b.opts.warmup)
            await warm(floor_load, c, min(2.0, b.opts.warmup))
            for _ in range(b.opts.runs):
                await settle(b.database_url, empty_events=empty_events)
                rss = RssSampler(b.service.worker_pids()) if sample_rss else None
                result, cores = await measure(b, product, c, rss=rss)
                products.append(result)
                cpu.append(cores)
                if rss is not None:
                    b.rss_peaks.append(max(rss.peak_kb.values()) / 1024)
                await settle(b.database_url, empty_events=empty_events)
                floors.append((await measure(b, floor_load, c))[0])
            if b.opts.profile and c == 8 and label == "s1":
                await profiled(b, product, c, b.name(f"{label}-batch-c{c}"))
        finally:
            await conn_pool.close()
        _load_figures(b, f"{label}.batch.c{c}", "events_per_s", products, floors, cpu, tally)
        _floor_figures(b, f"{label}.floor.batch.c{c}", "events_per_s", floors)
    if sample_rss:
        for pid in b.service.worker_pids():
            b.rss_hwm[pid] = memory_kb(pid).get("VmHWM", 0) / 1024


async def singles(b: Bench) -> None:
    """Single-event posts at concurrency 16 and 64; the floor: one transaction per event, c=8."""
    assert b.singles is not None
    levels = (16, 64)
    products: dict[int, list[LoadResult]] = {c: [] for c in levels}
    cpu: dict[int, list[dict[str, float]]] = {c: [] for c in levels}
    tallies = {c: Tally() for c in levels}
    floors: list[LoadResult] = []
    conn_pool = await db.create_pool(b.database_url, 8)
    try:
        loads = {c: webhook_load(b, b.singles, tallies[c]) for c in levels}
        floor_load = floor_ingest_load(conn_pool, b.singles)
        for c in levels:
            await warm(loads[c], c, b.opts.warmup)
        await warm(floor_load, 8, min(2.0, b.opts.warmup))
        for _ in range(b.opts.runs):
            for c in levels:
                await settle(b.database_url, empty_events=True)
                result, cores = await measure(b, loads[c], c)
                products[c].append(result)
                cpu[c].append(cores)
            await settle(b.database_url, empty_events=True)
            floors.append((await measure(b, floor_load, 8))[0])
        if b.opts.profile:
            await profiled(b, loads[64], 64, b.name("s2-single-c64"))
    finally:
        await conn_pool.close()
    for c in levels:
        _load_figures(b, f"s2.single.c{c}", "events_per_s", products[c], floors, cpu[c], tallies[c])
    _floor_figures(b, "s2.floor.single.c8", "tx_per_s", floors)


async def history(b: Bench, label: str) -> None:
    """Contact-history pages (50 emails per candidate) at concurrency 8 and 32; floor alike."""
    for c in (8, 32):
        tally = Tally()
        products: list[LoadResult] = []
        floors: list[LoadResult] = []
        cpu: list[dict[str, float]] = []
        conn_pool = await db.create_pool(b.database_url, c)
        try:
            product = history_load(b, tally)
            floor_load = floor_history_load(b, conn_pool)
            await warm(product, c, b.opts.warmup)
            await warm(floor_load, c, min(2.0, b.opts.warmup))
            for _ in range(b.opts.runs):
                result, cores = await measure(b, product, c)
                products.append(result)
                cpu.append(cores)
                floors.append((await measure(b, floor_load, c))[0])
            if b.opts.profile and c == 8 and label == "s3":
                await profiled(b, product, c, b.name(f"{label}-history-c{c}"))
        finally:
            await conn_pool.close()
        _load_figures(b, f"{label}.history.c{c}", "qps", products, floors, cpu, tally)
        _floor_figures(b, f"{label}.floor.history.c{c}", "qps", floors)


async def big_tables(b: Bench) -> None:
    """Fill millions of rows by COPY, then batches and history again, compared with small."""
    t0 = time.perf_counter()
    print(f"  · filling {b.opts.big_emails:,} emails and {b.opts.big_events:,} events", flush=True)
    timings = await bigdata.fill(
        b.database_url, emails=b.opts.big_emails, events=b.opts.big_events, seed=b.opts.seed
    )
    counts = await db.table_counts(b.database_url)
    b.report.note(
        f"s4: filled in {time.perf_counter() - t0:.0f}s "
        f"({', '.join(f'{k} {v:,.0f}' for k, v in timings.items())}); tables now {counts}"
    )
    b.report.meta["big_tables"] = {"timings": timings, "counts": counts}
    await batches(b, "s4", empty_events=False, sample_rss=False)
    await history(b, "s4")
    # These compare with runs of scenarios 1 and 3 taken minutes earlier: the floor's own
    # ratio is the control (if it moved as much, the machine changed, not the product).
    for c in (4, 8):
        for kind in ("batch", "floor.batch"):
            _versus(b, f"s4.{kind}.c{c}.events_per_s", f"s1.{kind}.c{c}.events_per_s", "vs_empty")
    for c in (8, 32):
        for q in ("p50", "p99"):
            _versus(b, f"s4.history.c{c}.{q}_ms", f"s3.history.c{c}.{q}_ms", f"{q}_vs_small")
        _versus(b, f"s4.floor.history.c{c}.qps", f"s3.floor.history.c{c}.qps", "vs_small")


def _versus(b: Bench, big: str, small: str, suffix: str) -> None:
    big_f, small_f = b.report.get(b.name(big)), b.report.get(b.name(small))
    if big_f is None or small_f is None or not small_f.median:
        return
    stem = big.rsplit(".", 1)[0]
    values = [v / small_f.median for v in big_f.values]
    b.report.add(Figure(b.name(f"{stem}.{suffix}"), "ratio", values))


async def rss(b: Bench) -> None:
    """Peak resident memory per worker, sampled during the batch scenario."""
    if not b.rss_peaks:  # scenario 1 did not run: sample a short batch load at c=8
        assert b.batches is not None
        sampler = RssSampler(b.service.worker_pids())
        await measure(b, webhook_load(b, b.batches, Tally()), 8, rss=sampler)
        b.rss_peaks.append(max(sampler.peak_kb.values()) / 1024)
    for pid in b.service.worker_pids():
        b.rss_hwm.setdefault(pid, memory_kb(pid).get("VmHWM", 0) / 1024)
    b.report.add(
        Figure(
            b.name("s5.rss_peak_mb"),
            "MB",
            b.rss_peaks,
            extra={"lifetime_vmhwm_mb_by_worker": b.rss_hwm, "workers": b.service.workers},
        )
    )


async def run_all(b: Bench) -> None:
    steps: list[tuple[int, str, Callable[[], Awaitable[None]]]] = [
        (1, "single 1,000-event batch on an idle service", lambda: single_batch(b)),
        (1, "1: batches", lambda: batches(b, "s1", empty_events=True, sample_rss=True)),
        (2, "2: single events", lambda: singles(b)),
        (3, "3: contact history", lambda: history(b, "s3")),
        (5, "5: peak RSS per worker", lambda: rss(b)),
        (4, "4: big tables", lambda: big_tables(b)),
    ]
    for number, title, step in steps:
        if number in b.opts.scenarios:
            print(f"\n-- {b.prefix}{title}", flush=True)
            await step()
