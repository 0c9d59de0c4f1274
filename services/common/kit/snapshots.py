"""Aggregate snapshots: loading a long stream without folding all of it (issue 15).

Every `SnapshotPolicy.every` events (data: per service, per stream type) the unit of work stores
the aggregate's state beside the log, in the transaction that recorded the event reaching the
multiple, with the stream version, global position and chain hash of that event. A load then
takes the snapshot and folds only the events after it.

A snapshot is a cache, never truth (architecture invariant 1). A load uses one only when
  * it was written for this aggregate's current shape (`Aggregate.snapshot_version` and the digest
    of its fields): code that changed shape ignores older snapshots;
  * the log still holds the very event it was taken at (same version, same chain hash);
  * its bytes decode.
Otherwise the load logs a warning and replays the whole stream. Whether a snapshot's state is what
a replay gives is checked by `tongban audit verify` (`verify_snapshots`), and `tongban audit
snapshots --rebuild` retakes every snapshot from the log (`rebuild_snapshots`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from services.common.events import RecordedEvent, to_micros
from services.common.kit.aggregate import Aggregate
from services.common.kit.codec import PayloadCodec
from services.common.kit.state_codec import decode_state, encode_state, shape_of
from services.common.store import snapshots as table
from services.common.store.snapshots import StoredSnapshot

log = logging.getLogger(__name__)

A = TypeVar("A", bound=Aggregate)

# Events between snapshots by default: a case of a few dozen events never has one; a counter or
# a long-lived record gets one every hundred events, so a load folds fewer than a hundred.
SNAPSHOT_EVERY = 100


@dataclass(frozen=True)
class SnapshotPolicy:
    """How often to snapshot: `every` events (0: never), or `by_type[stream_type]` for that type."""

    every: int = SNAPSHOT_EVERY
    by_type: Mapping[str, int] = field(default_factory=dict)

    def every_for(self, stream_type: str) -> int:
        return self.by_type.get(stream_type, self.every)

    def due(self, stream_type: str, before: int, after: int) -> bool:
        """Whether recording versions before+1..after passes a multiple of the interval."""
        n = self.every_for(stream_type)
        return n > 0 and after // n > before // n


NEVER = SnapshotPolicy(every=0)


def shape(cls: type[Aggregate]) -> str:
    """What a snapshot of `cls` is stamped with: its snapshot version and the digest of its fields."""
    return f"{cls.snapshot_version}.{shape_of(cls)}"


def snapshot_of(stream_id: str, state: Aggregate, at: RecordedEvent, taken_at_us: int) -> StoredSnapshot | None:
    """The snapshot of `state`, the fold up to the event `at`; None when the state does not survive
    encoding unchanged (a type the encoder does not know): that aggregate is then only replayed."""
    cls = type(state)
    try:
        data = encode_state(state)
        if decode_state(cls, data) != state:
            raise TypeError("the state does not decode to itself")
    except (TypeError, ValueError, KeyError) as exc:
        log.warning("no snapshot of %s %s: %s", cls.__name__, stream_id, exc)
        return None
    return StoredSnapshot(stream_id, cls.stream_type, shape(cls), at.version, at.position, at.hash, data, taken_at_us)


def usable_state(cls: type[A], snapshot: StoredSnapshot) -> A | None:
    """The snapshot's state if it is of `cls`'s current shape and decodes; None (with a warning
    for bytes that do not decode) otherwise."""
    if snapshot.stream_type != cls.stream_type or snapshot.shape != shape(cls):
        return None  # another type, or written by code of another shape: not a fault, just unused
    try:
        state: A = decode_state(cls, snapshot.state)
    except Exception as exc:  # corrupt bytes: a cache miss, never a failed load
        log.warning("snapshot of %s at version %d is unreadable (%s); replaying the stream",
                    snapshot.stream_id, snapshot.version, exc)
        return None
    return state


def load(tx: Any, cls: type[A], stream_id: str, codec: PayloadCodec, *, use_snapshot: bool = True) -> A | None:
    """The aggregate of `stream_id` (None: no such stream, or another type), from its snapshot and
    the events after it when a usable one matches the log, else from the whole stream."""
    if not use_snapshot:
        stream = tx.read_stream(stream_id)
    else:
        snapshot, tail = table.read_with_tail(tx.connection, stream_id)
        stream = tail  # without a snapshot the tail is the whole stream…
        if snapshot is None and tail and tail[0].version != 1:
            stream = tx.read_stream(stream_id)  # …unless one was taken between the two statements
        elif snapshot is not None:
            state = usable_state(cls, snapshot)
            # The tail starts at the snapshot's own event: the log must still have it.
            if state is not None and tail and tail[0].version == snapshot.version and \
                    tail[0].hash == snapshot.hash and tail[0].stream_type == cls.stream_type:
                return state.extended((codec.decode(e), e.recorded_at) for e in tail[1:])
            if state is not None:
                log.warning("snapshot of %s at version %d is not in the log; replaying the stream", stream_id,
                            snapshot.version)
            stream = tx.read_stream(stream_id)
    if not stream or stream[0].stream_type != cls.stream_type:
        return None
    return cls.fold((codec.decode(e), e.recorded_at) for e in stream)


def take(tx: Any, stream_id: str, state: Aggregate, at: RecordedEvent) -> None:
    """Store the snapshot of `state` (the fold up to `at`) in `tx`, when it encodes."""
    snapshot = snapshot_of(stream_id, state, at, to_micros(tx.store.clock.now()))
    if snapshot is not None:
        table.write(tx.connection, snapshot)


# -- what the auditor's tools know: every aggregate type and every codec loaded ----------------------


def aggregate_types() -> dict[str, type[Aggregate]]:
    """stream_type → Aggregate subclass, of every subclass imported so far."""
    found: dict[str, type[Aggregate]] = {}
    pending = list(Aggregate.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.stream_type:
            found[cls.stream_type] = cls
    return found


class Decoder:
    """Decodes events with whichever loaded codec owns their type."""

    def __init__(self, codecs: Iterable[PayloadCodec]) -> None:
        self._codecs = list(codecs)
        self._by_type: dict[str, PayloadCodec] = {}

    def decode(self, event: RecordedEvent) -> Any:
        codec = self._by_type.get(event.type)
        if codec is None:
            codec = next((c for c in self._codecs if c.owns(event.type)), None)
            if codec is None:
                raise LookupError(f"no codec loaded reads {event.type}")
            self._by_type[event.type] = codec
        return codec.decode(event)


@dataclass(frozen=True)
class SnapshotFinding:
    stream_id: str
    version: int
    reason: str
    bad: bool  # a snapshot that is wrong (bad) or only unused/unchecked (not bad)

    def __str__(self) -> str:
        return f"snapshot of {self.stream_id} at version {self.version}: {self.reason}"


@dataclass
class SnapshotReport:
    checked: int = 0
    findings: list[SnapshotFinding] = field(default_factory=list)

    @property
    def bad(self) -> list[SnapshotFinding]:
        return [f for f in self.findings if f.bad]


def check_snapshot(snapshot: StoredSnapshot, stream: list[RecordedEvent], cls: type[Aggregate] | None,
                   decoder: Decoder) -> SnapshotFinding | None:
    """What is wrong with `snapshot`, given its stream up to its version (None: it is right)."""
    def finding(reason: str, bad: bool = True) -> SnapshotFinding:
        return SnapshotFinding(snapshot.stream_id, snapshot.version, reason, bad)

    if cls is None:
        return finding(f"aggregate type {snapshot.stream_type} is not known here: not checked", bad=False)
    if snapshot.shape != shape(cls):
        return finding("written for another shape of the aggregate: unused by loads", bad=False)
    at = stream[-1] if stream else None
    if at is None or at.version != snapshot.version or at.hash != snapshot.hash or at.position != snapshot.position:
        return finding("does not match the log at its version (hash, position or the event itself)")
    try:
        state = decode_state(cls, snapshot.state)
    except Exception as exc:
        return finding(f"unreadable ({exc}): loads ignore it and replay")
    replayed = cls.fold((decoder.decode(e), e.recorded_at) for e in stream)
    if state != replayed:
        differs = [name for name in vars(replayed) if getattr(state, name, None) != getattr(replayed, name)]
        return finding(f"state differs from a replay of the log in {', '.join(differs) or 'its fields'}")
    return None


def verify_snapshots(store: Any, codecs: Iterable[PayloadCodec], types: Mapping[str, type[Aggregate]] | None = None
                     ) -> SnapshotReport:
    """Check every snapshot of `store` against a replay of its stream up to the snapshot's version."""
    types = aggregate_types() if types is None else types
    decoder = Decoder(codecs)
    report = SnapshotReport()
    for snapshot in _snapshots(store):
        report.checked += 1
        stream = store.read_stream(snapshot.stream_id)[: max(snapshot.version, 0)]
        problem = check_snapshot(snapshot, stream, types.get(snapshot.stream_type), decoder)
        if problem is not None:
            report.findings.append(problem)
    return report


def rebuild_snapshots(store: Any, codecs: Iterable[PayloadCodec], policy: SnapshotPolicy = SnapshotPolicy(),
                      types: Mapping[str, type[Aggregate]] | None = None) -> int:
    """Delete every snapshot and take them again from the log: for every stream of a known type at
    least one interval long, a snapshot at its last event. Returns how many were taken."""
    from sqlalchemy import func, select

    from services.common.store.schema import events

    types = aggregate_types() if types is None else types
    decoder = Decoder(codecs)
    with store.transaction() as tx:
        table.remove(tx.connection)
        lengths = tx.connection.execute(
            select(events.c.stream_id, events.c.stream_type, func.max(events.c.version))
            .group_by(events.c.stream_id, events.c.stream_type)).all()
    taken = 0
    for stream_id, stream_type, length in lengths:
        cls = types.get(stream_type)
        every = policy.every_for(stream_type)
        if cls is None or every <= 0 or int(length) < every:
            continue
        with store.transaction() as tx:
            stream = tx.read_stream(stream_id)
            state = cls.fold((decoder.decode(e), e.recorded_at) for e in stream)
            snapshot = snapshot_of(stream_id, state, stream[-1], to_micros(store.clock.now()))
            if snapshot is not None:
                table.write(tx.connection, snapshot)
                taken += 1
    return taken


def _snapshots(store: Any) -> Iterator[StoredSnapshot]:
    from sqlalchemy import inspect

    if not inspect(store.engine).has_table("snapshots"):
        return  # a store from before snapshots: nothing cached, nothing to check
    with store.engine.connect() as conn:
        found = list(table.every(conn))
    yield from found
