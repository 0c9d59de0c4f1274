"""SQLite: a single append (`EventStore.append`) straight on a driver connection of its own.

The transactional path opens a SQLAlchemy Connection and transaction around the same statements;
for one append that bookkeeping (connection wrapper, begin event, transaction objects) was about a
quarter of the time beside the commit's fsync (issue 15's profile). Checking a connection out of
the pool and back in (its reset, the weak references, the queue) was another quarter of what was
left. So single appends keep one pooled connection checked out for the store's lifetime, with one
cursor, behind a lock: appends in one process take SQLite's single write lock one at a time
anyway, so waiting on the lock instead of on SQLite's busy handler costs nothing.

Each append runs BEGIN IMMEDIATE (the write lock, as on the transactional path), the
head-and-stream read, the insert and the head update, and COMMIT; any failure rolls back and is
raised as the SQLAlchemy exception the transactional path would raise."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from services.common.errors import ConcurrencyConflict
from services.common.events import NewEvent, RecordedEvent
from services.common.hashing import GENESIS
from services.common.store.driver import statements
from services.common.store.rows import build_rows


class SingleAppender:
    """The single-append path of one SQLite store (opened at the first append, closed with it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._fairy: Any = None
        self._cursor: Any = None
        self._sql = statements("sqlite")

    def close(self) -> None:
        with self._lock:
            if self._fairy is not None:
                self._cursor.close()
                self._fairy.close()
                self._fairy = self._cursor = None

    def append(self, *, region: str, service: str, now: datetime, stream_id: str, stream_type: str,
               expected_version: int | None, new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        with self._lock:
            if self._fairy is None:
                self._fairy = self.engine.raw_connection()
                self._cursor = self._fairy.driver_connection.cursor()
            try:
                return self._append(self._cursor, region=region, service=service, now=now, stream_id=stream_id,
                                    stream_type=stream_type, expected_version=expected_version,
                                    new_events=new_events)
            except DBAPIError as exc:
                if exc.connection_invalidated or (isinstance(exc.orig, sqlite3.DatabaseError) and \
                        not isinstance(exc.orig, sqlite3.IntegrityError)):
                    self._discard()  # a connection in doubt is not reused: the next append opens another
                raise

    def _discard(self) -> None:
        try:
            self._cursor.close()
            self._fairy.invalidate()
        finally:
            self._fairy = self._cursor = None

    def _append(self, cur: Any, *, region: str, service: str, now: datetime, stream_id: str, stream_type: str,
                expected_version: int | None, new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        sql = self._sql
        statement, params = "BEGIN IMMEDIATE", ()
        try:
            cur.execute(statement)
            try:
                statement, params = sql.head_and_stream, (stream_id,)
                row = cur.execute(statement, params).fetchone()
                assert row is not None, "the store has no head row"
                version, prev_hash = (0, GENESIS) if row[3] is None else (row[3], row[4])
                if expected_version is not None and expected_version != version:
                    raise ConcurrencyConflict(stream_id, expected_version, version)
                rows, recorded, head, _ = build_rows(
                    region=region, service=service, now=now, stream_id=stream_id, stream_type=stream_type,
                    stream=(version, prev_hash), head=(row[0], row[1], row[2]), new_events=new_events)
                statement, params = sql.insert, rows
                if len(rows) == 1:
                    cur.execute(statement, rows[0])
                else:
                    cur.executemany(statement, rows)
                statement, params = sql.update_head, head
                cur.execute(statement, head)
                statement, params = "COMMIT", ()
                cur.execute(statement)
            except BaseException:
                if cur.connection.in_transaction:
                    cur.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, params, exc, sqlite3.Error, dialect=self.engine.dialect) from exc
        return recorded
