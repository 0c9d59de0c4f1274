"""`tongban bench store --growth`: what an append costs as the store grows, and how long a long
stream takes to load (issue 15). Opt-in, because filling a store takes a while.

append_single_at_10k   single-event appends/s (new streams, one transaction each) into a store
                       that already holds 10,000 events
stream_load_10000      median ms to load a 10,000-event stream (read_stream: every event decoded)
append_single_at_1m    the same appends into a store holding 1,000,000 events (--growth-million)

The store is filled with the store's own batched appends (1,000 events per transaction), so the
chains are real and the filled store verifies; filling is not timed. The measured appends are
1,000 per size (fewer when the store is small). Nothing here judges the numbers."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable

from services.common.bench_report import Measure
from services.common.events import NewEvent
from services.common.store import NO_STREAM, EventStore

FILL_BATCH = 1_000
APPENDS = 1_000
LONG_STREAM = 10_000
LOADS = 5


def size_label(events: int) -> str:
    if events % 1_000_000 == 0:
        return f"{events // 1_000_000}m"
    if events % 1_000 == 0:
        return f"{events // 1_000}k"
    return str(events)


def grow_to(store: EventStore, tag: str, target: int, new_event: Callable[[int, str], NewEvent],
            stream_type: str) -> int:
    """Append batches until the store holds `target` events; returns how many it holds."""
    held, _ = store.head()
    while held < target:
        count = min(FILL_BATCH, target - held)
        stream_id = f"{tag}-fill-{held:09d}"
        store.append(stream_id, stream_type, NO_STREAM, [new_event(held + i, stream_id) for i in range(count)])
        held += count
    return held


def append_rate(store: EventStore, tag: str, count: int, new_event: Callable[[int, str], NewEvent],
                stream_type: str) -> float:
    work = [(f"{tag}-{i:06d}", new_event(i, f"{tag}-{i}")) for i in range(count)]
    started = time.perf_counter()
    for stream_id, event in work:
        store.append(stream_id, stream_type, NO_STREAM, [event])
    elapsed = time.perf_counter() - started
    return count / elapsed if elapsed > 0 else float("inf")


def long_stream_load_ms(store: EventStore, tag: str, length: int, new_event: Callable[[int, str], NewEvent],
                        stream_type: str) -> float:
    stream_id = f"{tag}-long-{length}"
    for start in range(0, length, FILL_BATCH):
        chunk = range(start, min(start + FILL_BATCH, length))
        store.append(stream_id, stream_type, start, [new_event(i, stream_id) for i in chunk])
    timings = []
    for _ in range(LOADS):
        started = time.perf_counter()
        loaded = store.read_stream(stream_id)
        timings.append(time.perf_counter() - started)
        if len(loaded) != length:
            raise RuntimeError(f"loaded {len(loaded)} events of {stream_id}, expected {length}")
    return statistics.median(timings) * 1000


def growth_measures(store: EventStore, tag: str, sizes: list[int], new_event: Callable[[int, str], NewEvent],
                    stream_type: str, progress: Callable[[str], None], long_stream: int = LONG_STREAM
                    ) -> list[tuple[str, float, str]]:
    """[(name, value, unit)] for each store size in `sizes` (ascending), and the long-stream load.
    A measure is named after the size the store really had (a given database may hold more)."""
    out: list[tuple[str, float, str]] = []
    started = time.perf_counter()
    out.append((f"stream_load_{long_stream}", long_stream_load_ms(store, tag, long_stream, new_event, stream_type),
                "ms"))
    progress(f"stream_load_{long_stream}: {out[-1][1]:.1f} ms ({time.perf_counter() - started:.1f} s)")
    for target in sizes:
        started = time.perf_counter()
        held = grow_to(store, tag, target, new_event, stream_type)
        progress(f"filled the store to {held:,} events ({time.perf_counter() - started:.1f} s, untimed)")
        label = size_label(held)
        rate = append_rate(store, f"{tag}-at-{label}", min(APPENDS, max(1, held // 10)), new_event, stream_type)
        out.append((f"append_single_at_{label}", rate, "appends/s"))
        progress(f"append_single_at_{label}: {rate:,.0f} appends/s")
    return out


def run_growth(backend: str, url: str, million: bool, region: str, new_event: Callable[[int, str], NewEvent],
               stream_type: str, progress: Callable[[str], None]) -> list[Measure]:
    store = EventStore.open(url, region=region, service="bench")
    tag = f"g{uuid.uuid4().hex[:10]}"
    try:
        found = growth_measures(store, tag, [10_000, *([1_000_000] if million else [])], new_event, stream_type,
                                lambda message: progress(f"[{backend}] {message}"))
    finally:
        store.close()
    return [Measure(name, value, unit, backend) for name, value, unit in found]
