"""Verification of a store's hash chains (architecture invariant 3): names the first event whose
content, order or link is wrong. Pure over a sequence of events, so the same check runs on a
store, on a Kafka topic's copy of it, or on an exported trail."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.events import RecordedEvent
from services.common.hashing import GENESIS, event_hash, global_hash


@dataclass(frozen=True)
class ChainProblem:
    position: int
    stream_id: str
    version: int
    event_id: str
    reason: str

    def __str__(self) -> str:
        return (f"position {self.position}, stream {self.stream_id} version {self.version} "
                f"(event {self.event_id}): {self.reason}")


@dataclass(frozen=True)
class VerifyReport:
    events_checked: int
    streams: int
    head_position: int
    problem: ChainProblem | None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify_events(log: Iterable[RecordedEvent], *, head: tuple[int, bytes] | None = None) -> VerifyReport:
    """Check a global log given in position order. `head` is the store's recorded (position,
    global hash); when given, events removed from the end of the log are caught too."""
    streams: dict[str, tuple[int, bytes]] = {}
    last_position, last_global = 0, GENESIS
    checked = 0
    for e in log:
        checked += 1
        fault = _fault(e, streams.get(e.stream_id, (0, GENESIS)), last_position, last_global)
        if fault is not None:
            return VerifyReport(checked, len(streams), last_position,
                                ChainProblem(e.position, e.stream_id, e.version, e.event_id, fault))
        streams[e.stream_id] = (e.version, e.hash)
        last_position, last_global = e.position, e.global_hash
    if head is not None and (last_position, last_global) != (head[0], head[1]):
        return VerifyReport(checked, len(streams), last_position, ChainProblem(
            head[0], "", 0, "",
            f"the store head says the log ends at position {head[0]} but it ends at {last_position} "
            "(events removed from the end, or the head rewritten)"))
    return VerifyReport(checked, len(streams), last_position, None)


def _fault(e: RecordedEvent, stream_head: tuple[int, bytes], last_position: int, last_global: bytes) -> str | None:
    """What is wrong with `e` given what came before it, or None."""
    if e.position != last_position + 1:
        if e.position <= last_position:
            return f"out of order: position {e.position} after {last_position}"
        return f"positions {last_position + 1}..{e.position - 1} are missing (events removed)"
    version, prev = stream_head
    if e.version != version + 1:
        return (f"stream version {e.version} follows version {version} "
                f"(expected {version + 1}: event removed or reordered)")
    if e.prev_hash != prev:
        return f"prev_hash does not link to version {version} of the stream"
    if event_hash(e.prev_hash, e) != e.hash:
        return "content altered: the hash does not match the event's canonical bytes"
    if global_hash(last_global, e.position, e.hash) != e.global_hash:
        return "store-wide chain broken: global_hash does not link to the previous position"
    return None


def verify_store(store: object) -> VerifyReport:
    """Verify an EventStore's whole log against its recorded head."""
    from services.common.store.store import EventStore

    assert isinstance(store, EventStore)
    # Take the head first and read the log only up to it: appends made while we verify a live
    # store are not in this check, and must not be mistaken for rows past the head.
    head = store.head()
    return verify_events(itertools.takewhile(lambda e: e.position <= head[0], store.iter_log()), head=head)
