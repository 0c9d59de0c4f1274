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

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import MetaData, func, insert, select
from sqlalchemy.engine import Connection, Engine

from services.common.clock import Clock, SystemClock
from services.common.errors import ConcurrencyConflict
from services.common.events import NewEvent, RecordedEvent, from_micros, to_micros
from services.common.hashing import GENESIS
from services.common.store import driver, migrate, pg_fast, sqlite_fast
from services.common.store import snapshots as snapshot_table
from services.common.store.batch import AppendRequest, append_many
from services.common.store.decode import events_from_tuples
from services.common.store.engine import WRITE, create_store_engine
from services.common.store.group import GroupCommitter
from services.common.store.rows import build_rows
from services.common.store.schema import IMMUTABILITY_DDL, events, inbox, metadata, store_head

ANY_VERSION: int | None = None  # expected_version that skips the concurrency check
NO_STREAM = 0  # expected_version for "this stream must not exist yet"

_log = logging.getLogger(__name__)


class AlreadyProcessed(Exception):
    """The inbox already holds this event for this consumer: the delivery is a duplicate."""


class EventStore:
    def __init__(self, engine: Engine, *, region: str, service: str, clock: Clock | None = None,
                 group_commit: int = 0) -> None:
        """`group_commit`: 0 (the default) gives every transaction its own commit; N > 0 lets
        concurrent threads' transactions share one commit, up to N commands per commit (group.py)."""
        self.engine = engine
        self.region = region
        self.service = service
        self.clock = clock or SystemClock()
        self._ensured: set[int] = set()  # ids of the component MetaData whose tables exist here
        self.group = GroupCommitter(engine, {WRITE: True}, group_commit) if group_commit > 0 else None
        self._append_batch = lambda conn, requests: append_many(StoreTransaction(self, conn), requests)
        # PostgreSQL without group commit: single appends in one round trip when the head is known.
        self._hints = pg_fast.Hints() if engine.dialect.name == "postgresql" and self.group is None else None
        # Set after every commit that may have appended (spurious sets are harmless): the relay
        # waits on it instead of sleeping its whole poll interval, so an event recorded while it
        # idles is published at once, not up to one interval later (host.py, _relay_loop).
        self.committed = threading.Event()
        # SQLite: single appends on a connection of their own (sqlite_fast.py).
        self._single = (sqlite_fast.SingleAppender(engine) if engine.dialect.name == "sqlite" and self.group is None
                        else None)

    @classmethod
    def open(cls, url: str, *, region: str, service: str, clock: Clock | None = None,
             create: bool = True, tables: Sequence[MetaData] = (), group_commit: int = 0) -> EventStore:
        """Open (and unless `create=False`, create) a store. `tables` are the components' own
        tables (read models, views, deadlines) created beside the store's: each component declares
        them in a MetaData of its own, so a schema does not depend on what happened to be imported."""
        store = cls(create_store_engine(url), region=region, service=service, clock=clock,
                    group_commit=group_commit)
        if create:
            store.create_schema()
        store.ensure_tables(*tables)
        return store

    @property
    def one_round_trip_appends(self) -> int:
        """How many appends took PostgreSQL's one-round-trip path (pg_fast.py); 0 elsewhere."""
        return self._hints.fast_appends if self._hints is not None else 0

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        """Upgrade an existing store's schema (migrate.py), create the store's tables (idempotent)
        and the immutability triggers."""
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            for done in migrate.upgrade(conn):
                _log.warning("store %s/%s upgraded: %s", self.region, self.service, done)
            metadata.create_all(conn)
            snapshot_table.TABLES.create_all(conn)  # the snapshot cache beside the log
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
        if self.group is not None:
            self.group.close()
        if self._single is not None:
            self._single.close()
        self.engine.dispose()

    # -- writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """One atomic unit: appends to any streams, inbox marks, and a caller's own SQL on
        `tx.connection` (projections). Everything commits together or not at all. With group
        commit the same holds for each transaction; it returns once its group has committed."""
        if self.group is not None:
            with self.group.transaction(lambda conn: StoreTransaction(self, conn)) as tx:
                yield tx
            self.committed.set()  # (in a deferred block, the block's end sets it once it commits)
            return
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            tx = StoreTransaction(self, conn)
            yield tx
        if self._hints is not None:  # committed: what it saw and wrote is now fact
            self._hints.committed(tx.head_seen, tx.stream_heads_seen)
        self.committed.set()

    def append(self, stream_id: str, stream_type: str, expected_version: int | None,
               new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        if self.group is not None:
            # Plain data: queued for whichever thread leads the group next, and written together
            # with the appends queued beside it (batch.py): no thread switch, no statement each.
            request = AppendRequest(stream_id, stream_type, expected_version, new_events)
            outcome: list[RecordedEvent] = self.group.submit(request, self._append_batch)
            self.committed.set()
            return outcome
        if self._single is not None and new_events and stream_id:
            recorded = self._single.append(region=self.region, service=self.service, now=self.clock.now(),
                                           stream_id=stream_id, stream_type=stream_type,
                                           expected_version=expected_version, new_events=new_events)
            self.committed.set()
            return recorded
        if self._hints is not None and new_events and stream_id:
            fast = pg_fast.try_append(self.engine, self._hints, region=self.region, service=self.service,
                                      now=self.clock.now(), stream_id=stream_id, stream_type=stream_type,
                                      expected_version=expected_version, new_events=new_events)
            if fast is not None:
                self.committed.set()
                return fast
        with self.transaction() as tx:
            return tx.append(stream_id, stream_type, expected_version, new_events)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Transactions this thread opens in the block share commits (group commit only; without it
        each commits alone, as everywhere): see GroupCommitter.deferred. When the block ends
        cleanly, everything its transactions did is committed; until then, nothing of it may be
        reported done to anyone outside the process."""
        if self.group is None:
            yield
        else:
            with self.group.deferred():
                yield
        self.committed.set()

    def process_once(self, consumer: str, event_id: str, effect: Any) -> Any:
        """Run `effect(tx)` and record `event_id` as processed by `consumer` in one transaction.
        Returns the effect's result, or raises AlreadyProcessed (having changed nothing) when the
        event was processed before — a redelivery."""
        with self.transaction() as tx:
            # The mark first, so a concurrent duplicate waits here; in the same transaction, so a
            # duplicate that shares a group commit with its first delivery (group.py) sees it too.
            if not tx.mark_if_new(consumer, event_id):
                raise AlreadyProcessed(f"{consumer} already processed {event_id}")
            return effect(tx)

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
            return events_from_tuples(log_page(conn, after, None, limit))

    def read_log_rows(self, after: int = 0, limit: int = 1000) -> list[tuple[Any, ...]]:
        """`read_log`'s page as the stored rows (every `events` column in table order), undecoded:
        the relay writes its envelopes straight from them (envelope_wire.stored_envelope_bytes)."""
        with self.engine.connect() as conn:
            return log_page(conn, after, None, limit)

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
            return events_from_tuples(rows)


class StoreTransaction:
    def __init__(self, store: EventStore, connection: Connection) -> None:
        self.store = store
        self.connection = connection
        self._head: tuple[int, bytes, int] | None = None  # position, global hash, recorded_at_us
        self._sql = driver.statements(store.dialect)
        self._stream_heads: dict[str, tuple[int, bytes]] = {}

    def append(self, stream_id: str, stream_type: str, expected_version: int | None,
               new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        if not new_events:
            return []
        if not stream_id:
            raise ValueError("stream_id must not be empty")
        position, prev_global, last_recorded = self._lock_head(stream_id)
        version, prev_hash = self._stream_head(stream_id)
        if expected_version is not None and expected_version != version:
            raise ConcurrencyConflict(stream_id, expected_version, version)
        store = self.store
        rows, recorded, head, stream = build_rows(
            region=store.region, service=store.service, now=store.clock.now(), stream_id=stream_id,
            stream_type=stream_type, stream=(version, prev_hash), head=(position, prev_global, last_recorded),
            new_events=new_events)
        # Under the head lock no other writer can take these versions; the unique constraints
        # still guard (stream_id, version) and event_id, and raise IntegrityError on a reused id.
        driver.write_events(self.connection, self._sql, rows, head)
        self._head = head
        self._stream_heads[stream_id] = stream
        return recorded

    @property
    def head_seen(self) -> tuple[int, bytes, int] | None:
        """The head as this transaction locked or moved it (None if it never took the lock)."""
        return self._head

    @property
    def stream_heads_seen(self) -> dict[str, tuple[int, bytes]]:
        """(version, hash) of the last event of each stream this transaction read or wrote."""
        return self._stream_heads

    def stream_version(self, stream_id: str) -> int:
        return self._stream_head(stream_id)[0]

    def stream_ends(self, stream_id: str) -> tuple[str, int, datetime, datetime] | None:
        """(stream type, last version, first and last recorded_at) of a stream, None when it has no
        events: a counter's whole state (Aggregate.fold_is_count). The last event's hash is kept
        for an append to the stream in this transaction, as reading the stream head would."""
        row = driver.fetch_one(self.connection, self._sql.stream_ends, (stream_id, stream_id))
        if row is None:
            return None
        self._stream_heads.setdefault(stream_id, (int(row[1]), bytes(row[2])))
        return str(row[0]), int(row[1]), from_micros(row[3]), from_micros(row[4])

    def read_stream(self, stream_id: str, *, after_version: int = 0) -> list[RecordedEvent]:
        return _read_stream(self.connection, stream_id, after_version=after_version, as_of=None)

    def is_processed(self, consumer: str, event_id: str) -> bool:
        return _is_processed(self.connection, consumer, event_id)

    def mark_processed(self, consumer: str, event_id: str) -> None:
        """Record that `consumer` processed `event_id`. A second mark of the same pair fails the
        transaction with IntegrityError."""
        self.connection.execute(
            insert(inbox).values(consumer=consumer, event_id=event_id,
                                 processed_at_us=to_micros(self.store.clock.now()))
        )

    def mark_if_new(self, consumer: str, event_id: str) -> bool:
        """Record that `consumer` processed `event_id`, unless it is recorded already (as this
        transaction sees the inbox): False then, and nothing changed (EventStore.process_once)."""
        return driver.inserted(self.connection, self._sql.inbox_mark,
                               (consumer, event_id, to_micros(self.store.clock.now())))

    @property
    def sql(self) -> driver.Statements:
        return self._sql

    def lock_head_now(self) -> tuple[int, bytes, int]:
        """lock_head, returning the head (position, global hash, recorded_at_us)."""
        return self._lock_head()

    def moved_head(self, head: tuple[int, bytes, int]) -> None:
        """Record that this transaction wrote the head (batch.py)."""
        self._head = head

    def lock_head(self) -> None:
        """Take the store's single head-row lock now and hold it until this transaction ends.

        Every append takes it anyway (see the module docstring); take it earlier when what you read
        must not change before you commit: a read of the log you rebuild a table from, an owner or
        counter you check before appending. Writers then queue behind you, and you read what every
        earlier writer committed. On PostgreSQL it is SELECT ... FOR UPDATE on the `store_head`
        row (re-entrant within the transaction); on SQLite the write transaction's BEGIN IMMEDIATE
        already holds the database's write lock, so it only reads the head. Idempotent."""
        self._lock_head()

    def _lock_head(self, stream_id: str | None = None) -> tuple[int, bytes, int]:
        """Lock and read the head; with `stream_id`, read that stream's head in the same round trip."""
        if self._head is None:
            if stream_id in self._stream_heads:
                stream_id = None
            head, stream = driver.lock_head_and_stream(self.connection, self._sql, stream_id)
            self._head = (int(head[0]), bytes(head[1]), int(head[2]))
            if stream_id is not None:
                self._stream_heads[stream_id] = (int(stream[0]), bytes(stream[1])) if stream else (0, GENESIS)
        return self._head

    def _stream_head(self, stream_id: str) -> tuple[int, bytes]:
        if stream_id not in self._stream_heads:
            row = driver.fetch_one(self.connection, self._sql.stream_head, (stream_id,))
            self._stream_heads[stream_id] = (int(row[0]), bytes(row[1])) if row else (0, GENESIS)
        return self._stream_heads[stream_id]


def _read_stream(conn: Connection, stream_id: str, *, after_version: int,
                 as_of: datetime | None) -> list[RecordedEvent]:
    # Prepared text on the driver: Core's Row objects were a third of loading a long stream.
    sql = driver.statements(conn.dialect.name)
    as_of_us = 2**63 - 1 if as_of is None else to_micros(as_of)
    return events_from_tuples(driver.fetch_all(conn, sql.read_stream, (stream_id, after_version, as_of_us)))


def log_page(conn: Connection, after: int, up_to: int | None, limit: int) -> list[tuple[Any, ...]]:
    """Rows (every `events` column, table order) with after < position <= up_to, in log order."""
    sql = driver.statements(conn.dialect.name).log_page
    return driver.fetch_all(conn, sql, (after, up_to if up_to is not None else 2**63 - 1, limit))


def _stream_version(conn: Connection, stream_id: str) -> int:
    value = conn.execute(select(func.max(events.c.version)).where(events.c.stream_id == stream_id)).scalar()
    return int(value or 0)


def _is_processed(conn: Connection, consumer: str, event_id: str) -> bool:
    return driver.fetch_one(conn, driver.statements(conn.dialect.name).inbox_has, (consumer, event_id)) is not None
