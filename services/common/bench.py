"""`tongban bench store`: how fast the event store and the outbox relay are, on SQLite and PostgreSQL.

For each backend, in a fresh store (an SQLite file in a temp dir; a fresh database on a throwaway
PostgreSQL server, or the database named by --pg-url), in this order:

1. append_single    single-event appends, one new stream each (expected version NO_STREAM), each its
                    own transaction: the shape of a clerk starting a case.        appends/s
   append_32_grouped / append_32_ungrouped: the same count of appends by 32 threads at once, with
                    and without group commit (bench_concurrent.py).                appends/s
2. append_batch     100 events per transaction into a new stream, ten times as many events as
                    append_single (enough for a stable rate).                      events/s
3. stream_load_N    median time to load an N-event stream (N = 1,000 by default). ms
   aggregate_load_N / aggregate_load_N_snapshot: an N-event aggregate (N = 10,000 by default)
                    loaded by the unit of work, whole and from a snapshot (bench_snapshots.py). ms
4. replay_verify    `verify_store` over the whole log: read, recompute every hash, check both
                    chains and the head; five times in turn with the baselines, the
                    fastest read counted.                                          events/s
5. relay_publish    `OutboxRelay.publish_pending()` of the whole log to a broker.  events/s
   relay_publish_signed: the same with every envelope signed (Ed25519), as every host's relay
                    does; the unsigned line stays comparable with earlier runs.    events/s
   relay_publish_traced: signed, with a recording tracer provider, as hosts run it (each
                    event's publish span made and ended; an exporter's cost left out). events/s

With SQLite among the backends, the same run also measures single-event and batched appends
(measures 1 and 2) with raw sqlite3 and with the `eventsourcing` library, as columns of their own
(bench_baselines.py), taking turns with Tongban's appends so that all three share the machine's
load alike; and, in turn with the replay (measure 4), `replay_read`: the library reading back and
decoding a notification log of as many events, and raw sqlite3 fetching the rows the replay checks
(bench_replay.py). Tongban's rates as multiples of the baselines' close the table
(append_single_vs_eventsourcing, append_batch_vs_raw, replay_verify_vs_eventsourcing_read, ...).
With PostgreSQL, pgbench's single-row inserts on the same server, 1 and 32 clients (bench_pgbench.py).

Measures 4 and 5 run over everything the earlier steps wrote (141,000 events by default), so their
numbers are for a store of that size. Only the store/relay calls are timed: building the events
happens outside the clock. Nothing here judges the numbers; it only reports them.

Sizes all derive from --streams (default 10,000; --quick caps it at 1,000), so a test can run the
whole benchmark in a second with `--streams 50`. The stream-load measure is named after the stream
length it really loaded, so a small run can never be mistaken for the 1,000-event figure."""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from services.common.bench_baselines import BATCH_CHUNK, versus_baselines
from services.common.bench_concurrent import MEASURES as CONCURRENT_MEASURES
from services.common.bench_concurrent import WRITERS, ConcurrentBenchError, bench_append_concurrent
from services.common.bench_events import (
    BUILD_CHUNK,
    CLERK,
    REGION,
    STREAM_TYPE,
    chunks,
    new_event,
    payload_bytes,
)
from services.common.bench_relay import bench_relay_publish
from services.common.bench_replay import bench_replay
from services.common.bench_report import BenchError, Measure, format_table, format_value, to_json
from services.common.bench_snapshots import AGGREGATE_EVENTS, bench_aggregate_load
from services.common.bench_snapshots import measure_names as aggregate_measures
from services.common.clock import SystemClock
from services.common.store import NO_STREAM, EventStore, sqlite_url

BACKENDS = ("sqlite", "postgres")
QUICK_STREAMS = 1_000
BATCH_SIZE = 100
BATCH_FACTOR = 10  # append_batch writes this many times append_single's count of events
LOAD_EVENTS = 1_000


@dataclass(frozen=True)
class BenchSizes:
    single_streams: int  # append_single: streams, one event each
    batch_size: int  # append_batch: events per transaction
    batches: int  # append_batch: transactions
    load_events: int  # stream_load: length of the stream loaded
    loads: int  # stream_load: how many loads the median is taken over

    @classmethod
    def from_streams(cls, streams: int) -> BenchSizes:
        if streams < 1:
            raise ValueError(f"--streams must be at least 1, got {streams}")
        batch_size = min(BATCH_SIZE, streams)
        return cls(
            single_streams=streams,
            batch_size=batch_size,
            # Ten times the single-append test's events: 3,000 batched events took 0.1 s, too short a
            # time for a rate that holds still on a shared machine.
            batches=max(1, BATCH_FACTOR * streams // batch_size),
            load_events=min(LOAD_EVENTS, streams),
            loads=9 if streams >= LOAD_EVENTS else 5,
        )

    @property
    def total_events(self) -> int:
        # append_single, then the same count again by each of the two concurrent measures
        return 3 * self.single_streams + self.batch_size * self.batches + self.load_events + self.aggregate_events

    @property
    def aggregate_events(self) -> int:
        return min(AGGREGATE_EVENTS, self.single_streams)

    @property
    def load_measure(self) -> str:
        return f"stream_load_{self.load_events}"

    def measure_names(self) -> list[str]:
        return ["append_single", *CONCURRENT_MEASURES, "append_batch", self.load_measure,
                *aggregate_measures(self.aggregate_events), "replay_verify", "relay_publish",
                "relay_publish_signed", "relay_publish_traced"]

    def describe(self) -> str:
        return (f"{self.single_streams:,} single appends (one stream each), the same again by {WRITERS} "
                f"threads with and without group commit; {self.batches:,} "
                f"transaction{'s' if self.batches != 1 else ''} of {self.batch_size:,} events; "
                f"a {self.load_events:,}-event stream loaded {self.loads} times (median); "
                f"a {self.aggregate_events:,}-event aggregate loaded with and without its snapshot; "
                f"replay and relay over the whole store ({self.total_events:,} events)")


def sizes_for(streams: int, quick: bool) -> BenchSizes:
    return BenchSizes.from_streams(min(streams, QUICK_STREAMS) if quick else streams)


def parse_backends(value: str) -> list[str]:
    chosen = [b.strip().lower() for b in value.split(",") if b.strip()]
    unknown = [b for b in chosen if b not in BACKENDS]
    if unknown or not chosen:
        raise ValueError(f"--backends {value!r}: choose from {', '.join(BACKENDS)} (comma-separated)")
    return list(dict.fromkeys(chosen))


# -- the measures ------------------------------------------------------------------------------


Progress = Callable[[str], None]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def single_runner(store: EventStore, tag: str) -> Callable[[range], float]:
    """append_single's work in chunks: the events of a chunk are built outside the clock."""
    def run(part: range) -> float:
        work = [(f"{tag}-single-{i:07d}", new_event(i, f"{tag}-single-{i}")) for i in part]
        started = time.perf_counter()
        for stream_id, event in work:
            store.append(stream_id, STREAM_TYPE, NO_STREAM, [event])
        return time.perf_counter() - started

    return run


def bench_append_single(store: EventStore, tag: str, sizes: BenchSizes) -> float:
    run = single_runner(store, tag)
    elapsed = sum(run(chunk) for chunk in chunks(sizes.single_streams, BUILD_CHUNK))
    return _rate(sizes.single_streams, elapsed)


def batch_runner(store: EventStore, tag: str, sizes: BenchSizes) -> Callable[[range], float]:
    """append_batch's work by batch numbers: one new stream of batch_size events per append; the
    events of a chunk are built outside the clock."""
    def run(part: range) -> float:
        work = [
            (f"{tag}-batch-{b:06d}",
             [new_event(b * sizes.batch_size + j, f"{tag}-batch-{b}") for j in range(sizes.batch_size)])
            for b in part
        ]
        started = time.perf_counter()
        for stream_id, batch in work:
            store.append(stream_id, STREAM_TYPE, NO_STREAM, batch)
        return time.perf_counter() - started

    return run


def bench_append_batch(store: EventStore, tag: str, sizes: BenchSizes) -> float:
    run = batch_runner(store, tag, sizes)
    elapsed = sum(run(chunk) for chunk in chunks(sizes.batches, max(1, BUILD_CHUNK // sizes.batch_size)))
    return _rate(sizes.batch_size * sizes.batches, elapsed)


def bench_stream_load(store: EventStore, tag: str, sizes: BenchSizes) -> float:
    """Median milliseconds to load the stream; the stream is written first (untimed)."""
    stream_id = f"{tag}-long"
    version = 0
    for chunk in chunks(sizes.load_events, sizes.batch_size):
        store.append(stream_id, STREAM_TYPE, version, [new_event(i, stream_id) for i in chunk])
        version += len(chunk)
    timings: list[float] = []
    for _ in range(sizes.loads):
        started = time.perf_counter()
        loaded = store.read_stream(stream_id)
        timings.append(time.perf_counter() - started)
        if len(loaded) != sizes.load_events:
            raise BenchError(f"loaded {len(loaded)} events of {stream_id}, expected {sizes.load_events}")
    return statistics.median(timings) * 1000


def bench_backend(backend: str, url: str, sizes: BenchSizes, bootstrap: str, progress: Progress,
                  notes: list[str] | None = None) -> list[Measure]:
    """With `notes` (SQLite), append_single takes turns with the raw sqlite3 and eventsourcing
    baselines (bench_baselines.py), whose rates join the results and whose setup joins `notes`."""
    # A tag unique to this run keeps stream ids, the relay cursor and the topic apart from anything
    # already in a --pg-url database or on a shared broker.
    tag = f"b{uuid.uuid4().hex[:10]}"
    store = EventStore.open(url, region=REGION, service="bench", clock=SystemClock())
    results: list[Measure] = []

    def record(name: str, value: float, unit: str, what: str, started: float) -> None:
        results.append(Measure(name, value, unit, backend))
        progress(f"[{backend}] {name}: {what} … {format_value(value, unit)} ({time.perf_counter() - started:.1f} s)")

    try:
        existing, _ = store.head()
        if existing:
            progress(f"[{backend}] note: the database already holds {existing:,} events; "
                     "replay and relay cover them too")
        t = time.perf_counter()
        if notes is None:
            record("append_single", bench_append_single(store, tag, sizes), "appends/s",
                   f"{sizes.single_streams:,} streams, one event each", t)
        else:
            from services.common.bench_baselines import baseline_runners, interleaved_rates

            with baseline_runners(sizes.single_streams, payload_bytes, notes) as runners:
                rates = interleaved_rates({backend: single_runner(store, tag), **runners}, sizes.single_streams)
            for name, rate in rates.items():
                results.append(Measure("append_single", rate, "appends/s", name))
                progress(f"[{name}] append_single: {sizes.single_streams:,} streams, one event each, in turns "
                         f"… {format_value(rate, 'appends/s')} ({time.perf_counter() - t:.1f} s)")
        for grouped in (True, False):
            t = time.perf_counter()
            rate, note = bench_append_concurrent(
                url, region=REGION, service="bench", stream_type=STREAM_TYPE, tag=tag,
                count=sizes.single_streams, grouped=grouped, new_event=new_event)
            record(CONCURRENT_MEASURES[0 if grouped else 1], rate, "appends/s",
                   f"{sizes.single_streams:,} streams by {WRITERS} threads" + (f"; {note}" if note else ""), t)
        t = time.perf_counter()
        what = f"{sizes.batches:,} transaction{'s' if sizes.batches != 1 else ''} of {sizes.batch_size:,} events"
        if notes is None:
            record("append_batch", bench_append_batch(store, tag, sizes), "events/s", what, t)
        else:
            from services.common.bench_baselines import baseline_runners, interleaved_rates

            with baseline_runners(sizes.batches, payload_bytes, notes, batch_size=sizes.batch_size) as runners:
                rates = interleaved_rates({backend: batch_runner(store, tag, sizes), **runners}, sizes.batches,
                                          chunk=BATCH_CHUNK, per_item=sizes.batch_size)
            for name, rate in rates.items():
                results.append(Measure("append_batch", rate, "events/s", name))
                progress(f"[{name}] append_batch: {what}, in turns … {format_value(rate, 'events/s')} "
                         f"({time.perf_counter() - t:.1f} s)")
        t = time.perf_counter()
        record(sizes.load_measure, bench_stream_load(store, tag, sizes), "ms",
               f"{sizes.load_events:,}-event stream, median of {sizes.loads} loads", t)
        t = time.perf_counter()
        plain, cached = bench_aggregate_load(store, tag, sizes.aggregate_events, new_event, CLERK)
        full_name, snapshot_name = aggregate_measures(sizes.aggregate_events)
        record(full_name, plain, "ms", f"{sizes.aggregate_events:,}-event aggregate, whole stream folded", t)
        record(snapshot_name, cached, "ms", "the same from its snapshot 50 events behind the head", t)
        t = time.perf_counter()
        for name, (rate, count) in bench_replay(store, backend, url, notes is not None, notes).items():
            measure = "replay_verify" if name == backend else "replay_read"
            results.append(Measure(measure, rate, "events/s", name))
            progress(f"[{name}] {measure}: {count:,} events, "
                     f"{'every hash recomputed' if name == backend else 'read back'}, in turns "
                     f"… {format_value(rate, 'events/s')} ({time.perf_counter() - t:.1f} s)")
        t = time.perf_counter()
        rate, sent = bench_relay_publish(store, tag, bootstrap, backend)
        record("relay_publish", rate, "events/s", f"{sent:,} events to {bootstrap}", t)
        t = time.perf_counter()
        rate, sent = bench_relay_publish(store, tag, bootstrap, backend, signed=True)
        record("relay_publish_signed", rate, "events/s", f"{sent:,} events, each signed", t)
        t = time.perf_counter()
        rate, sent = bench_relay_publish(store, tag, bootstrap, backend, traced=True)
        record("relay_publish_traced", rate, "events/s", f"{sent:,} events, signed, publish spans recorded", t)
    finally:
        store.close()
    return results


# -- entry point -------------------------------------------------------------------------------


def run_store_bench(args: argparse.Namespace) -> int:
    """`tongban bench store`. Returns the process exit code."""
    from infra.brokers import BrokerStartError, open_broker
    from infra.postgres import PostgresUnavailable, TempPostgres

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        backends = parse_backends(args.backends)
        sizes = sizes_for(args.streams, args.quick)
    except ValueError as exc:
        print(f"tongban bench store: {exc}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    results: list[Measure] = []
    notes: list[str] = [f"sizes: {sizes.describe()}"]
    with ExitStack() as stack:
        # Everything that can fail to start (PostgreSQL, the broker) starts before the first measure, so
        # a missing binary is reported in seconds, not after minutes of SQLite work.
        pg: TempPostgres | None = None
        if "postgres" in backends and not args.pg_url:
            progress("[postgres] starting a throwaway server …")
            try:
                pg = stack.enter_context(TempPostgres())
            except PostgresUnavailable as exc:
                print(f"tongban bench store: cannot start PostgreSQL: {exc}\n"
                      "use --pg-url URL, or --backends sqlite", file=sys.stderr)
                return 2
            notes.append("postgres: throwaway local server (fsync=off, synchronous_commit=off): "
                         "an upper bound for a durable server")
        elif "postgres" in backends:
            notes.append("postgres: the database given by --pg-url")
        try:
            broker = stack.enter_context(open_broker())
        except (BrokerStartError, ValueError) as exc:
            print(f"tongban bench store: no Kafka broker for the relay measure: {exc}", file=sys.stderr)
            return 2
        progress(f"[relay] broker: {broker.kind} at {broker.bootstrap}")
        notes.append(f"relay: {broker.kind} broker at {broker.bootstrap}")

        for backend in backends:
            if backend == "sqlite":
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tongban-bench-")))
                url = sqlite_url(tmp / "bench.db")
                notes.append(f"sqlite: file in {tmp} (WAL, synchronous=FULL)")
            elif args.pg_url:
                url = args.pg_url
            else:
                assert pg is not None  # started above whenever postgres is chosen without --pg-url
                url = pg.create_database()
            try:
                results += bench_backend(backend, url, sizes, broker.bootstrap, progress,
                                         notes if backend == "sqlite" else None)
            except (BenchError, ConcurrentBenchError) as exc:
                print(f"tongban bench store: [{backend}] {exc}", file=sys.stderr)
                return 1
            if backend == "postgres":
                from services.common.bench_pgbench import pgbench_baselines

                results += pgbench_baselines(url, sizes.single_streams, payload_bytes(0), notes, progress)
            if getattr(args, "growth", False):
                from services.common.bench_growth import run_growth

                # A store of its own per size, so "at 10k" means 10k (with --pg-url: that database,
                # as it is, grown through the sizes).
                fresh = ([sqlite_url(url.removeprefix("sqlite:///") + f".growth{k}") for k in range(2)]
                         if backend == "sqlite" else [pg.create_database() for _ in range(2)] if pg is not None
                         else [url])
                results += run_growth(backend, fresh, getattr(args, "growth_million", False), REGION,
                                      new_event, STREAM_TYPE, progress)
        if "sqlite" in backends:
            results += versus_baselines(results)

    columns = [*backends, *(m.backend for m in results if m.backend not in backends)]

    print(format_table(results, list(dict.fromkeys(columns))))
    print()
    for note in notes:
        print(note)
    print(f"total time: {time.perf_counter() - started:.1f} s")
    if args.json:
        path = Path(args.json)
        path.write_text(json.dumps(to_json(results), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        progress(f"wrote {len(results)} measures to {path}")
    return 0
