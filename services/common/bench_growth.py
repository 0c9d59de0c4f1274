"""`tongban bench store --growth`: what an append costs as the store grows, and how long a long
stream takes to load (issue 15). Opt-in, because filling a store takes a while.

append_single_at_10k   single-event appends/s (new streams, one transaction each) into a store
                       that already holds 10,000 events
stream_load_10000      median ms to load a 10,000-event stream (read_stream: every event decoded)
append_single_at_1m    the same appends into a store holding 1,000,000 events (--growth-million)
append_single_1m_vs_10k  the rate at 1m as a multiple of the rate at 10k (issue 15: within 20%)

With --growth-million each size has a store of its own, and the two rates are taken 100 appends at
a time in turn, so a load that comes and goes on a shared machine weighs on both alike.

The store is filled with the store's own batched appends (1,000 events per transaction), so the
chains are real and the filled store verifies; filling is not timed. The measured appends are
1,000 per size (fewer when the store is small). Nothing here judges the numbers."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Sequence

from services.common.bench_report import Measure
from services.common.events import NewEvent
from services.common.store import NO_STREAM, EventStore

FILL_BATCH = 1_000
APPENDS = 1_000
CHUNK = 100  # appends per store per turn (interleaved_rates)
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


def interleaved_rates(stores: Sequence[EventStore], tag: str, count: int,
                      new_event: Callable[[int, str], NewEvent], stream_type: str) -> list[float]:
    """Single-append rates of `stores`, taken CHUNK appends at a time in turn, so every store sees
    the same machine: on a shared machine a load that comes and goes otherwise lands on one size
    and reads as growth (or its absence)."""
    spent = [0.0] * len(stores)
    done = 0
    while done < count:
        chunk = min(CHUNK, count - done)
        for k, store in enumerate(stores):
            work = [(f"{tag}-{k}-{done + i:06d}", new_event(done + i, f"{tag}-{k}-{done + i}")) for i in range(chunk)]
            started = time.perf_counter()
            for stream_id, event in work:
                store.append(stream_id, stream_type, NO_STREAM, [event])
            spent[k] += time.perf_counter() - started
        done += chunk
    return [count / elapsed if elapsed > 0 else float("inf") for elapsed in spent]


def growth_measures(stores: Sequence[EventStore], tag: str, sizes: list[int],
                    new_event: Callable[[int, str], NewEvent], stream_type: str, progress: Callable[[str], None],
                    long_stream: int = LONG_STREAM) -> list[tuple[str, float, str]]:
    """[(name, value, unit)] for each store size in `sizes` (ascending), and the long-stream load.
    With one store per size, each is filled to its size and the rates are taken in turn
    (interleaved_rates), with the largest size's rate as a multiple of the smallest's; with a
    single store, it is grown through the sizes and measured at each. A measure is named after the
    size the store really had (a given database may hold more)."""
    out: list[tuple[str, float, str]] = []
    started = time.perf_counter()
    out.append((f"stream_load_{long_stream}",
                long_stream_load_ms(stores[0], tag, long_stream, new_event, stream_type), "ms"))
    progress(f"stream_load_{long_stream}: {out[-1][1]:.1f} ms ({time.perf_counter() - started:.1f} s)")
    if len(stores) == len(sizes) > 1:
        labels = []
        for store, target in zip(stores, sizes, strict=True):
            started = time.perf_counter()
            held = grow_to(store, tag, target, new_event, stream_type)
            progress(f"filled a store to {held:,} events ({time.perf_counter() - started:.1f} s, untimed)")
            labels.append((size_label(held), held))
        count = min(APPENDS, max(1, min(held for _, held in labels) // 10))
        rates = interleaved_rates(stores, f"{tag}-at", count, new_event, stream_type)
        for (label, _), rate in zip(labels, rates, strict=True):
            out.append((f"append_single_at_{label}", rate, "appends/s"))
            progress(f"append_single_at_{label}: {rate:,.0f} appends/s (taken in turn with the other sizes)")
        out.append((f"append_single_{labels[-1][0]}_vs_{labels[0][0]}", rates[-1] / rates[0], "×"))
        return out
    for target in sizes:
        started = time.perf_counter()
        held = grow_to(stores[0], tag, target, new_event, stream_type)
        progress(f"filled the store to {held:,} events ({time.perf_counter() - started:.1f} s, untimed)")
        label = size_label(held)
        rate = append_rate(stores[0], f"{tag}-at-{label}", min(APPENDS, max(1, held // 10)), new_event,
                           stream_type)
        out.append((f"append_single_at_{label}", rate, "appends/s"))
        progress(f"append_single_at_{label}: {rate:,.0f} appends/s")
    return out


def run_growth(backend: str, urls: Sequence[str], million: bool, region: str,
               new_event: Callable[[int, str], NewEvent], stream_type: str,
               progress: Callable[[str], None]) -> list[Measure]:
    """`urls`: a fresh store per size (10k, then 1M), or a single database grown through both."""
    sizes = [10_000, *([1_000_000] if million else [])]
    stores = [EventStore.open(url, region=region, service="bench") for url in urls[:len(sizes)]]
    tag = f"g{uuid.uuid4().hex[:10]}"
    try:
        found = growth_measures(stores, tag, sizes, new_event, stream_type,
                                lambda message: progress(f"[{backend}] {message}"))
    finally:
        for store in stores:
            store.close()
    return [Measure(name, value, unit, backend) for name, value, unit in found]
