"""The store's hot statements as prepared SQL text per dialect, run on the DBAPI connection under
the SQLAlchemy Connection's own transaction.

Why not SQLAlchemy Core here: building, caching and compiling four Core statements took about two
thirds of a single-event append on SQLite (issue 15's profile). The text below is fixed per
dialect, so the driver sees the same strings every time (psycopg prepares them server-side after a
few uses; sqlite3 keeps them in its statement cache). Driver errors are re-raised as SQLAlchemy's
(`IntegrityError`, `OperationalError`, ...), exactly as `Connection.execute` would raise them, so
callers such as `EventStore.process_once` and the host's retry loop see no difference.

PostgreSQL round trips of an append: the head lock and the stream head are two statements (the
stream must be read after the lock is granted: under READ COMMITTED one statement's snapshot
predates the wait and would miss a writer that committed meanwhile), sent together in a psycopg
pipeline with the transaction's BEGIN; the event inserts and the head update go in a second
pipeline. With the commit that is three round trips, down from six."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from services.common.store.schema import events

COLUMNS = tuple(c.name for c in events.columns)
_COLUMN_LIST = ", ".join(COLUMNS)
_HEAD = "SELECT position, global_hash, recorded_at_us FROM store_head WHERE id = 1"


class Statements:
    """The SQL text of the hot path for one dialect's parameter style."""

    def __init__(self, dialect: str) -> None:
        p = "?" if dialect == "sqlite" else "%s"
        self.pipelined = dialect == "postgresql"
        # SQLite: BEGIN IMMEDIATE already holds the database's write lock, so the head and the
        # stream head come in one statement. PostgreSQL: the head row lock, then the stream head.
        self.head = _HEAD if dialect == "sqlite" else _HEAD + " FOR UPDATE"
        self.stream_head = f"SELECT version, hash FROM events WHERE stream_id = {p} ORDER BY version DESC LIMIT 1"
        self.head_and_stream = (
            "SELECT h.position, h.global_hash, h.recorded_at_us, s.version, s.hash FROM store_head AS h "
            f"LEFT JOIN ({self.stream_head}) AS s ON 1 = 1 WHERE h.id = 1"
        )
        # The last version and hash of many streams at once (PostgreSQL; SQLite asks per stream).
        self.stream_heads = ("SELECT DISTINCT ON (stream_id) stream_id, version, hash FROM events "
                             "WHERE stream_id = ANY(%s) ORDER BY stream_id, version DESC")
        self.insert = f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join([p] * len(COLUMNS))})"
        self.update_head = f"UPDATE store_head SET position = {p}, global_hash = {p}, recorded_at_us = {p} WHERE id = 1"
        self.read_stream = (f"SELECT {_COLUMN_LIST} FROM events WHERE stream_id = {p} AND version > {p} "
                            f"AND recorded_at_us <= {p} ORDER BY version")
        self.log_page = (f"SELECT {_COLUMN_LIST} FROM events WHERE position > {p} AND position <= {p} "
                         f"ORDER BY position LIMIT {p}")
        # A stream's type, its last version and hash, and when its first and last events were
        # recorded: all a counter's load needs (Aggregate.fold_is_count). One statement, so one
        # snapshot of the stream on PostgreSQL; no row for a stream without events.
        self.stream_ends = (
            "SELECT l.stream_type, l.version, l.hash, f.recorded_at_us, l.recorded_at_us FROM "
            f"(SELECT stream_type, version, hash, recorded_at_us FROM events WHERE stream_id = {p} "
            "ORDER BY version DESC LIMIT 1) AS l, "
            f"(SELECT recorded_at_us FROM events WHERE stream_id = {p} AND version = 1) AS f"
        )
        # The inbox: a consumer's mark on a message, or nothing when the mark is there already
        # (DO NOTHING: no error to roll back, and on PostgreSQL a concurrent mark of the same pair
        # waits for the other transaction, then counts as there if it committed).
        self.inbox_mark = (f"INSERT INTO inbox (consumer, event_id, processed_at_us) VALUES ({p}, {p}, {p}) "
                           "ON CONFLICT DO NOTHING")
        self.inbox_has = f"SELECT 1 FROM inbox WHERE consumer = {p} AND event_id = {p}"


_STATEMENTS: dict[str, Statements] = {}


def statements(dialect: str) -> Statements:
    found = _STATEMENTS.get(dialect)
    if found is None:
        found = _STATEMENTS[dialect] = Statements(dialect)
    return found


@contextmanager
def driver_errors(conn: Connection, sql: str, params: Any) -> Iterator[None]:
    """Re-raise a DBAPI error as the SQLAlchemy exception `Connection.execute` would raise."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise DBAPIError.instance(sql, params, exc, dbapi_error, dialect=conn.dialect) from exc


def raw(conn: Connection) -> Any:
    """The DBAPI connection under `conn` (sqlite3 or psycopg)."""
    return conn.connection.driver_connection


def fetch_one(conn: Connection, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
    with driver_errors(conn, sql, params):
        cursor = raw(conn).cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchone()
        finally:
            cursor.close()


def fetch_all(conn: Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with driver_errors(conn, sql, params):
        cursor = raw(conn).cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall()
        finally:
            cursor.close()


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> None:
    """Run one statement that returns no rows."""
    with driver_errors(conn, sql, params):
        cursor = raw(conn).cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()


def inserted(conn: Connection, sql: str, params: Sequence[Any]) -> bool:
    """Run an INSERT ... ON CONFLICT DO NOTHING; whether it inserted its row."""
    with driver_errors(conn, sql, params):
        cursor = raw(conn).cursor()
        try:
            cursor.execute(sql, params)
            return bool(cursor.rowcount == 1)
        finally:
            cursor.close()


def lock_head_and_stream(conn: Connection, sql: Statements, stream_id: str | None
                         ) -> tuple[tuple[Any, ...], tuple[Any, ...] | None]:
    """(position, global_hash, recorded_at_us) of the locked head and, when `stream_id` is given,
    (version, hash) of the stream's last event or None. One round trip on either database."""
    if stream_id is None:
        head = fetch_one(conn, sql.head)
        assert head is not None, "the store has no head row"
        return head, None
    if not sql.pipelined:
        row = fetch_one(conn, sql.head_and_stream, (stream_id,))
        assert row is not None, "the store has no head row"
        return row[:3], (None if row[3] is None else row[3:])
    text = f"{sql.head}; {sql.stream_head}"
    with driver_errors(conn, text, (stream_id,)):
        db = raw(conn)
        with db.pipeline(), db.cursor() as head_cur, db.cursor() as stream_cur:
            head_cur.execute(sql.head)
            stream_cur.execute(sql.stream_head, (stream_id,))
            head = head_cur.fetchone()
            stream = stream_cur.fetchone()
    assert head is not None, "the store has no head row"
    return head, stream


def write_events(conn: Connection, sql: Statements, rows: list[tuple[Any, ...]], head: tuple[Any, ...]) -> None:
    """Insert the event rows and move the head; one round trip on PostgreSQL (a pipeline)."""
    with driver_errors(conn, sql.insert, rows[0] if len(rows) == 1 else rows):
        db = raw(conn)
        if not sql.pipelined:
            cursor = db.cursor()
            try:
                if len(rows) == 1:
                    cursor.execute(sql.insert, rows[0])
                else:
                    cursor.executemany(sql.insert, rows)
                cursor.execute(sql.update_head, head)
            finally:
                cursor.close()
            return
        with db.pipeline(), db.cursor() as cursor:
            cursor.executemany(sql.insert, rows)
            cursor.execute(sql.update_head, head)


def stream_heads(conn: Connection, sql: Statements, stream_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """{stream_id: (version, hash)} of the last event of each stream that has one, in one
    statement."""
    if sql.pipelined:
        return {row[0]: row[1:] for row in fetch_all(conn, sql.stream_heads, (stream_ids,))}
    if len(stream_ids) == 1:
        row = fetch_one(conn, sql.stream_head, (stream_ids[0],))
        return {} if row is None else {stream_ids[0]: row}
    # SQLite gives the bare column `hash` from the row that holds the max(version).
    text = (f"SELECT stream_id, max(version), hash FROM events WHERE stream_id IN "
            f"({', '.join('?' * len(stream_ids))}) GROUP BY stream_id")
    return {row[0]: row[1:] for row in fetch_all(conn, text, stream_ids)}
