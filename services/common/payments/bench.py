"""`tongban bench payments`: how fast the monthly run pays, on SQLite.

A fresh SQLite store (WAL, synchronous=FULL) in a temporary directory; a synthetic source owing
ENTITLEMENTS people one month each; then, timed:

1. payment_run     the whole run of one month: batch opened, every line added in chunks (one
                   transaction each, read-model rows included), batch closed.   entitlements/s
2. payment_export  the batch's roll written as CSV (masked accounts, totals).  lines/s

The untimed checks after them (the batch holds every line once, a rerun adds nothing) make a
wrong fast run fail instead of printing a number. Output: the table of the other benchmarks and,
with --json, [{"name", "value", "unit", "backend"}, ...]."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.bench_report import Measure, format_table, to_json

BACKEND = "sqlite"
REGION = "640000"
SERVICE = "bench"
MONTH = "2027-03"
QUICK_ENTITLEMENTS = 5_000


class SyntheticSource:
    """`people` persons owed 110 yuan each for the month, in entitlement-id order."""

    def __init__(self, people: int) -> None:
        self.people = people

    def due(self, month: str) -> Iterator[Any]:
        from services.common.payments import Due

        for n in range(self.people):
            yield Due(f"case-{n:08d}/living", f"case-{n:08d}", f"64010419900101{n % 10_000:04d}", f"person {n}",
                      "bench.living", month, 11_000, f"622202{n:013d}")


def run(data_dir: Path, entitlements: int, chunk: int, progress: Callable[[str], None]) -> list[Measure]:
    from services.common.clock import FakeClock
    from services.common.events import Actor
    from services.common.kit import Provenance
    from services.common.payments import PaymentRuns, payment_units
    from services.common.store import EventStore, sqlite_url

    at = datetime(2027, 3, 1, 9, tzinfo=UTC)
    store = EventStore.open(sqlite_url(data_dir / "payments.db"), region=REGION, service=SERVICE, clock=FakeClock(at))
    try:
        runs = PaymentRuns(payment_units(store), REGION, SERVICE)
        provenance = Provenance(Actor.system(REGION, "bench"), "bench", "command-bench", at)
        t, cpu = time.perf_counter(), time.process_time()
        result = runs.run(MONTH, SyntheticSource(entitlements), provenance, chunk=chunk)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
        if (result.added, result.batch.line_count) != (entitlements, entitlements):
            raise RuntimeError(f"the run recorded {result.added} of {entitlements} lines")
        results = [Measure("payment_run", entitlements / elapsed, "entitlements/s", BACKEND)]
        progress(f"[payments] payment_run: {entitlements:,} entitlements in chunks of {chunk:,} … "
                 f"{elapsed:.1f} s ({cpu:.1f} s of CPU: on a busy machine the difference is waiting), "
                 f"{results[0].value:,.0f} entitlements/s")
        if runs.run(MONTH, SyntheticSource(entitlements), provenance, chunk=chunk).added:
            raise RuntimeError("a rerun of the month added lines")
        t = time.perf_counter()
        totals = runs.export_csv(result.batch.batch_id, io.StringIO())
        elapsed = time.perf_counter() - t
        if totals.lines != entitlements:
            raise RuntimeError(f"the export wrote {totals.lines} of {entitlements} lines")
        results.append(Measure("payment_export", totals.lines / elapsed, "lines/s", BACKEND))
        progress(f"[payments] payment_export: {totals.lines:,} lines … {results[-1].value:,.0f} lines/s")
        return results
    finally:
        store.close()


def run_payments_bench(args: argparse.Namespace) -> int:
    """`tongban bench payments`. Returns the process exit code."""
    entitlements = QUICK_ENTITLEMENTS if args.quick else args.entitlements
    if entitlements < 1 or args.chunk < 1:
        print("tongban bench payments: --entitlements and --chunk must be at least 1", file=sys.stderr)
        return 2

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    measure = run
    if args.service:
        # A paying service's own source and wiring: services/<name>/entrypoints/payments_bench.py.
        measure = importlib.import_module(f"services.{args.service}.entrypoints.payments_bench").run
    with tempfile.TemporaryDirectory(prefix="tongban-bench-payments-") as tmp:
        try:
            results = measure(Path(tmp), entitlements, args.chunk, progress)
        except RuntimeError as exc:
            print(f"tongban bench payments: {exc}", file=sys.stderr)
            return 1
    print(format_table(results, [BACKEND]))
    print()
    print(f"dataset: {entitlements:,} entitlements ({args.service or 'synthetic'} source), one month, "
          f"chunks of {args.chunk:,}, "
          "SQLite (WAL, synchronous=FULL)")
    print(f"total time: {time.perf_counter() - started:.1f} s")
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        progress(f"wrote {len(results)} measures to {path}")
    return 0


def add_payments_bench_parser(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Add `bench payments` to the `tongban bench` subparsers."""
    bench = bench_subparsers.add_parser(
        "payments", help="monthly payment run rate (entitlements/s) on SQLite",
        description="Pay one month of synthetic entitlements through the shared payment run (services/common/"
                    "payments) on a fresh SQLite store: the run's rate (entitlements/s, chunked transactions, "
                    "read model included) and the CSV export's (lines/s).",
        epilog="example: tongban bench payments --json bench-payments.json")
    bench.add_argument("--json", metavar="FILE", help='write [{"name", "value", "unit", "backend"}, ...] to FILE')
    bench.add_argument("--entitlements", type=int, default=100_000,
                       help="entitlements to pay (default %(default)s)")
    bench.add_argument("--chunk", type=int, default=1000, help="lines per transaction (default %(default)s)")
    bench.add_argument("--service", choices=("disability",), default="",
                       help="pay through this service's own wiring and source (default: a synthetic source)")
    bench.add_argument("--quick", action="store_true", help=f"{QUICK_ENTITLEMENTS:,} entitlements, for a first look")
    bench.set_defaults(func=run_payments_bench)
    return bench
