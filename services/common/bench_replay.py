"""`tongban bench store`'s replay line against baselines of the same run, on the same machine:
Tongban's `verify_store` (every row read, every event's canonical bytes re-hashed, both chains and
the head checked) takes turns with two readers of as many events, ROUNDS times each:

- eventsourcing   the library's own read path, what one of its projections does: its
                  `SQLiteApplicationRecorder.select_notifications` in pages of PAGE (the same page
                  as verify_store's), each notification turned into its domain event by its
                  `Mapper` (the JSON transcoder with the UUID, Decimal and datetime transcodings
                  its `Application` registers). The events are an `AggregateEvent` subclass
                  carrying its originator id, version and timestamp and the same payload text as
                  Tongban's events (as a JSON string): the library has no place for Tongban's
                  provenance fields (actor, correlation, trace), so its rows are smaller than
                  Tongban's: the comparison leans its way. No hashing, no verification: it has none.
- raw-sqlite3     the floor: plain sqlite3 fetching the very rows verify_store checks, every
                  column, from Tongban's own file, in pages of PAGE. Nothing decoded, nothing hashed.

Each side's rate is from its fastest of ROUNDS reads, taken in turn: on a shared machine a burst
of load from elsewhere slows whichever read it lands on, and the fastest read of each side is the
one it spared. The library's log is written beforehand (untimed), 100 events per
`insert_events` call, in a temp dir of its own with SQLite's defaults (WAL)."""

from __future__ import annotations

import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.bench_baselines import eventsourcing_available
from services.common.bench_events import payload_text
from services.common.bench_report import BenchError
from services.common.store import EventStore, verify_store

PAGE = 10_000  # rows per read, the same as verify_store's default page
ROUNDS = 5
FILL_BATCH = 100


class ReplayBaselineError(RuntimeError):
    """A baseline read back a different number of events than it wrote."""


# Reads everything once and returns (events read, seconds).
Reader = Callable[[], tuple[int, float]]


def _mapper() -> Any:
    """The mapper an eventsourcing `Application` builds by default (no cipher, no compressor)."""
    from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex

    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder)


@contextmanager
def eventsourcing_reader(count: int, payload_text: Callable[[int], str], directory: Path) -> Iterator[Reader]:
    from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

    from services.common.bench_replay_event import CaseRecorded

    datastore = SQLiteDatastore(str(directory / "eventsourcing-read.db"))
    try:
        recorder = SQLiteApplicationRecorder(datastore)
        recorder.create_table()
        mapper = _mapper()
        now = datetime.now(UTC)
        for start in range(0, count, FILL_BATCH):
            originator = uuid.uuid4()
            recorder.insert_events([
                mapper.to_stored_event(CaseRecorded(originator_id=originator, originator_version=v + 1,
                                                    timestamp=now, payload=payload_text(start + v)))
                for v in range(min(FILL_BATCH, count - start))])

        def read() -> tuple[int, float]:
            started = time.perf_counter()
            seen, after = 0, 0
            to_domain_event = mapper.to_domain_event
            while True:
                page = recorder.select_notifications(after, PAGE, inclusive_of_start=False)
                decoded = [to_domain_event(n) for n in page]
                seen += len(decoded)
                if len(page) < PAGE:
                    break
                after = page[-1].id
            return seen, time.perf_counter() - started

        yield read
    finally:
        datastore.close()


@contextmanager
def raw_reader(database: Path) -> Iterator[Reader]:
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        sql = "SELECT * FROM events WHERE position > ? ORDER BY position LIMIT ?"

        def read() -> tuple[int, float]:
            started = time.perf_counter()
            seen, after = 0, 0
            while True:
                page = conn.execute(sql, (after, PAGE)).fetchall()
                seen += len(page)
                if len(page) < PAGE:
                    break
                after = page[-1][0]
            return seen, time.perf_counter() - started

        yield read
    finally:
        conn.close()


def interleaved_reads(readers: dict[str, Reader], rounds: int = ROUNDS) -> dict[str, tuple[float, int]]:
    """{name: (events/s, events per read)} from each reader's fastest of `rounds` reads, taken in
    turn. A whole read lasts a few tenths of a second, so a burst of load from elsewhere lands on
    one side's read, not on all alike; the fastest read is the one it spared. A reader that reads
    a different count in different rounds is an error."""
    best = dict.fromkeys(readers, float("inf"))
    counts: dict[str, int] = {}
    for _ in range(rounds):
        for name, read in readers.items():
            seen, seconds = read()
            if counts.setdefault(name, seen) != seen:
                raise ReplayBaselineError(f"{name} read {seen} events, {counts[name]} the round before")
            best[name] = min(best[name], seconds)
    return {name: (counts[name] / best[name] if best[name] > 0 else float("inf"), counts[name])
            for name in readers}


@contextmanager
def replay_baselines(count: int, payload_text: Callable[[int], str], tongban_file: Path | None
                     ) -> Iterator[dict[str, Reader]]:
    """The baseline readers over `count` events ({backend: reader}); raw sqlite3 only when the
    store is an SQLite file (its path)."""
    from services.common.bench_baselines import EVENTSOURCING, RAW_SQLITE

    with tempfile.TemporaryDirectory(prefix="tongban-bench-replay-") as tmp, ExitStack() as stack:
        readers = {EVENTSOURCING: stack.enter_context(eventsourcing_reader(count, payload_text, Path(tmp)))}
        if tongban_file is not None:
            readers[RAW_SQLITE] = stack.enter_context(raw_reader(tongban_file))
        yield readers


def replay_reader(store: EventStore) -> Callable[[], tuple[int, float]]:
    """One `verify_store` of the whole log: (events checked, seconds)."""
    def read() -> tuple[int, float]:
        started = time.perf_counter()
        report = verify_store(store)
        elapsed = time.perf_counter() - started
        if not report.ok:
            raise BenchError(f"the benchmark store failed verification: {report.problem}")
        return report.events_checked, elapsed

    return read


def bench_replay(store: EventStore, backend: str, url: str, with_baselines: bool, notes: list[str] | None
                 ) -> dict[str, tuple[float, int]]:
    """{column: (events/s, events per read)}: Tongban's verifying replay, and with `with_baselines`
    the eventsourcing library's and raw sqlite3's plain reads of as many events, in turn."""
    if not with_baselines or eventsourcing_available() is None:
        return interleaved_reads({backend: replay_reader(store)})
    count = store.head()[0]
    database = Path(url.removeprefix("sqlite:///")) if backend == "sqlite" else None
    with replay_baselines(count, payload_text, database) as readers:
        found = interleaved_reads({backend: replay_reader(store), **readers})
    if notes is not None:
        notes.append(f"replay: verify_store and the replay_read baselines take turns, {ROUNDS} reads each of "
                     f"{count:,} events (the fastest counted), pages of {PAGE:,}; eventsourcing: "
                     "select_notifications + Mapper.to_domain_event (JSON, UUID, datetime), no hashing; "
                     "raw-sqlite3: fetchall of the same rows from Tongban's file, nothing decoded or hashed")
    return found
