"""PostgreSQL: a single append (`EventStore.append`) in one round trip, when the store already
knows where the log ends.

The transactional append needs what is in the database before it can hash: the log's head (last
position and global hash) and the stream's last version and hash. Read under the head lock, that
is a round trip before the writes and one for the commit. But one store object is usually the only
writer of its database, so the head it committed last is still the head: this path guesses it and
lets the database check the guess, all in one pipeline (BEGIN; one statement; COMMIT; one sync):

    WITH h AS (UPDATE store_head SET <new head> WHERE id = 1 AND position = <guess> AND
               global_hash = <guess> RETURNING 1)
    INSERT INTO events (...) SELECT v.* FROM (VALUES <rows>) AS v, h

The UPDATE takes the head row lock, exactly as the transactional path does, and re-checks its
WHERE on the newest row version once the lock is granted (READ COMMITTED), so a wrong guess inserts
nothing and the commit commits nothing: the caller then takes the transactional path. The stream's
side needs no guess about "now": the expected version and the hash of that version are facts of
an immutable event (known for a new stream, or remembered from a commit of ours), and the unique
(stream_id, version) constraint refuses the insert if anybody has written the next version — a
conflict, reported as ConcurrencyConflict like the transactional path does. The hints are only
taken from commits that succeeded, so a rolled-back append never leaves a false hash behind."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from services.common.errors import ConcurrencyConflict
from services.common.events import NewEvent, RecordedEvent
from services.common.hashing import GENESIS
from services.common.store.rows import Head, StreamHead, build_rows
from services.common.store.schema import events

_COLUMNS = ", ".join(c.name for c in events.columns)
_CASTS = [f"%s::{c.type.compile(dialect=postgresql.dialect())}" for c in events.columns]
_GUARDED_HEAD = ("WITH h AS (UPDATE store_head SET position = %s, global_hash = %s, recorded_at_us = %s "
                 "WHERE id = 1 AND position = %s AND global_hash = %s RETURNING 1) ")
_STREAM_HEAD = "SELECT coalesce(max(version), 0) FROM events WHERE stream_id = %s"
STREAM_HINTS = 10_000  # remembered stream heads at most (each a version and a 32-byte hash)


def _insert_sql(rows: int) -> str:
    values = ", ".join(f"({', '.join(_CASTS)})" for _ in range(rows))
    return f"{_GUARDED_HEAD}INSERT INTO events ({_COLUMNS}) SELECT v.* FROM (VALUES {values}) AS v, h"


# Several events: one array per column, unnested into rows. The text is the same for any count, so
# psycopg keeps it parsed and the server prepares it; a VALUES list of 100 rows was 2,400
# placeholders that psycopg split anew on every append (too long for its statement cache): 60 µs of
# client CPU an event, most of a batched append on PostgreSQL (issue 15, bench store).
_SINGLE_ROW = _insert_sql(1)
_MANY_ROWS = (f"{_GUARDED_HEAD}INSERT INTO events ({_COLUMNS}) SELECT v.* FROM unnest("
              + ", ".join(f"{cast.replace('%s', '%b', 1)}[]" for cast in _CASTS) + ") AS v, h")


def _statement(rows: list[tuple[Any, ...]], new_head: Head, head: Head) -> tuple[str, list[Any]]:
    guard = [*new_head, head[0], head[1]]
    if len(rows) == 1:
        return _SINGLE_ROW, [*guard, *rows[0]]
    return _MANY_ROWS, [*guard, *(list(column) for column in zip(*rows, strict=True))]


class Hints:
    """What this store object committed last: the head, and the last version and hash of the
    streams it wrote. Only ever a guess for the fast path; the database checks it."""

    def __init__(self) -> None:
        self.head: Head | None = None
        self.streams: dict[str, StreamHead] = {}
        self.fast_appends = 0  # appends that took the one-round-trip path

    def committed(self, head: Head | None, streams: dict[str, StreamHead]) -> None:
        if head is not None:
            self.head = head
        if len(self.streams) + len(streams) > STREAM_HINTS:
            self.streams.clear()
        self.streams.update(streams)


def try_append(engine: Engine, hints: Hints, *, region: str, service: str, now: datetime, stream_id: str,
               stream_type: str, expected_version: int | None, new_events: Sequence[NewEvent]
               ) -> list[RecordedEvent] | None:
    """The recorded events, or None when the guess could not be made or was wrong (nothing was
    written then; take the transactional path)."""
    head = hints.head
    if head is None or expected_version is None:
        return None
    stream = (0, GENESIS) if expected_version == 0 else hints.streams.get(stream_id)
    if stream is None or stream[0] != expected_version:
        return None
    rows, recorded, new_head, new_stream = build_rows(
        region=region, service=service, now=now, stream_id=stream_id, stream_type=stream_type,
        stream=stream, head=head, new_events=new_events)
    sql, params = _statement(rows, new_head, head)
    from psycopg import pq  # only a PostgreSQL store comes here

    fairy = engine.raw_connection()
    try:
        db = fairy.driver_connection
        assert db is not None
        db.autocommit = True  # BEGIN and COMMIT are ours, so all three go in one pipeline
        try:
            inserted = _one_round_trip(db, sql, params)
        except db.IntegrityError as exc:
            _rollback(db)
            if getattr(exc.diag, "constraint_name", None) == "uq_events_stream_version":
                with db.cursor() as cursor:
                    cursor.execute(_STREAM_HEAD, (stream_id,))
                    row = cursor.fetchone()
                raise ConcurrencyConflict(stream_id, expected_version, int(row[0]) if row else 0) from exc
            raise DBAPIError.instance(sql, params, exc, db.Error, dialect=engine.dialect) from exc
        except db.Error as exc:
            _rollback(db)
            raise DBAPIError.instance(sql, params, exc, db.Error, dialect=engine.dialect) from exc
        finally:
            if not db.closed and db.info.transaction_status == pq.TransactionStatus.IDLE:
                db.autocommit = False
            else:  # never hand the pool a connection left in autocommit or mid-transaction
                fairy.invalidate()
    finally:
        fairy.close()
    if inserted != len(rows):
        hints.head = None  # somebody else moved the head: learn it again on the transactional path
        return None
    hints.committed(new_head, {stream_id: new_stream})
    hints.fast_appends += 1
    return recorded


def _one_round_trip(db: Any, sql: str, params: list[Any]) -> int:
    with db.pipeline(), db.cursor() as begin, db.cursor() as insert, db.cursor() as commit:
        begin.execute("BEGIN")
        insert.execute(sql, params)
        commit.execute("COMMIT")
    return int(insert.rowcount)


def _rollback(db: Any) -> None:
    from psycopg import pq

    if not db.closed and db.info.transaction_status != pq.TransactionStatus.IDLE:
        db.execute("ROLLBACK")
