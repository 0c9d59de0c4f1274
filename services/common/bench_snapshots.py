"""`tongban bench store`: loading a long stream as a command does, through the kit's unit of work,
with and without its snapshot (issue 15: a 10,000-event stream loaded in under 50 ms).

aggregate_load_N            median ms for `uow.load` of an N-event stream folded from its first
                            event (every event read, decoded and applied)
aggregate_load_N_snapshot   the same load with the stream's newest snapshot SNAPSHOT_LAG events
                            behind its head: the snapshot read, checked against the log, and the
                            events after it folded (half an interval: an average case)

Writing the stream and taking the snapshot are not timed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

from google.protobuf.wrappers_pb2 import StringValue

from services.common.events import NewEvent, to_micros
from services.common.kit import Aggregate, PayloadCodec, Provenance, UnitsOfWork
from services.common.kit.snapshots import NEVER, SnapshotPolicy, snapshot_of
from services.common.store import EventStore
from services.common.store import snapshots as snapshot_table

AGGREGATE_EVENTS = 10_000
SNAPSHOT_LAG = 50
LOADS = 5
WRITE_BATCH = 1_000


@dataclass(frozen=True)
class Noted:
    value: str


@dataclass
class BenchRecord(Aggregate):
    """A long-lived record: counts what happened to it and keeps the latest entry."""

    stream_type: ClassVar[str] = "bench.Record"
    what: ClassVar[str] = "bench record"
    entries: int = 0
    latest: str = ""

    def when(self, event: Noted) -> None:
        self.entries += 1
        self.latest = event.value


CODEC = PayloadCodec(SimpleNamespace(Noted=StringValue), [Noted])


def measure_names(events: int) -> list[str]:
    return [f"aggregate_load_{events}", f"aggregate_load_{events}_snapshot"]


def bench_aggregate_load(store: EventStore, tag: str, events: int, new_event: Callable[[int, str], NewEvent],
                         actor: object) -> tuple[float, float]:
    """(ms without snapshots, ms with the snapshot), medians of LOADS loads each."""
    stream_id = f"{tag}-record"
    for start in range(0, events, WRITE_BATCH):
        chunk = range(start, min(start + WRITE_BATCH, events))
        store.append(stream_id, BenchRecord.stream_type, start, [new_event(i, stream_id) for i in chunk])
    at = max(1, events - SNAPSHOT_LAG)
    with store.transaction() as tx:
        stream = tx.read_stream(stream_id)[:at]
        state = BenchRecord.fold((CODEC.decode(e), e.recorded_at) for e in stream)
        snapshot = snapshot_of(stream_id, state, stream[-1], to_micros(store.clock.now()))
        assert snapshot is not None, "the bench aggregate always encodes"
        snapshot_table.write(tx.connection, snapshot)
    timings = []
    for policy in (NEVER, SnapshotPolicy(every=100)):
        units = UnitsOfWork(store, CODEC, snapshot_policy=policy)
        taken = []
        for _ in range(LOADS):
            provenance = Provenance.of_command(actor, stream_id, store.clock.now())  # type: ignore[arg-type]
            with units.begin(provenance) as uow:
                started = time.perf_counter()
                loaded = uow.load(BenchRecord, stream_id, for_write=False)
                taken.append(time.perf_counter() - started)
            if loaded.entries != events:
                raise RuntimeError(f"loaded {loaded.entries} entries of {stream_id}, expected {events}")
        timings.append(statistics.median(taken) * 1000)
    return timings[0], timings[1]
