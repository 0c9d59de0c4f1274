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

So each input's effect is committed here, in one transaction — the person's new record and the
claims-topic offset after the input — *before* its decisions are sent (SQLite with WAL and
synchronous=FULL by default, or any SQLAlchemy URL, e.g. PostgreSQL). Killed after the commit, the
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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from services.common.events import to_micros
from services.common.store.engine import WRITE, create_store_engine, sqlite_url

STORE_FILE = "persons.db"
POSITION_EVERY = 200

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


class PersonStore:
    """Person records and claims-topic positions, one transaction per input."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_store_engine(url)
        _metadata.create_all(self.engine)
        self._records: dict[str, Stored] = {}
        self._positions: dict[tuple[str, int], int | None] = {}
        self._written: dict[tuple[str, int], int] = {}  # the position last written

    @classmethod
    def in_directory(cls, datadir: Path) -> PersonStore:
        datadir.mkdir(parents=True, exist_ok=True)
        return cls(sqlite_url(datadir / STORE_FILE))

    def get(self, citizen_id: str) -> Stored | None:
        cached = self._records.get(citizen_id)
        if cached is not None:
            return cached
        with self.engine.connect() as conn:
            row = conn.execute(select(persons.c.record, persons.c.version)
                               .where(persons.c.citizen_id == citizen_id)).first()
        if row is None:
            return None
        stored = self._records[citizen_id] = Stored(json.loads(row.record), row.version)
        return stored

    def position(self, topic: str, partition: int) -> int | None:
        if (topic, partition) not in self._positions:
            with self.engine.connect() as conn:
                self._positions[(topic, partition)] = conn.execute(select(positions.c.next_offset).where(
                    positions.c.topic == topic, positions.c.partition == partition)).scalar()
        return self._positions[(topic, partition)]

    def commit(self, topic: str, partition: int, *, next_offset: int | None, citizen_id: str = "",
               record: Mapping[str, Any] | None = None, read: Stored | None = None,
               due: datetime | None = None) -> None:
        """One input's effect: the person's new record (when it changed; `read` is what it was
        decided from, `due` the record's domain.next_due) and the partition's next offset (when it
        moved), in one transaction."""
        if (next_offset is not None and record is None
                and next_offset - self._written.get((topic, partition), 0) < POSITION_EVERY):
            self._positions[(topic, partition)] = next_offset
            return  # kept in memory: see the module docstring
        if record is None and next_offset is None:
            return
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            if record is not None:
                values = {"record": json.dumps(record, separators=(",", ":")),
                          "due_at_us": None if due is None else to_micros(due)}
                if read is None:
                    exists = conn.execute(select(persons.c.version)
                                          .where(persons.c.citizen_id == citizen_id)).first()
                    if exists is not None:
                        raise StaleRecord(f"a record of {citizen_id[:6]}… appeared since it was read")
                    try:
                        conn.execute(insert(persons).values(citizen_id=citizen_id, version=1, **values))
                    except IntegrityError as exc:
                        # Another worker's insert committed after the check above (PostgreSQL's read
                        # committed lets both pass it): the same refusal as any stale write.
                        raise StaleRecord(f"a record of {citizen_id[:6]}… appeared since it was read") from exc
                    version = 1
                else:
                    done = conn.execute(update(persons).where(persons.c.citizen_id == citizen_id,
                                                              persons.c.version == read.version)
                                        .values(version=read.version + 1, **values))
                    if done.rowcount != 1:
                        self._records.pop(citizen_id, None)
                        raise StaleRecord(f"the record of {citizen_id[:6]}… changed since it was read")
                    version = read.version + 1
            if next_offset is not None:
                moved = conn.execute(update(positions).where(positions.c.topic == topic,
                                                             positions.c.partition == partition)
                                     .values(next_offset=next_offset))
                if moved.rowcount == 0:
                    conn.execute(insert(positions).values(topic=topic, partition=partition, next_offset=next_offset))
        # Only once committed: a failed transaction leaves memory as the store is.
        if next_offset is not None:
            self._positions[(topic, partition)] = self._written[(topic, partition)] = next_offset
        if record is not None:
            self._records[citizen_id] = Stored(record, version)

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
        self._written.clear()
        with self.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            return conn.execute(delete(positions)).rowcount

    def count(self) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(persons.c.citizen_id)).all())

    def close(self) -> None:
        self.engine.dispose()
