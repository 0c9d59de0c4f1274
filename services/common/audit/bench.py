"""`tongban bench audit`: how fast an auditor can verify and replay, on a synthetic dataset.

A dataset of two regions × two services (SQLite files, DIR/<region>/<service>.db, made with the
store API by services/common/audit/sample.py: cases, deadlines scheduled, fired and cancelled,
a cross-region case) is built untimed; then:

1. audit_verify   `audit_verify` over every store: every hash recomputed, versions, order. events/s
2. audit_replay   `replay_stores`: every registered projection rebuilt in a scratch database
                  and compared row by row with the live read model.                    events/s
3. audit_case     `find_case` of the cross-region case (no read recorded).             ms (median)

Output: the table of services/common/bench.py and, with --json, the same JSON format as
`tongban bench store`: [{"name", "value", "unit", "backend"}, ...]."""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from services.common.bench_report import Measure, format_table, to_json

BACKEND = "sqlite"
REGIONS = ("640000", "510000")
SERVICES = ("marriage", "disability")
STEPS = 10
QUICK_EVENTS = 2_000
CASE_LOOKUPS = 5


def _cases_per_store(events: int) -> int:
    # Per case: STEPS events, and every other case one deadline scheduled plus one fired/cancelled.
    per_case = STEPS + 1
    return max(1, events // (len(REGIONS) * len(SERVICES) * per_case))


def run(data_dir: Path, events: int, progress: Callable[[str], None] | None = None) -> list[Measure]:
    """Build the dataset in `data_dir` and take the measures."""
    from services.common.audit.datadir import discover_stores, open_store
    from services.common.audit.projections import default_registry
    from services.common.audit.replay import replay_stores
    from services.common.audit.sample import populate
    from services.common.audit.trail import find_case
    from services.common.audit.verify import audit_verify

    def say(message: str) -> None:
        if progress is not None:
            progress(message)

    started = time.perf_counter()
    dataset = populate(data_dir, regions=REGIONS, services=SERVICES, cases_per_store=_cases_per_store(events),
                       steps=STEPS, batch=True)
    say(f"[audit] dataset: {dataset.events:,} events in {len(dataset.stores)} stores "
        f"({time.perf_counter() - started:.1f} s, untimed)")
    refs = discover_stores(data_dir)
    results: list[Measure] = []

    t = time.perf_counter()
    report = audit_verify(refs, check_checkpoints_held=False)
    elapsed = time.perf_counter() - t
    if not report.ok:
        raise RuntimeError("the benchmark dataset failed verification")
    results.append(Measure("audit_verify", report.events / elapsed, "events/s", BACKEND))
    say(f"[audit] audit_verify: {report.events:,} events … {report.events / elapsed:,.0f} events/s")

    registry = default_registry()
    with contextlib.ExitStack() as stack:
        stores = []
        for ref in refs:
            store = open_store(ref)
            stack.callback(store.close)
            stores.append((ref, store))
        t = time.perf_counter()
        replayed = replay_stores(stores, registry)
        elapsed = time.perf_counter() - t
        if not replayed.ok:
            raise RuntimeError("the benchmark dataset's projections did not reproduce")
        results.append(Measure("audit_replay", replayed.events / elapsed, "events/s", BACKEND))
        say(f"[audit] audit_replay: {replayed.events:,} events, {len(registry)} projection(s) … "
            f"{replayed.events / elapsed:,.0f} events/s")
        timings = []
        for _ in range(CASE_LOOKUPS):
            t = time.perf_counter()
            trail = find_case(stores, dataset.cross_region_case)
            timings.append(time.perf_counter() - t)
            if len(trail.stores) != 2:
                raise RuntimeError("the cross-region case was not found in both regions")
        results.append(Measure("audit_case", statistics.median(timings) * 1000, "ms", BACKEND))
        say(f"[audit] audit_case: median of {CASE_LOOKUPS} lookups … {results[-1].value:,.2f} ms")
    return results


def run_audit_bench(args: argparse.Namespace) -> int:
    """`tongban bench audit`. Returns the process exit code."""
    events = QUICK_EVENTS if args.quick else args.events
    if events < 1:
        print(f"tongban bench audit: --events must be at least 1, got {events}", file=sys.stderr)
        return 2

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tongban-bench-audit-") as tmp:
        try:
            results = run(Path(tmp), events, progress)
        except RuntimeError as exc:
            print(f"tongban bench audit: {exc}", file=sys.stderr)
            return 1
    print(format_table(results, [BACKEND]))
    print()
    print(f"dataset: {len(REGIONS)} regions × {len(SERVICES)} services, about {events:,} events, SQLite (WAL, "
          "synchronous=FULL)")
    print(f"total time: {time.perf_counter() - started:.1f} s")
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        progress(f"wrote {len(results)} measures to {path}")
    return 0
