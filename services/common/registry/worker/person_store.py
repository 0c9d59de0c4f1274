"""The registry worker's own durable store of person records (architecture invariants 1 and 5).

Why a store of its own, and not the faust table it had (a changelog topic, mirrored into a backup
by `tongban up`): the registry's records are a truth of their own — which case holds whom, who
waits behind it — that no service store holds, and a broker is a distributor, not a store. With
the table as the only copy, two crashes broke the registry (issue 11):
- kill -9 of the worker: faust recovers a table from its changelog only up to the end offset the
  broker reports, and the local broker (tansu 0.6) reports the start of a partition's last batch
  plus one; the records of the rest of that batch are lost, while the claims-topic offsets behind
  them were committed. A person's record then lacks a waiter or a grant it had decided: a claim
  waits for ever, or a person is granted twice.
- kill -9 of the memory-only broker: the changelog goes with it, and the mirror behind it (one
  more consumer, always late) held 16 of ~100 persons; the replayed claims were decided again in
  the order the refilled topics happened to deliver them.

So each input's effect is committed here — the person's new record and the claims-topic offset
after the input, with those of the other inputs of the batch the worker fetched, in one
transaction — *before* its decisions are sent (SQLite with WAL and synchronous=FULL by default,
or any SQLAlchemy URL, e.g. PostgreSQL). Killed after the commit, the
restarted worker reads the input again (its offset was not committed to the group), finds it in
the record and repeats its decisions with their ids; killed before, it decides it again from the
record before it. A fresh broker loses nothing of the registry: the refilled service topics are
forwarded again, and every claim decided before is repeated, never decided anew.

Every record carries a version, and a write names the version it read (optimistic concurrency):
a worker that lost its partitions in a rebalance but still runs (a zombie) cannot overwrite what
the new owner decided — it fails and restarts. A single SQLite file serves the workers of one
host; several hosts share a PostgreSQL database.

Each row also holds when its record next needs the timer (an unconfirmed hold's expiry, a
waiter's deadline), so the timer reads the due persons only instead of scanning the whole table.

The worker owning a person is its only writer, so the store keeps what it read and wrote in
memory (a write on a stale version still fails, and the worker restarts with an empty cache); and
it keeps each partition's next offset in memory, writing it with the records (and at least every
POSITION_EVERY inputs): a position that lags after a crash only makes the restarted worker read a
few inputs again, which it repeats.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from services.common.events import to_micros
from services.common.store.engine import WRITE, create_store_engine, sqlite_url

STORE_FILE = "persons.db"
POSITION_EVERY = 200
_LOAD_CHUNK = 500  # persons per query of `load`

_metadata = MetaData()
persons = Table(
    "registry_persons", _metadata,
    Column("citizen_id", String(32), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("record", Text, nullable=False),  # record_to_json, as JSON text
    Column("due_at_us", BigInteger, nullable=True, index=True),  # next_due(record); NULL: nothing pending
)
positions = Table(
    "registry_positions", _metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


class StaleRecord(RuntimeError):
    """Another worker wrote the person's record since it was read: this one no longer owns it."""


@dataclass(frozen=True)
class Stored:
    record: Mapping[str, Any]
    version: int


@dataclass(frozen=True)
class Effect:
    """One input's effect: the person's new record (when it changed; `read` is what it was decided
    from, `due` the record's domain.next_due) and the partition's next offset (when it moved)."""

    topic: str
    partition: int
    next_offset: int | None
    citizen_id: str = ""
    record: Mapping[str, Any] | None = None
    read: Stored | None = None
    due: datetime | None = None

    @property
    def version(self) -> int:
        """The version of the record this effect writes."""
        return 1 if self.read is None else self.read.version + 1


class PersonStore:
    """Person records and claims-topic positions. The effects of several inputs are staged (the
    worker reads them back at once: `get` and `position` see what is staged) and committed
    together in one transaction by `flush`: one store write per fetched batch, not per input."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_store_engine(url)
        _metadata.create_all(self.engine)
        self._records: dict[str, Stored] = {}
        self._absent: set[str] = set()  # persons known to have no record (see load)
        self._positions: dict[tuple[str, int], int | None] = {}
        self._written: dict[tuple[str, int], int] = {}  # the position last written
        self._staged: list[Effect] = []
        self._staged_records: dict[str, Stored] = {}
        self._staged_positions: dict[tuple[str, int], int] = {}

    @classmethod
    def in_directory(cls, datadir: Path) -> PersonStore:
        datadir.mkdir(parents=True, exist_ok=True)
        return cls(sqlite_url(datadir / STORE_FILE))

    def get(self, citizen_id: str) -> Stored | None:
        staged = self._staged_records.get(citizen_id)
        if staged is not None:
            return staged
        if citizen_id not in self._records and citizen_id not in self._absent:
            self.load([citizen_id])
        return self._records.get(citizen_id)

    def load(self, citizen_ids: Iterable[str]) -> None:
        """Read the records of these persons that are not in memory yet, in one query: the worker
        calls it for a fetched batch before it decides the batch's inputs one by one. A person
        without a record is remembered as such: this worker owns the person, and were another
        worker to write a record meanwhile, inserting one would fail (StaleRecord)."""
        missing = sorted({c for c in citizen_ids if c not in self._records and c not in self._absent})
        if not missing:
            return
        with self.engine.connect() as conn:
            for start in range(0, len(missing), _LOAD_CHUNK):
                chunk = missing[start:start + _LOAD_CHUNK]
                rows = conn.execute(select(persons.c.citizen_id, persons.c.record, persons.c.version)
                                    .where(persons.c.citizen_id.in_(chunk))).all()
                for row in rows:
                    self._records[row.citizen_id] = Stored(json.loads(row.record), row.version)
                self._absent.update(set(chunk) - {row.citizen_id for row in rows})

    def position(self, topic: str, partition: int) -> int | None:
        staged = self._staged_positions.get((topic, partition))
        if staged is not None:
            return staged
        if (topic, partition) not in self._positions:
            with self.engine.connect() as conn:
                self._positions[(topic, partition)] = conn.execute(select(positions.c.next_offset).where(
                    positions.c.topic == topic, positions.c.partition == partition)).scalar()
        return self._positions[(topic, partition)]

    def commit(self, topic: str, partition: int, *, next_offset: int | None, citizen_id: str = "",
               record: Mapping[str, Any] | None = None, read: Stored | None = None,
               due: datetime | None = None) -> None:
        """One input's effect (Effect), in one transaction: `stage` then `flush`."""
        self.stage(Effect(topic, partition, next_offset, citizen_id, record, read, due))
        self.flush()

    def stage(self, effect: Effect) -> None:
        """Hold `effect` for the next `flush`; `get` and `position` see it from now on."""
        if effect.record is None and effect.next_offset is None:
            return
        self._staged.append(effect)
        if effect.record is not None:
            self._staged_records[effect.citizen_id] = Stored(effect.record, effect.version)
        if effect.next_offset is not None:
            self._staged_positions[(effect.topic, effect.partition)] = effect.next_offset

    def flush(self) -> None:
        """Commit every staged effect in one transaction, in the order staged; each record write
        names the version it was decided from (a second effect on the same person names the
        first's). Raises StaleRecord, with nothing committed, if another worker wrote one of them.
        A partition's position is written with the records, or when it moved POSITION_EVERY
        inputs since it was last written; otherwise it is kept in memory (see the module docstring)."""
        effects, moved = self._staged, dict(self._staged_positions)
        self._staged, self._staged_records, self._staged_positions = [], {}, {}
        # Per person, the first effect's read (what the store must still hold) and the last
        # effect's record: the row goes from one to the other in one statement.
        first: dict[str, Effect] = {}
        last: dict[str, Effect] = {}
        for effect in effects:
            if effect.record is not None:
                first.setdefault(effect.citizen_id, effect)
                last[effect.citizen_id] = effect
        with_records = {(e.topic, e.partition) for e in effects if e.record is not None}
        write = {tp: offset for tp, offset in moved.items()
                 if tp in with_records or offset - self._written.get(tp, 0) >= POSITION_EVERY}
        if last or write:
            try:
                with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
                    self._write_records(conn, [(first[c].read, last[c]) for c in last])
                    for (topic, partition), next_offset in write.items():
                        self._write_position(conn, topic, partition, next_offset)
            except BaseException:
                for citizen_id in last:  # memory as the store is: read again from it
                    self._records.pop(citizen_id, None)
                    self._absent.discard(citizen_id)
                raise
        # Only once committed: a failed transaction leaves memory as the store is.
        for tp, next_offset in moved.items():
            self._positions[tp] = next_offset
        self._written.update(write)
        for citizen_id, effect in last.items():
            assert effect.record is not None
            self._records[citizen_id] = Stored(effect.record, effect.version)
            self._absent.discard(citizen_id)

    @staticmethod
    def _write_records(conn: Any, changes: list[tuple[Stored | None, Effect]]) -> None:
        """Each (what was read, the effect to write): an insert where nothing was read, else an
        update naming the version read. One statement for all inserts, one for all updates."""
        def values(effect: Effect) -> dict[str, Any]:
            return {"record": json.dumps(effect.record, separators=(",", ":")),
                    "due_at_us": None if effect.due is None else to_micros(effect.due), "version": effect.version}

        inserts = [{"citizen_id": e.citizen_id, **values(e)} for read, e in changes if read is None]
        updates = [{"who": e.citizen_id, "read_version": read.version, **values(e)}
                   for read, e in changes if read is not None]
        if inserts:
            try:
                conn.execute(insert(persons), inserts)
            except IntegrityError as exc:
                raise StaleRecord(f"a record of one of {len(inserts)} persons appeared since it was read") from exc
        if not updates:
            return
        statement = (update(persons).where(persons.c.citizen_id == bindparam("who"),
                                           persons.c.version == bindparam("read_version"))
                     .values(record=bindparam("record"), due_at_us=bindparam("due_at_us"),
                             version=bindparam("version")))
        if conn.dialect.supports_sane_multi_rowcount:
            if conn.execute(statement, updates).rowcount != len(updates):
                raise StaleRecord(f"the record of one of {len(updates)} persons changed since it was read")
            return
        for row in updates:
            if conn.execute(statement, row).rowcount != 1:
                raise StaleRecord(f"the record of {row['who'][:6]}… changed since it was read")

    @staticmethod
    def _write_position(conn: Any, topic: str, partition: int, next_offset: int) -> None:
        moved = conn.execute(update(positions).where(positions.c.topic == topic, positions.c.partition == partition)
                             .values(next_offset=next_offset))
        if moved.rowcount == 0:
            conn.execute(insert(positions).values(topic=topic, partition=partition, next_offset=next_offset))

    def due(self, now: datetime) -> list[tuple[str, int]]:
        """The persons whose record needs the timer at `now`, with the instant it is due (µs)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(persons.c.citizen_id, persons.c.due_at_us)
                                .where(persons.c.due_at_us <= to_micros(now))).all()
        return [(row.citizen_id, int(row.due_at_us)) for row in rows]

    def forget_positions(self) -> int:
        """Forget where the worker stood in the claims topic: for a fresh broker, whose offsets
        start again at 0 (the stack calls it before the worker starts on one)."""
        self._positions.clear()
        self._staged_positions.clear()
        self._written.clear()
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            return conn.execute(delete(positions)).rowcount

    def count(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(persons.c.citizen_id)).all())

    def close(self) -> None:
        self.engine.dispose()
