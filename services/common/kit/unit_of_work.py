"""The unit of work: handlers say what happened, the unit of work records it.

    with units.begin(Provenance.of_command(actor, case_id, now)) as uow:
        marriage = uow.load(Marriage, case_id)            # owner checked: a write command
        uow.record(marriage, marriage.open_divorce(...))  # expected version = the loaded one

On a clean exit the unit of work runs, in the same transaction, every subscriber registered when
the service was wired — registry claims and releases, deadlines, read models — and commits; on an
exception nothing is recorded (architecture invariant 7). A handler cannot forget a step: it never
calls them (cosmicpython's unit of work collecting events for the bus, here in one transaction).

Loading checks the owner (invariant 4) unless the caller says it only reads; a region refuses
to write a case another region owns, naming the owner. The check is injected when the service is
wired, so the core does not depend on the hand-off protocol that records ownership.

A command with a client request id (invariant 9, requests.py) claims it as the unit of work opens:

    with units.begin(provenance, request=request) as uow:
        if uow.first_answer:                   # a retry of a command recorded before:
            return uow.first_answer            #   its answer, and nothing recorded
        uow.start(Marriage, case_id, events)
        return uow.answer(case_id)             # recorded with the events, in their transaction"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from services.common.errors import NotFound
from services.common.events import RecordedEvent
from services.common.kit import requests, snapshots
from services.common.kit.aggregate import Aggregate
from services.common.kit.codec import PayloadCodec
from services.common.kit.provenance import Provenance
from services.common.kit.requests import Request
from services.common.kit.snapshots import SnapshotPolicy
from services.common.store import NO_STREAM, EventStore, StoreTransaction
from services.common.store import snapshots as snapshot_table

A = TypeVar("A", bound=Aggregate)

# Raises WrongOwner (naming the owner) unless this region owns the stream's case.
OwnerCheck = Callable[[StoreTransaction, str], None]


@dataclass(frozen=True)
class Change:
    """What one `record` wrote: the stream, the state before and after, the domain events and
    the stored events (with ids, versions and hashes)."""

    stream_id: str
    before: Aggregate
    after: Aggregate
    events: tuple[Any, ...]
    recorded: tuple[RecordedEvent, ...]
    provenance: Provenance

    @property
    def last_event_id(self) -> str:
        return self.recorded[-1].event_id


ChangeSubscriber = Callable[["UnitOfWork", Change], None]
CommitSubscriber = Callable[["UnitOfWork", Sequence[Change]], None]


class Subscribers:
    """What runs when a unit of work commits, registered once, when the service is wired:
    per-change subscribers for one aggregate type (in registration order, for each change in the
    order recorded), then commit subscribers with every change (read models)."""

    def __init__(self) -> None:
        self._on_change: dict[type, list[ChangeSubscriber]] = defaultdict(list)
        self._on_commit: list[CommitSubscriber] = []

    def on(self, aggregate: type[Aggregate], subscriber: ChangeSubscriber) -> Subscribers:
        self._on_change[aggregate].append(subscriber)
        return self

    def on_commit(self, subscriber: CommitSubscriber) -> Subscribers:
        self._on_commit.append(subscriber)
        return self

    def for_change(self, change: Change) -> list[ChangeSubscriber]:
        return list(self._on_change.get(type(change.after), ()))

    @property
    def commit(self) -> list[CommitSubscriber]:
        return list(self._on_commit)


def owns_everything(tx: StoreTransaction, stream_id: str) -> None:
    """The owner check of a service whose cases never change hands."""


class UnitOfWork:
    """One transaction's worth of loading and recording, with one provenance."""

    def __init__(self, tx: StoreTransaction, provenance: Provenance, *, codec: PayloadCodec,
                 subscribers: Subscribers, owner_check: OwnerCheck, request: Request | None = None,
                 snapshot_policy: SnapshotPolicy = snapshots.NEVER) -> None:
        self.tx = tx
        self._snapshot_policy = snapshot_policy
        self.provenance = provenance
        self._codec = codec
        self._subscribers = subscribers
        self._owner_check = owner_check
        self._streams: dict[int, str] = {}  # id(aggregate) → stream id, for the states handed out
        self._current: dict[str, Aggregate] = {}  # stream id → the latest state handed out
        self.changes: list[Change] = []
        self.request = request
        # The answer recorded the first time this request id was seen: this call is a retry.
        self.first_answer: str | None = requests.claim(tx, request) if request else None
        self._answer: str | None = None

    @property
    def store(self) -> EventStore:
        return self.tx.store

    # -- loading ---------------------------------------------------------------------------------

    def load(self, cls: type[A], stream_id: str, *, for_write: bool = True) -> A:
        """The aggregate of `stream_id`, or NotFound. `for_write` (the default) checks that this
        region owns the case first."""
        found = self.find(cls, stream_id, for_write=for_write)
        if found is None:
            raise NotFound(cls.what or cls.stream_type, stream_id)
        return found

    def find(self, cls: type[A], stream_id: str, *, for_write: bool = True) -> A | None:
        """Like `load`, but None for a stream that does not exist or holds another type."""
        if for_write:
            self._owner_check(self.tx, stream_id)
        current = self._current.get(stream_id)
        if current is not None:
            return current if isinstance(current, cls) else None
        if cls.fold_is_count:  # its state is its count: the stream's ends say it all
            ends = self.tx.stream_ends(stream_id)
            if ends is None or ends[0] != cls.stream_type:
                return None
            return self._track(stream_id, cls.counted(ends[1], ends[2], ends[3]))
        # From the newest snapshot and the events after it, when there is a usable one (snapshots.py).
        use_snapshot = self._snapshot_policy.every_for(cls.stream_type) > 0
        found = snapshots.load(self.tx, cls, stream_id, self._codec, use_snapshot=use_snapshot)
        return None if found is None else self._track(stream_id, found)

    # -- recording -------------------------------------------------------------------------------

    def answer(self, case_id: str) -> str:
        """The command's answer (the case it produced or worked on), recorded with its request id
        when it has one; returned, for `return uow.answer(case_id)`."""
        self._answer = case_id
        return case_id

    def start(self, cls: type[A], stream_id: str, events: Sequence[Any], *,
              provenance: Provenance | None = None) -> A:
        """Open a new stream with `events` (a stream that exists already is a conflict)."""
        return self._append(stream_id, cls(), NO_STREAM, events, provenance)

    def record(self, aggregate: A, events: Sequence[Any], *, provenance: Provenance | None = None) -> A:
        """Append `events` to the stream `aggregate` was loaded from, expecting its version; returns
        the state after them. Recording nothing is allowed and records nothing."""
        stream_id = self._streams.get(id(aggregate))
        if stream_id is None:
            raise ValueError(f"{type(aggregate).__name__} was not loaded by this unit of work")
        if self._current[stream_id] is not aggregate:
            raise ValueError(f"stale state of {stream_id}: record on the state the last record returned")
        return self._append(stream_id, aggregate, aggregate.version, events, provenance)

    def _append(self, stream_id: str, before: A, expected: int, events: Sequence[Any],
                provenance: Provenance | None) -> A:
        if self.first_answer is not None:
            raise RuntimeError(f"request {self.request.id if self.request else ''} was answered before: "
                               "return uow.first_answer, record nothing")
        if not events:
            return before if stream_id in self._current else self._track(stream_id, before)
        provenance = provenance or self.provenance
        new = [self._codec.new_event(e, provenance) for e in events]
        recorded = self.tx.append(stream_id, before.stream_type, expected, new)
        # A new stream starts from a fresh state: fold into another fresh one rather than deep-copy
        # it (the copy was a twentieth of a registration's CPU).
        after = type(before)().extended_by(events) if expected == NO_STREAM else before.applied(events)
        after.opened_at = before.opened_at or recorded[0].recorded_at
        after.updated_at = recorded[-1].recorded_at
        self.changes.append(Change(stream_id, before, after, tuple(events), tuple(recorded), provenance))
        if not after.fold_is_count and self._snapshot_policy.due(after.stream_type, before.version, after.version):
            snapshots.take(self.tx, stream_id, after, recorded[-1])
        return self._track(stream_id, after)

    def _track(self, stream_id: str, state: A) -> A:
        self._streams[id(state)] = stream_id
        self._current[stream_id] = state
        return state

    # -- committing ------------------------------------------------------------------------------

    def run_subscribers(self) -> None:
        """Per-change subscribers for every change (including changes they record themselves),
        then commit subscribers once. Called by the context managers below on a clean exit."""
        done = 0
        while done < len(self.changes):
            change = self.changes[done]
            for subscriber in self._subscribers.for_change(change):
                subscriber(self, change)
            done += 1
        if self.changes:
            for subscriber in self._subscribers.commit:
                subscriber(self, self.changes)

    def record_answer(self) -> None:
        """Record the answer with the request id this unit of work claimed (none to record for a
        call without one, or a retry). Called by the context managers below on a clean exit."""
        if self.request is None or self.first_answer is not None:
            return
        if self._answer is None:
            raise RuntimeError(f"request {self.request.id} has no answer: end with `return uow.answer(case_id)`")
        requests.answer(self.tx, self.request, self._answer)


class UnitsOfWork:
    """A service's way into its store, wired once by its composition root."""

    def __init__(self, store: EventStore, codec: PayloadCodec, subscribers: Subscribers | None = None, *,
                 owner_check: OwnerCheck = owns_everything,
                 snapshot_policy: SnapshotPolicy | None = None) -> None:
        """`snapshot_policy`: how often aggregates are snapshotted (default every
        snapshots.SNAPSHOT_EVERY events; `snapshots.NEVER` to always replay whole streams)."""
        self.store = store
        self.codec = codec
        self.subscribers = subscribers or Subscribers()
        self.owner_check = owner_check
        self.snapshot_policy = snapshot_policy or SnapshotPolicy()
        store.ensure_tables(requests.TABLES, snapshot_table.TABLES)

    @contextmanager
    def begin(self, provenance: Provenance, *, request: Request | None = None) -> Iterator[UnitOfWork]:
        """A new transaction: committed, subscribers included, when the block ends cleanly. With a
        `request`, its id is claimed first: `uow.first_answer` is the answer of an earlier call
        with the same id and content (InvalidArgument for other content)."""
        with self.store.transaction() as tx, self.joining(tx, provenance, request=request) as uow:
            yield uow

    @contextmanager
    def joining(self, tx: StoreTransaction, provenance: Provenance, *,
                request: Request | None = None) -> Iterator[UnitOfWork]:
        """A unit of work inside a transaction someone else owns (the inbox recording a message, the
        scheduler firing a deadline, a hand-off step): its subscribers run when the block ends, and
        everything commits with that transaction."""
        uow = UnitOfWork(tx, provenance, codec=self.codec, subscribers=self.subscribers,
                         owner_check=self.owner_check, request=request, snapshot_policy=self.snapshot_policy)
        yield uow
        uow.run_subscribers()
        uow.record_answer()
