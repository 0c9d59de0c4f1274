"""Baselines for `tongban bench store`, measured in the same run as the store so the numbers share
one machine's load: single-event appends with raw sqlite3, and with the `eventsourcing` library's
SQLite recorder when it is installed (the dev extras pin it).

Tongban's append_single and both baselines take turns, CHUNK appends each (interleaved_rates).
Both write the same events as Tongban's append_single (one new stream, one ~200-byte payload, one
transaction each) to a file in WAL mode with synchronous=FULL, Tongban's durability:
- raw-sqlite3      BEGIN IMMEDIATE; INSERT one row of the same 24 columns (ids, provenance, hashes
                   precomputed outside the clock); COMMIT. The floor: no locking protocol, no hash
                   chain, no library. What "close to raw sqlite3" is measured against.
- eventsourcing    `SQLiteApplicationRecorder.insert_events` (9.x): a stored event per new
                   aggregate into its totally ordered log, the nearest thing to Tongban's global log.
                   Its connections take SQLite's compiled default synchronous setting, which the
                   run checks is FULL (2) in WAL mode, and says otherwise."""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from services.common.bench_report import Measure

RAW_SQLITE = "raw-sqlite3"
EVENTSOURCING = "eventsourcing"
CHUNK = 250  # appends per column per turn (interleaved_rates)
BATCH_CHUNK = 10  # append_batch: transactions per column per turn

_RAW_SCHEMA = """CREATE TABLE events (
    position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
    stream_type TEXT NOT NULL, version INTEGER NOT NULL, type TEXT NOT NULL,
    schema_version INTEGER NOT NULL, payload BLOB NOT NULL, occurred_at_us INTEGER NOT NULL,
    recorded_at_us INTEGER NOT NULL, region TEXT NOT NULL, service TEXT NOT NULL,
    actor_kind TEXT NOT NULL, actor_clerk_id TEXT NOT NULL, actor_office_code TEXT NOT NULL,
    actor_region TEXT NOT NULL, actor_role TEXT NOT NULL, correlation_id TEXT NOT NULL,
    causation_id TEXT NOT NULL, traceparent TEXT NOT NULL, tracestate TEXT NOT NULL,
    prev_hash BLOB NOT NULL, hash BLOB NOT NULL, global_hash BLOB NOT NULL,
    UNIQUE (stream_id, version))"""
_RAW_INSERT = f"INSERT INTO events VALUES ({', '.join('?' * 24)})"


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# Appends one chunk of a measure (indices into its prepared work) and returns the seconds it took.
ChunkRunner = Callable[[range], float]


def interleaved_rates(runners: Mapping[str, ChunkRunner], count: int, chunk: int = CHUNK,
                      per_item: int = 1) -> dict[str, float]:
    """{name: appends/s} of each runner over `count` items (appends, or batches of `per_item`
    events), taken `chunk` at a time in turn: on a shared machine a load that comes and goes then
    weighs on every column alike, so the ratios of the same run mean something even when the
    absolute rates do not."""
    spent = dict.fromkeys(runners, 0.0)
    for start in range(0, count, chunk):
        part = range(start, min(start + chunk, count))
        for name, run in runners.items():
            spent[name] += run(part)
    return {name: _rate(count * per_item, seconds) for name, seconds in spent.items()}


@contextmanager
def raw_sqlite_runner(count: int, payload: Callable[[int], bytes], directory: Path) -> Iterator[ChunkRunner]:
    """One-row transactions with plain sqlite3, WAL and synchronous=FULL."""
    conn = _raw_connection(directory / "raw.db")
    try:
        rows = [_raw_row(i, f"raw-{i:07d}", 1, payload) for i in range(count)]

        def run(part: range) -> float:
            started = time.perf_counter()
            for i in part:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(_RAW_INSERT, rows[i])
                conn.execute("COMMIT")
            return time.perf_counter() - started

        yield run
    finally:
        conn.close()


@contextmanager
def raw_batch_runner(batches: int, size: int, payload: Callable[[int], bytes], directory: Path
                     ) -> Iterator[ChunkRunner]:
    """`size` rows of one new stream per BEGIN IMMEDIATE/executemany/COMMIT, WAL, synchronous=FULL.
    Its runner takes batch numbers."""
    conn = _raw_connection(directory / "raw-batch.db")
    try:
        work = [[_raw_row(b * size + j, f"raw-batch-{b:06d}", j + 1, payload) for j in range(size)]
                for b in range(batches)]

        def run(part: range) -> float:
            started = time.perf_counter()
            for b in part:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_RAW_INSERT, work[b])
                conn.execute("COMMIT")
            return time.perf_counter() - started

        yield run
    finally:
        conn.close()


def _raw_connection(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(_RAW_SCHEMA)
    return conn


def _raw_row(i: int, stream_id: str, version: int, payload: Callable[[int], bytes]) -> tuple[object, ...]:
    """Row `i` (position i + 1) with Tongban's 24 columns; ids and hashes made outside the clock."""
    digest = bytes(32)
    return (i + 1, str(uuid.uuid4()), stream_id, "bench", version, "google.protobuf.StringValue", 1, payload(i),
            1_767_225_600_000_000 + i, 1_767_225_600_000_000 + i, "640000", "bench", "clerk", "clerk-007",
            "640104-MRO-01", "640000", "clerk", f"raw-{i}", f"cmd-{i}", f"00-{uuid.uuid4().hex}-{'0' * 16}-01", "",
            digest, digest, digest)


def eventsourcing_available() -> str | None:
    """The installed eventsourcing version, or None."""
    try:
        from importlib.metadata import version

        import eventsourcing.sqlite  # noqa: F401
    except ImportError:
        return None
    return version("eventsourcing")


def sqlite_default_synchronous(directory: Path) -> int:
    """The synchronous level a new WAL-mode connection gets when it sets none (2 = FULL)."""
    conn = sqlite3.connect(directory / "probe.db")
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        return int(conn.execute("PRAGMA synchronous").fetchone()[0])
    finally:
        conn.close()


@contextmanager
def eventsourcing_runner(count: int, payload: Callable[[int], bytes], directory: Path) -> Iterator[ChunkRunner]:
    """eventsourcing's SQLite application recorder, one stored event per call."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(directory / "eventsourcing.db"))
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        work = [StoredEvent(originator_id=uuid.uuid4(), originator_version=1, topic="bench:Started",
                            state=payload(i)) for i in range(count)]

        def run(part: range) -> float:
            started = time.perf_counter()
            for i in part:
                recorder.insert_events([work[i]])
            return time.perf_counter() - started

        yield run
    finally:
        datastore.close()


@contextmanager
def eventsourcing_batch_runner(batches: int, size: int, payload: Callable[[int], bytes], directory: Path
                               ) -> Iterator[ChunkRunner]:
    """eventsourcing's batched insert: `size` stored events of one new aggregate in one
    `insert_events` call (one transaction). Its runner takes batch numbers."""
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    datastore = SQLiteDatastore(str(directory / "eventsourcing-batch.db"))
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        work = []
        for b in range(batches):
            originator = uuid.uuid4()
            work.append([StoredEvent(originator_id=originator, originator_version=j + 1, topic="bench:Started",
                                     state=payload(b * size + j)) for j in range(size)])

        def run(part: range) -> float:
            started = time.perf_counter()
            for b in part:
                recorder.insert_events(work[b])
            return time.perf_counter() - started

        yield run
    finally:
        datastore.close()


@contextmanager
def baseline_runners(count: int, payload: Callable[[int], bytes], notes: list[str], *, batch_size: int = 0
                     ) -> Iterator[dict[str, ChunkRunner]]:
    """{backend: runner} for the baselines that can run here (in a temp dir of their own), noting
    in `notes` what ran and how. With `batch_size`, runners of `count` batches of that many events
    (append_batch) instead of `count` single appends."""
    batched = batch_size > 0
    with tempfile.TemporaryDirectory(prefix="tongban-bench-baseline-") as tmp, ExitStack() as stack:
        directory = Path(tmp)
        measure = "append_batch" if batched else "append_single"
        if batched:
            runners = {RAW_SQLITE: stack.enter_context(raw_batch_runner(count, batch_size, payload, directory))}
            how = f"{batch_size} INSERTs (executemany) per BEGIN IMMEDIATE/COMMIT"
        else:
            runners = {RAW_SQLITE: stack.enter_context(raw_sqlite_runner(count, payload, directory))}
            how = "one INSERT per BEGIN IMMEDIATE/COMMIT"
        notes.append(f"{RAW_SQLITE} {measure}: plain sqlite3 {sqlite3.sqlite_version}, {how}, WAL, "
                     "synchronous=FULL, no hash chain")
        version = eventsourcing_available()
        if version is None:
            notes.append(f"{EVENTSOURCING}: not installed (pip install -e '.[dev]'); not measured")
        else:
            runners[EVENTSOURCING] = stack.enter_context(
                eventsourcing_batch_runner(count, batch_size, payload, directory) if batched
                else eventsourcing_runner(count, payload, directory))
            level = sqlite_default_synchronous(directory)
            durability = "synchronous=FULL" if level == 2 else f"synchronous={level}, NOT FULL: not comparable"
            calls = f"{batch_size} stored events of one aggregate per insert_events" if batched else \
                "one stored event per insert_events"
            notes.append(f"{EVENTSOURCING} {measure}: eventsourcing {version} SQLiteApplicationRecorder, {calls}, "
                         f"WAL, {durability}")
        turn = f"{BATCH_CHUNK} transactions of {batch_size}" if batched else f"{CHUNK} appends"
        notes.append(f"{measure}: Tongban and the baselines take turns, {turn} each, so they share "
                     "the machine's load alike")
        yield runners


def _ratio(results: list[Measure], name: str, mine: str, theirs: str, backend: str) -> list[Measure]:
    """`name`: SQLite's `mine` over `backend`'s `theirs`, when both were measured."""
    value = {(m.name, m.backend): m.value for m in results}
    if ("sqlite" not in {m.backend for m in results if m.name == mine}) or not value.get((theirs, backend)):
        return []
    return [Measure(name, value[(mine, "sqlite")] / value[(theirs, backend)], "×", "sqlite")]


def versus_baselines(results: list[Measure]) -> list[Measure]:
    """Tongban's SQLite rates as multiples of the baselines', same run: single and batched appends
    against the eventsourcing library and raw sqlite3, and the verifying replay against the
    library's and raw sqlite3's plain reads (bench_replay.py)."""
    return [*_ratio(results, "append_single_vs_eventsourcing", "append_single", "append_single", EVENTSOURCING),
            *_ratio(results, "append_batch_vs_raw", "append_batch", "append_batch", RAW_SQLITE),
            *_ratio(results, "append_batch_vs_eventsourcing", "append_batch", "append_batch", EVENTSOURCING),
            *_ratio(results, "replay_verify_vs_eventsourcing_read", "replay_verify", "replay_read", EVENTSOURCING),
            *_ratio(results, "replay_verify_vs_raw_read", "replay_verify", "replay_read", RAW_SQLITE)]
