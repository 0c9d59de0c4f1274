"""Legal deadlines as data (architecture invariant 6): cooling-off periods, public-notice periods
and review time limits are scheduled as events and fired by a scheduler that reads an injectable
clock, so tests can travel in time and a restart loses no timer.

Each deadline is its own stream, `deadline-<deadline_id>` of type "common.Deadline": version 1 is
DeadlineScheduled, version 2 is DeadlineFired or DeadlineCancelled, and there is never a version 3.
Closing a deadline appends version 2 with expected version 1, so of two schedulers racing (or a
scheduler racing a clerk's cancellation) exactly one wins; the other gets ConcurrencyConflict and
moves on. That is the whole exactly-once mechanism: no lease, no lock table.

The `deadlines` table is a read model so the scheduler finds due deadlines with one indexed query
instead of folding every deadline stream. It is written in the same transaction as the events
that change it, and `rebuild_deadlines_table` recreates it from the log.

The table is declared on this module's own `TABLES` metadata, which the store creates when it is
given it (`EventStore.open(tables=…)`, `ensure_tables`): the host passes it, and so does a
`DeadlineScheduler` over a store. A store's schema never depends on what happened to be imported.

Lock order: every function here appends to the deadline stream (taking the store head lock) before
it touches a `deadlines` row, and so must a handler's own SQL; with the head lock always first,
two transactions can never wait on each other's row locks.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import BigInteger, Column, Index, MetaData, String, Table, delete, func, insert, select, update

from services.common.clock import Clock
from services.common.errors import ConcurrencyConflict, NotFound
from services.common.events import (
    Actor,
    NewEvent,
    RecordedEvent,
    TraceContext,
    from_micros,
    micros_of_timestamp,
    to_micros,
)
from services.common.kit.provenance import Provenance
from services.common.store import NO_STREAM, EventStore, StoreTransaction
from services.common.store.decode import row_to_event
from services.common.store.schema import events
from tongban.common.v1 import deadlines_pb2

logger = logging.getLogger(__name__)

STREAM_TYPE = "common.Deadline"
STREAM_PREFIX = "deadline-"

PENDING = "pending"
FIRED = "fired"
CANCELLED = "cancelled"

# So that "deadline-<id>" fits the events table's 200-character stream id.
MAX_DEADLINE_ID = 190

_SCHEDULED_VERSION = 1  # the version a deadline stream has while the deadline is pending
_SCHEDULER_COMPONENT = "scheduler"
_REBUILD_PAGE = 1000

_SCHEDULED_TYPE = deadlines_pb2.DeadlineScheduled.DESCRIPTOR.full_name
_FIRED_TYPE = deadlines_pb2.DeadlineFired.DESCRIPTOR.full_name
_CANCELLED_TYPE = deadlines_pb2.DeadlineCancelled.DESCRIPTOR.full_name

TABLES = MetaData()  # this component's own tables (see the module docstring)

deadlines = Table(
    "deadlines",
    TABLES,
    Column("deadline_id", String(MAX_DEADLINE_ID), primary_key=True),
    Column("kind", String(100), nullable=False),
    Column("case_stream_id", String(200), nullable=False),
    Column("due_at_us", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),
)
# The scheduler's one query: pending deadlines in due order.
Index("ix_deadlines_state_due", deadlines.c.state, deadlines.c.due_at_us)
# Rule, data and correlation id stay out of the table on purpose: the scheduler reads them from
# the stream in the firing transaction, so the read model only has to agree with the log about
# what is due.


@dataclass(frozen=True)
class Deadline:
    """A deadline as a handler sees it. `fired_event_id`, `fired_at` and `trace` are set when the
    scheduler hands it to a handler, so the reaction can name its cause (invariant 2) and stay in
    the case's trace (invariant 8)."""

    deadline_id: str
    kind: str
    case_stream_id: str
    due_at: datetime
    rule: str
    data: bytes
    correlation_id: str
    fired_event_id: str = ""
    fired_at: datetime | None = None
    trace: TraceContext = field(default_factory=TraceContext)


DeadlineHandler = Callable[[StoreTransaction, Deadline], None]


def deadline_stream_id(deadline_id: str) -> str:
    return f"{STREAM_PREFIX}{deadline_id}"


def schedule_deadline(
    tx: StoreTransaction,
    *,
    deadline_id: str,
    kind: str,
    case_stream_id: str,
    due_at: datetime,
    rule: str,
    data: bytes = b"",
    provenance: Provenance,
) -> RecordedEvent:
    """Schedule a deadline inside the caller's transaction, so it commits atomically with the case
    event that needs it (a divorce application received → its cooling-off end) or not at all.

    A deadline id already used raises ConcurrencyConflict, which voids the caller's transaction:
    ids are meant to be derived from the case (e.g. "<case>-cooling-off"), so a second schedule is
    a retried or racing command, and the first one stands."""
    if not deadline_id or len(deadline_id) > MAX_DEADLINE_ID:
        raise ValueError(f"deadline_id must have 1 to {MAX_DEADLINE_ID} characters")
    if not kind:
        raise ValueError("kind must not be empty")
    if not case_stream_id:
        raise ValueError("case_stream_id must not be empty")
    due_us = to_micros(due_at)  # also refuses a naive due_at
    message = deadlines_pb2.DeadlineScheduled(
        deadline_id=deadline_id, kind=kind, case_stream_id=case_stream_id,
        due_at=_timestamp(due_us), rule=rule, data=data,
    )
    [recorded] = tx.append(deadline_stream_id(deadline_id), STREAM_TYPE, NO_STREAM, [provenance.new_event(message)])
    tx.connection.execute(insert(deadlines).values(
        deadline_id=deadline_id, kind=kind, case_stream_id=case_stream_id, due_at_us=due_us, state=PENDING,
    ))
    return recorded


def cancel_deadline(
    tx: StoreTransaction,
    deadline_id: str,
    reason: str,
    *,
    provenance: Provenance,
) -> RecordedEvent | None:
    """Cancel a pending deadline inside the caller's transaction (a divorce withdrawn during the
    cooling-off cancels its certificate-window deadline). A deadline already fired or cancelled —
    before this call or by a scheduler committing during it — is left as it is and None returned,
    so a retried command is harmless. An empty correlation id in `provenance` means the
    deadline's own (the case's thread). An id never scheduled raises NotFound: that is a bug in
    the caller, not a race."""
    stream_id = deadline_stream_id(deadline_id)
    stream = tx.read_stream(stream_id)
    if not stream:
        raise NotFound("deadline", deadline_id)
    if len(stream) > _SCHEDULED_VERSION:
        return None
    scheduled = stream[0]
    thread = provenance.correlation_id or scheduled.correlation_id
    event = provenance.correlated_with(thread).new_event(
        deadlines_pb2.DeadlineCancelled(deadline_id=deadline_id, reason=reason))
    try:
        [recorded] = tx.append(stream_id, STREAM_TYPE, _SCHEDULED_VERSION, [event])
    except ConcurrencyConflict as conflict:
        # The version check runs under the head lock before anything is written, so the caller's
        # transaction is still usable: a scheduler fired the deadline after we read the stream.
        if conflict.actual > _SCHEDULED_VERSION:
            return None
        raise
    _set_state(tx, deadline_id, CANCELLED)
    return recorded


class DeadlineScheduler:
    """Fires due deadlines. Any number of schedulers may run against one store (a second replica,
    a restarted process): the version-2 append decides which one fires each deadline."""

    def __init__(self, store: EventStore, clock: Clock, handlers: Mapping[str, DeadlineHandler], *,
                 name: str) -> None:
        self.store = store
        self.clock = clock
        self.handlers = dict(handlers)
        self.name = name
        store.ensure_tables(TABLES)
        self._actor = Actor.system(store.region, _SCHEDULER_COMPONENT)

    def fire_due(self, limit: int = 100) -> list[Deadline]:
        """Fire up to `limit` pending deadlines due at or before now, each in its own transaction
        together with its handler's reaction. A deadline whose handler fails, or whose kind has no
        handler, stays pending (logged) and is passed over, so it cannot block the others."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        now_us = to_micros(self.clock.now())
        self._log_unhandled(now_us)
        fired: list[Deadline] = []
        after: tuple[int, str] | None = None
        while len(fired) < limit:
            page = self._due_page(now_us, after, limit)
            for deadline_id, due_us in page:
                after = (due_us, deadline_id)
                deadline = self._fire_one(deadline_id)
                if deadline is not None:
                    fired.append(deadline)
                    if len(fired) == limit:
                        break
            if len(page) < limit:
                break
        return fired

    def next_due(self) -> datetime | None:
        """When the earliest pending deadline falls due, whatever its kind; None if none is."""
        with self.store.engine.connect() as conn:
            value = conn.execute(select(func.min(deadlines.c.due_at_us)).where(deadlines.c.state == PENDING)).scalar()
        return None if value is None else from_micros(int(value))

    def run(self, stop_event: threading.Event, poll_interval: float = 1.0) -> None:
        """Fire due deadlines until `stop_event` is set; meant for a background thread. Polls
        rather than sleeping until next_due: the clock may be a fake one moved by a test or a
        demo, and a deadline may be scheduled by another process at any time."""
        logger.info("deadline scheduler %s started (region %s)", self.name, self.store.region)
        while not stop_event.is_set():
            try:
                self.fire_due()
            except Exception:
                # A database outage must not kill the thread: nothing was lost (a failed pass
                # commits nothing), and the next pass retries.
                logger.exception("deadline scheduler %s: pass failed; retrying", self.name)
            stop_event.wait(poll_interval)
        logger.info("deadline scheduler %s stopped", self.name)

    # -- one deadline ---------------------------------------------------------------------

    def _fire_one(self, deadline_id: str) -> Deadline | None:
        stream_id = deadline_stream_id(deadline_id)
        try:
            with self.store.transaction() as tx:
                stream = tx.read_stream(stream_id)
                if len(stream) != _SCHEDULED_VERSION:
                    return None  # closed by someone else since our query; the table says so now
                scheduled = stream[0]
                message = deadlines_pb2.DeadlineScheduled.FromString(scheduled.payload)
                handler = self.handlers.get(message.kind)
                if handler is None:
                    logger.error("deadline scheduler %s: no handler for kind %r; deadline %s left pending",
                                 self.name, message.kind, deadline_id)
                    return None
                fired_at = self.clock.now()
                event = NewEvent.from_message(
                    deadlines_pb2.DeadlineFired(deadline_id=deadline_id, fired_at=_timestamp(to_micros(fired_at))),
                    event_id=str(uuid.uuid4()), actor=self._actor, correlation_id=scheduled.correlation_id,
                    occurred_at=fired_at, causation_id=scheduled.event_id, trace=scheduled.trace,
                )
                try:
                    [recorded] = tx.append(stream_id, STREAM_TYPE, _SCHEDULED_VERSION, [event])
                except ConcurrencyConflict:
                    # Another scheduler (or a cancellation) closed it first. Nothing was
                    # written, so leaving the block commits an empty transaction.
                    logger.debug("deadline scheduler %s: %s already closed by another writer",
                                 self.name, deadline_id)
                    return None
                _set_state(tx, deadline_id, FIRED)
                deadline = _deadline(message, scheduled, fired_event_id=recorded.event_id, fired_at=fired_at)
                handler(tx, deadline)  # its reaction commits with the firing, or neither does
                return deadline
        except Exception:
            logger.exception("deadline scheduler %s: firing %s failed; it stays pending", self.name, deadline_id)
            return None

    # -- queries ----------------------------------------------------------------------------

    def _due_page(self, now_us: int, after: tuple[int, str] | None, size: int) -> list[tuple[str, int]]:
        """Pending deadlines of handled kinds due by `now_us`, in (due, id) order after `after`."""
        if not self.handlers:
            return []
        query = select(deadlines.c.deadline_id, deadlines.c.due_at_us).where(
            deadlines.c.state == PENDING,
            deadlines.c.due_at_us <= now_us,
            deadlines.c.kind.in_(sorted(self.handlers)),
        )
        if after is not None:
            # Keyset paging: a deadline that failed this pass is not tried again in it.
            due_us, deadline_id = after
            query = query.where(
                (deadlines.c.due_at_us > due_us)
                | ((deadlines.c.due_at_us == due_us) & (deadlines.c.deadline_id > deadline_id))
            )
        query = query.order_by(deadlines.c.due_at_us, deadlines.c.deadline_id).limit(size)
        with self.store.engine.connect() as conn:
            return [(str(r.deadline_id), int(r.due_at_us)) for r in conn.execute(query)]

    def _log_unhandled(self, now_us: int) -> None:
        """Due deadlines that no handler here can fire: an error every pass until a handler is
        deployed — they are kept, not dropped, and fire as soon as one is."""
        query = (
            select(deadlines.c.kind, func.count(), func.min(deadlines.c.due_at_us))
            .where(deadlines.c.state == PENDING, deadlines.c.due_at_us <= now_us)
            .group_by(deadlines.c.kind)
        )
        if self.handlers:
            query = query.where(deadlines.c.kind.not_in(sorted(self.handlers)))
        with self.store.engine.connect() as conn:
            rows = conn.execute(query).all()
        for kind, count, oldest_us in rows:
            logger.error("deadline scheduler %s: no handler for kind %r; %d due deadline(s) left pending, "
                         "oldest due %s", self.name, kind, count, from_micros(int(oldest_us)).isoformat())


def rebuild_deadlines_table(store: EventStore) -> int:
    """Recreate the `deadlines` table from the global log in one transaction; returns how many
    deadlines it holds. Appends wait meanwhile, so the table matches the log it was read from."""
    with store.transaction() as tx:
        conn = tx.connection
        # Take the store head lock first, as an append would: no deadline event can commit
        # between our read of the log and our commit.
        tx.lock_head()
        rows: dict[str, dict[str, Any]] = {}
        after = 0
        while True:
            page = conn.execute(
                select(events).where(events.c.stream_type == STREAM_TYPE, events.c.position > after)
                .order_by(events.c.position).limit(_REBUILD_PAGE)
            ).all()
            for row in page:
                _fold(rows, row_to_event(row))
            if len(page) < _REBUILD_PAGE:
                break
            after = int(page[-1].position)
        conn.execute(delete(deadlines))
        if rows:
            conn.execute(insert(deadlines), list(rows.values()))
        return len(rows)


def _fold(rows: dict[str, dict[str, Any]], event: RecordedEvent) -> None:
    """One deadline event into the table rows. Pure: the same log gives the same table."""
    if event.type == _SCHEDULED_TYPE:
        scheduled = deadlines_pb2.DeadlineScheduled.FromString(event.payload)
        rows[scheduled.deadline_id] = {
            "deadline_id": scheduled.deadline_id, "kind": scheduled.kind,
            "case_stream_id": scheduled.case_stream_id, "due_at_us": micros_of_timestamp(scheduled.due_at),
            "state": PENDING,
        }
    elif event.type == _FIRED_TYPE:
        rows[deadlines_pb2.DeadlineFired.FromString(event.payload).deadline_id]["state"] = FIRED
    elif event.type == _CANCELLED_TYPE:
        rows[deadlines_pb2.DeadlineCancelled.FromString(event.payload).deadline_id]["state"] = CANCELLED
    else:
        raise ValueError(f"unexpected event type {event.type!r} in deadline stream {event.stream_id}")


def _set_state(tx: StoreTransaction, deadline_id: str, state: str) -> None:
    tx.connection.execute(update(deadlines).where(deadlines.c.deadline_id == deadline_id).values(state=state))


def _deadline(message: deadlines_pb2.DeadlineScheduled, scheduled: RecordedEvent, *, fired_event_id: str,
              fired_at: datetime) -> Deadline:
    return Deadline(
        deadline_id=message.deadline_id, kind=message.kind, case_stream_id=message.case_stream_id,
        due_at=from_micros(micros_of_timestamp(message.due_at)), rule=message.rule, data=message.data,
        correlation_id=scheduled.correlation_id, fired_event_id=fired_event_id, fired_at=fired_at,
        trace=scheduled.trace,
    )


def _timestamp(micros: int) -> Timestamp:
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
