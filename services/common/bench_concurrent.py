"""`tongban bench store`, concurrent writers: single-event appends from many threads at once, as a
service's gRPC handlers make them, with and without group commit (issue 15).

append_32_grouped    32 threads, each appending one event per transaction to new streams, over a
                     store with group commit (store/group.py): their transactions share commits.
append_32_ungrouped  the same 32 threads over a store without it: one commit each, queued on the
                     write lock (SQLite) or the head row lock (PostgreSQL).
Both in appends/s over the whole run (first thread started to last thread finished); the events
are built before the clock starts. Nothing here judges the numbers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime

from services.common.events import NewEvent
from services.common.store import NO_STREAM, EventStore, verify_store

WRITERS = 32
MAX_GROUP = 64
GROUPED = f"append_{WRITERS}_grouped"
UNGROUPED = f"append_{WRITERS}_ungrouped"
MEASURES = (GROUPED, UNGROUPED)


class ConcurrentBenchError(RuntimeError):
    pass


def bench_append_concurrent(url: str, *, region: str, service: str, stream_type: str, tag: str,
                            count: int, grouped: bool, new_event: Callable[[int, str], NewEvent],
                            now: Callable[[], datetime] | None = None) -> tuple[float, str]:
    """(appends/s, a note on the groups formed) for `count` appends by WRITERS threads."""
    store = EventStore.open(url, region=region, service=service, create=False,
                            group_commit=MAX_GROUP if grouped else 0)
    label = "grouped" if grouped else "ungrouped"
    per_writer = [[(f"{tag}-{label}-{w}-{i:06d}", new_event(i, f"{tag}-{label}-{w}"))
                   for i in range(w, count, WRITERS)] for w in range(WRITERS)]
    start = threading.Barrier(WRITERS + 1)
    failures: list[BaseException] = []

    def writer(work: list[tuple[str, NewEvent]]) -> None:
        start.wait()
        try:
            for stream_id, event in work:
                store.append(stream_id, stream_type, NO_STREAM, [event])
        except BaseException as exc:  # reported below, after every thread has ended
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(work,), daemon=True) for work in per_writer]
    try:
        for t in threads:
            t.start()
        start.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise ConcurrentBenchError(f"{len(failures)} writer(s) failed: {failures[0]!r}")
        note = ""
        if store.group is not None and store.group.groups_committed:
            group = store.group
            note = (f"{group.commands_committed:,} commands in {group.groups_committed:,} commits "
                    f"(mean group {group.commands_committed / group.groups_committed:.1f})")
        report = verify_store(store)
        if not report.ok:
            raise ConcurrentBenchError(f"the store failed verification after {label} appends: {report.problem}")
        return (count / elapsed if elapsed > 0 else float("inf")), note
    finally:
        store.close()
