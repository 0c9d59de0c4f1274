"""The event store: append with optimistic concurrency, read streams (also as of a time), read
the global log, and keep both hash chains. SQLAlchemy Core over SQLite or PostgreSQL.

Concurrency design. Appends take the single `store_head` row lock (SELECT ... FOR UPDATE on
PostgreSQL; BEGIN IMMEDIATE on SQLite) before assigning positions, and hold it until commit. So
global positions are contiguous and in commit order: on PostgreSQL a sequence would hand out
numbers in start order, and a reader could pass position 11 (committed) while 10 was still in
flight and never see it. With the lock, a transaction that is slow to commit makes later writers
wait instead; readers never skip. Transactions that have not appended yet (a consumer checking its
inbox, say) hold no lock, and the lock is taken as late as possible: at the first append."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, func, insert, select, update
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError

from services.common.clock import Clock, SystemClock
from services.common.errors import ConcurrencyConflict
from services.common.events import Actor, NewEvent, RecordedEvent, TraceContext, from_micros, to_micros
from services.common.hashing import GENESIS, event_hash, global_hash
from services.common.store.engine import WRITE, create_store_engine
from services.common.store.schema import IMMUTABILITY_DDL, events, inbox, metadata, store_head

ANY_VERSION: int | None = None  # expected_version that skips the concurrency check
NO_STREAM = 0  # expected_version for "this stream must not exist yet"


class AlreadyProcessed(Exception):
    """The inbox already holds this event for this consumer: the delivery is a duplicate."""


class EventStore:
    def __init__(self, engine: Engine, *, region: str, service: str, clock: Clock | None = None) -> None:
        self.engine = engine
        self.region = region
        self.service = service
        self.clock = clock or SystemClock()
        self._ensured: set[int] = set()  # ids of the component MetaData whose tables exist here

    @classmethod
    def open(cls, url: str, *, region: str, service: str, clock: Clock | None = None,
             create: bool = True, tables: Sequence[MetaData] = ()) -> EventStore:
        """Open (and unless `create=False`, create) a store. `tables` are the components' own
        tables (read models, views, deadlines) created beside the store's: each component declares
        them in a MetaData of its own, so a schema does not depend on what happened to be imported."""
        store = cls(create_store_engine(url), region=region, service=service, clock=clock)
        if create:
            store.create_schema()
        store.ensure_tables(*tables)
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Create the store's tables (idempotent) and the immutability triggers."""
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            metadata.create_all(conn)
            if conn.execute(select(store_head.c.id)).first() is None:
                conn.execute(insert(store_head).values(id=1, position=0, global_hash=GENESIS, recorded_at_us=0))
            for ddl in IMMUTABILITY_DDL.get(self.dialect, []):
                conn.exec_driver_sql(ddl)

    def ensure_tables(self, *components: MetaData) -> None:
        """Create a component's tables in this store unless they exist (idempotent; each MetaData
        is created once per store object). Composition roots and schedulers call it for the tables
        they use, so a store serves whoever is wired over it."""
        new = [m for m in components if id(m) not in self._ensured]
        if not new:
            return
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            for component in new:
                component.create_all(conn)
        self._ensured.update(id(m) for m in new)

    def close(self) -> None:
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """One atomic unit: appends to any streams, inbox marks, and a caller's own SQL on
        `tx.connection` (projections). Everything commits together or not at all."""
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            yield StoreTransaction(self, conn)

    def append(self, stream_id: str, stream_type: str, expected_version: int | None,
               new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        with self.transaction() as tx:
            return tx.append(stream_id, stream_type, expected_version, new_events)

    def process_once(self, consumer: str, event_id: str, effect: Any) -> Any:
        """Run `effect(tx)` and record `event_id` as processed by `consumer` in one transaction.
        Returns the effect's result, or raises AlreadyProcessed (having changed nothing) when the
        event was processed before — a redelivery."""
        try:
            with self.transaction() as tx:
                tx.mark_processed(consumer, event_id)  # first, so a concurrent duplicate waits here
                return effect(tx)
        except IntegrityError as exc:
            if self.is_processed(consumer, event_id):
                raise AlreadyProcessed(f"{consumer} already processed {event_id}") from exc
            raise

    # -- reading ---------------------------------------------------------------------------

    def read_stream(self, stream_id: str, *, after_version: int = 0,
                    as_of: datetime | None = None) -> list[RecordedEvent]:
        with self.engine.connect() as conn:
            return _read_stream(conn, stream_id, after_version=after_version, as_of=as_of)

    def stream_version(self, stream_id: str) -> int:
        with self.engine.connect() as conn:
            return _stream_version(conn, stream_id)

    def read_log(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events with position > `after`, in global order. Gap-safe (see module docstring)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events).where(events.c.position > after).order_by(events.c.position).limit(limit)
            )
            return [row_to_event(r) for r in rows]

    def iter_log(self, after: int = 0, batch: int = 1000) -> Iterator[RecordedEvent]:
        while True:
            page = self.read_log(after, batch)
            yield from page
            if len(page) < batch:
                return
            after = page[-1].position

    def head(self) -> tuple[int, bytes]:
        """(last position, last global hash) of the store."""
        with self.engine.connect() as conn:
            row = conn.execute(select(store_head.c.position, store_head.c.global_hash)).one()
            return int(row.position), bytes(row.global_hash)

    def is_processed(self, consumer: str, event_id: str) -> bool:
        with self.engine.connect() as conn:
            return _is_processed(conn, consumer, event_id)

    def streams_by_correlation(self, correlation_id: str) -> list[RecordedEvent]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(events).where(events.c.correlation_id == correlation_id).order_by(events.c.position)
            )
            return [row_to_event(r) for r in rows]


class StoreTransaction:
    def __init__(self, store: EventStore, connection: Connection) -> None:
        self.store = store
        self.connection = connection
        self._head: tuple[int, bytes, int] | None = None  # position, global hash, recorded_at_us
        self._stream_heads: dict[str, tuple[int, bytes]] = {}

    def append(self, stream_id: str, stream_type: str, expected_version: int | None,
               new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        if not new_events:
            return []
        if not stream_id:
            raise ValueError("stream_id must not be empty")
        position, prev_global, last_recorded = self._lock_head()
        version, prev_hash = self._stream_head(stream_id)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(stream_id, expected_version, version)
        # recorded_at never goes backwards along the log, so "as of" reads agree with its order.
        recorded_us = max(to_micros(self.store.clock.now()), last_recorded)
        recorded: list[RecordedEvent] = []
        for new in new_events:
            version += 1
            position += 1
            draft = RecordedEvent(
                event_id=new.event_id, stream_id=stream_id, stream_type=stream_type, version=version,
                type=new.type, schema_version=new.schema_version, payload=new.payload,
                occurred_at=new.occurred_at, recorded_at=from_micros(recorded_us),
                region=self.store.region, service=self.store.service, actor=new.actor,
                correlation_id=new.correlation_id, causation_id=new.causation_id, trace=new.trace,
                prev_hash=prev_hash, hash=b"", position=position, global_hash=b"",
            )
            h = event_hash(prev_hash, draft)
            g = global_hash(prev_global, position, h)
            recorded.append(replace(draft, hash=h, global_hash=g))
            prev_hash, prev_global = h, g
        # Under the head lock no other writer can take these versions; the unique constraints
        # still guard (stream_id, version) and event_id, and raise IntegrityError on a reused id.
        self.connection.execute(insert(events), [event_to_row(e) for e in recorded])
        self.connection.execute(
            update(store_head).where(store_head.c.id == 1)
            .values(position=position, global_hash=prev_global, recorded_at_us=recorded_us)
        )
        self._head = (position, prev_global, recorded_us)
        self._stream_heads[stream_id] = (version, prev_hash)
        return recorded

    def stream_version(self, stream_id: str) -> int:
        return self._stream_head(stream_id)[0]

    def read_stream(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        return _read_stream(self.connection, stream_id, after_version=after_version, as_of=None)

    def is_processed(self, consumer: str, event_id: str) -> bool:
        return _is_processed(self.connection, consumer, event_id)

    def mark_processed(self, consumer: str, event_id: str) -> None:
        """Record that `consumer` processed `event_id`. A second mark of the same pair fails the
        transaction with IntegrityError (see EventStore.process_once)."""
        self.connection.execute(
            insert(inbox).values(consumer=consumer, event_id=event_id,
                                 processed_at_us=to_micros(self.store.clock.now()))
        )

    def lock_head(self) -> None:
        """Take the store's single head-row lock now and hold it until this transaction ends.

        Every append takes it anyway (see the module docstring); take it earlier when what you read
        must not change before you commit: a read of the log you rebuild a table from, an owner or
        counter you check before appending. Writers then queue behind you, and you read what every
        earlier writer committed. On PostgreSQL it is SELECT ... FOR UPDATE on the `store_head`
        row (re-entrant within the transaction); on SQLite the write transaction's BEGIN IMMEDIATE
        already holds the database's write lock, so it only reads the head. Idempotent."""
        self._lock_head()

    def _lock_head(self) -> tuple[int, bytes, int]:
        if self._head is None:
            query = select(store_head.c.position, store_head.c.global_hash, store_head.c.recorded_at_us)
            query = query.where(store_head.c.id == 1)
            if self.store.dialect != "sqlite":  # SQLite's BEGIN IMMEDIATE already serialises writers
                query = query.with_for_update()
            row = self.connection.execute(query).one()
            self._head = (int(row.position), bytes(row.global_hash), int(row.recorded_at_us))
        return self._head

    def _stream_head(self, stream_id: str) -> tuple[int, bytes]:
        if stream_id not in self._stream_heads:
            row = self.connection.execute(
                select(events.c.version, events.c.hash).where(events.c.stream_id == stream_id)
                .order_by(events.c.version.desc()).limit(1)
            ).first()
            self._stream_heads[stream_id] = (int(row.version), bytes(row.hash)) if row else (0, GENESIS)
        return self._stream_heads[stream_id]


def _read_stream(conn: Connection, stream_id: str, *, after_version: int,
                 as_of: datetime | None) -> list[RecordedEvent]:
    query = select(events).where(events.c.stream_id == stream_id, events.c.version > after_version)
    if as_of is not None:
        query = query.where(events.c.recorded_at_us <= to_micros(as_of))
    return [row_to_event(r) for r in conn.execute(query.order_by(events.c.version))]


def _stream_version(conn: Connection, stream_id: str) -> int:
    value = conn.execute(select(func.max(events.c.version)).where(events.c.stream_id == stream_id)).scalar()
    return int(value or 0)


def _is_processed(conn: Connection, consumer: str, event_id: str) -> bool:
    query = select(inbox.c.event_id).where(inbox.c.consumer == consumer, inbox.c.event_id == event_id)
    return conn.execute(query).first() is not None


def event_to_row(e: RecordedEvent) -> dict[str, Any]:
    return {
        "position": e.position, "event_id": e.event_id, "stream_id": e.stream_id,
        "stream_type": e.stream_type, "version": e.version, "type": e.type,
        "schema_version": e.schema_version, "payload": e.payload,
        "occurred_at_us": to_micros(e.occurred_at), "recorded_at_us": to_micros(e.recorded_at),
        "region": e.region, "service": e.service,
        "actor_kind": e.actor.kind, "actor_clerk_id": e.actor.clerk_id,
        "actor_office_code": e.actor.office_code, "actor_region": e.actor.region, "actor_role": e.actor.role,
        "correlation_id": e.correlation_id, "causation_id": e.causation_id,
        "traceparent": e.trace.traceparent, "tracestate": e.trace.tracestate,
        "prev_hash": e.prev_hash, "hash": e.hash, "global_hash": e.global_hash,
    }


def row_to_event(r: Row[Any]) -> RecordedEvent:
    return RecordedEvent(
        event_id=r.event_id, stream_id=r.stream_id, stream_type=r.stream_type, version=int(r.version),
        type=r.type, schema_version=int(r.schema_version), payload=bytes(r.payload),
        occurred_at=from_micros(int(r.occurred_at_us)), recorded_at=from_micros(int(r.recorded_at_us)),
        region=r.region, service=r.service,
        actor=Actor(kind=r.actor_kind, clerk_id=r.actor_clerk_id, office_code=r.actor_office_code,
                    region=r.actor_region, role=r.actor_role),
        correlation_id=r.correlation_id, causation_id=r.causation_id,
        trace=TraceContext(r.traceparent, r.tracestate),
        prev_hash=bytes(r.prev_hash), hash=bytes(r.hash), position=int(r.position),
        global_hash=bytes(r.global_hash),
    )
