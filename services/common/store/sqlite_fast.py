"""SQLite: a single append (`EventStore.append`) straight on the driver connection.

The transactional path opens a SQLAlchemy Connection and transaction around the same statements;
for one append that bookkeeping (connection wrapper, begin event, transaction objects) was about a
quarter of the time beside the commit's fsync (issue 15's profile). Here the pooled sqlite3
connection runs BEGIN IMMEDIATE (the write lock, as on the transactional path), the head-and-stream
read, the inserts and the head update, and COMMIT; any failure rolls back and is raised as the
SQLAlchemy exception the transactional path would raise."""

from __future__ import annotations

import sqlite3
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


def append(engine: Engine, *, region: str, service: str, now: datetime, stream_id: str, stream_type: str,
           expected_version: int | None, new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
    sql = statements("sqlite")
    fairy = engine.raw_connection()
    try:
        db: Any = fairy.driver_connection
        statement, params = "BEGIN IMMEDIATE", ()
        try:
            db.execute(statement)
            try:
                statement, params = sql.head_and_stream, (stream_id,)
                row = db.execute(statement, params).fetchone()
                assert row is not None, "the store has no head row"
                version, prev_hash = (0, GENESIS) if row[3] is None else (row[3], row[4])
                if expected_version is not None and expected_version != version:
                    raise ConcurrencyConflict(stream_id, expected_version, version)
                rows, recorded, head, _ = build_rows(
                    region=region, service=service, now=now, stream_id=stream_id, stream_type=stream_type,
                    stream=(version, prev_hash), head=(row[0], row[1], row[2]), new_events=new_events)
                statement, params = sql.insert, rows
                db.executemany(statement, rows)
                statement, params = sql.update_head, head
                db.execute(statement, head)
                statement, params = "COMMIT", ()
                db.execute(statement)
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise DBAPIError.instance(statement, params, exc, sqlite3.Error, dialect=engine.dialect) from exc
        return recorded
    finally:
        fairy.close()
