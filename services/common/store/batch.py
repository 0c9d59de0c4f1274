"""Many single appends in one statement batch: how a group-commit leader (group.py) records the
plain appends queued by concurrent writers.

Under the head lock (which the group's transaction holds), the stream heads of every request are
read at once and each request's optimistic-concurrency check is decided here, exactly as the
one-at-a-time append decides it; the rows of every request that passes are chained one after
another (each stream's chain, and the store-wide chain in request order) and written with one
executemany and one head update. A request that fails its check fails alone and writes nothing. If
the database refuses the batch (a reused event id), the caller undoes it and retries the requests
one by one, so the refusal reaches only the request it belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.common.errors import ConcurrencyConflict
from services.common.events import NewEvent, RecordedEvent
from services.common.hashing import GENESIS
from services.common.store import driver
from services.common.store.rows import build_rows

if TYPE_CHECKING:
    from services.common.store.store import StoreTransaction


@dataclass(frozen=True)
class AppendRequest:
    stream_id: str
    stream_type: str
    expected_version: int | None
    new_events: Sequence[NewEvent]


def append_many(tx: StoreTransaction, requests: Sequence[AppendRequest]
                ) -> list[list[RecordedEvent] | BaseException]:
    """Each request's recorded events, or the exception it fails with alone. Raises (having
    written nothing it will not undo) only when the database refuses the batch as a whole."""
    head = tx.lock_head_now()
    streams = tx.stream_heads_seen
    unknown = list(dict.fromkeys(r.stream_id for r in requests if r.stream_id not in streams))
    if unknown:
        found = driver.stream_heads(tx.connection, tx.sql, unknown)
        for stream_id in unknown:
            row = found.get(stream_id)
            streams[stream_id] = (int(row[0]), bytes(row[1])) if row else (0, GENESIS)
    planned = dict(streams)  # committed to `streams` only once the batch is written
    store = tx.store
    now = store.clock.now()
    outcomes: list[list[RecordedEvent] | BaseException] = []
    rows_all = []
    for r in requests:
        if not r.new_events:
            outcomes.append([])
            continue
        if not r.stream_id:
            outcomes.append(ValueError("stream_id must not be empty"))
            continue
        version = planned[r.stream_id][0]
        if r.expected_version is not None and r.expected_version != version:
            outcomes.append(ConcurrencyConflict(r.stream_id, r.expected_version, version))
            continue
        rows, recorded, head, planned[r.stream_id] = build_rows(
            region=store.region, service=store.service, now=now, stream_id=r.stream_id,
            stream_type=r.stream_type, stream=planned[r.stream_id], head=head, new_events=r.new_events)
        rows_all += rows
        outcomes.append(recorded)
    if rows_all:
        driver.write_events(tx.connection, tx.sql, rows_all, head)
        tx.moved_head(head)
        streams.update(planned)
    return outcomes
