"""The snapshot table: the newest snapshot of each long stream, beside the log.

A snapshot is a cache of a stream's fold, never truth (architecture invariant 1): it may be
deleted, rebuilt from the log at any time, and is verified against the log by `tongban audit
verify`. So, unlike `events`, the table has no immutability triggers, and a snapshot is replaced
in place when a newer one is taken. Each row says where in the log it stands: the stream version
it folds up to, the global position of that event, and the stream chain hash at that version; a
load uses it only when the log still has that very event (same version, same hash).

What the state bytes mean (an aggregate's fields, encoded by the kit) and which code shape wrote
them (`shape`) is the kit's business (services/common/kit/snapshots.py); the store only keeps them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, delete, select, text
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent
from services.common.store import driver
from services.common.store.decode import events_from_tuples

TABLES = MetaData()

snapshots = Table(
    "snapshots",
    TABLES,
    Column("stream_id", String(200), primary_key=True),
    Column("stream_type", String(100), nullable=False),
    Column("shape", String(100), nullable=False),  # the aggregate's snapshot version and shape digest
    Column("version", BigInteger, nullable=False),  # the stream version the state folds up to
    Column("position", BigInteger, nullable=False),  # the global position of that event
    Column("hash", LargeBinary(32), nullable=False),  # the stream chain hash of that event
    Column("state", LargeBinary, nullable=False),
    Column("taken_at_us", BigInteger, nullable=False),
)

_COLUMNS = tuple(c.name for c in snapshots.columns)
# Standard upsert on both SQLite (3.24+) and PostgreSQL: one row per stream, the newest wins.
_UPSERT = text(
    f"INSERT INTO snapshots ({', '.join(_COLUMNS)}) VALUES ({', '.join(':' + c for c in _COLUMNS)}) "
    "ON CONFLICT (stream_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "stream_id")
)


@dataclass(frozen=True)
class StoredSnapshot:
    stream_id: str
    stream_type: str
    shape: str
    version: int
    position: int
    hash: bytes
    state: bytes
    taken_at_us: int


def _from_row(row: Any) -> StoredSnapshot:
    return StoredSnapshot(str(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), bytes(row[5]),
                          bytes(row[6]), int(row[7]))


def read_with_tail(conn: Connection, stream_id: str) -> tuple[StoredSnapshot | None, list[RecordedEvent]]:
    """The stream's snapshot (or None) and its events from the snapshot's own version on (from
    version 1 when there is none): what a load needs, in one round trip on PostgreSQL (a pipeline),
    so a short stream without a snapshot costs no more round trips than reading it did. Under READ
    COMMITTED the two statements may see different snapshots of a stream being written; the
    caller then finds the tail not starting at its snapshot and reads the stream whole."""
    pg = conn.dialect.name == "postgresql"
    p = "%s" if pg else "?"
    head_sql = f"SELECT {', '.join(_COLUMNS)} FROM snapshots WHERE stream_id = {p}"
    tail_sql = (f"SELECT {', '.join(driver.COLUMNS)} FROM events WHERE stream_id = {p} AND version >= "
                f"COALESCE((SELECT version FROM snapshots WHERE stream_id = {p}), 1) ORDER BY version")
    if not pg:
        row = driver.fetch_one(conn, head_sql, (stream_id,))
        tail = driver.fetch_all(conn, tail_sql, (stream_id, stream_id))
    else:
        with driver.driver_errors(conn, tail_sql, (stream_id,)):
            db = driver.raw(conn)
            with db.pipeline(), db.cursor() as head_cur, db.cursor() as tail_cur:
                head_cur.execute(head_sql, (stream_id,))
                tail_cur.execute(tail_sql, (stream_id, stream_id))
                row = head_cur.fetchone()
                tail = tail_cur.fetchall()
    return (None if row is None else _from_row(row)), events_from_tuples(tail)


def write(conn: Connection, snapshot: StoredSnapshot) -> None:
    """Store `snapshot`, replacing the stream's earlier one."""
    conn.execute(_UPSERT, {c: getattr(snapshot, c) for c in _COLUMNS})


def every(conn: Connection) -> Iterator[StoredSnapshot]:
    """Every snapshot in the store, by stream id."""
    for row in conn.execute(select(snapshots).order_by(snapshots.c.stream_id)):
        yield _from_row(row)


def remove(conn: Connection, stream_id: str | None = None) -> int:
    """Delete one stream's snapshot, or (None) all of them; returns how many went."""
    statement = delete(snapshots)
    if stream_id is not None:
        statement = statement.where(snapshots.c.stream_id == stream_id)
    return int(conn.execute(statement).rowcount or 0)
