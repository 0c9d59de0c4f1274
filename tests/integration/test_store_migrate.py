"""A store created before `events.position` became SQLite's rowid is upgraded when it is opened:
every event kept byte for byte, both hash chains still verify (architecture invariant 3), events
still refuse updates and deletes, and appends go on where the log ended."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from services.common.store import NO_STREAM, EventStore, sqlite_url, verify_store
from tests.support import new_event


def _as_created_before(path: Path) -> None:
    """Give the events table the earlier declaration (position BIGINT: a hidden rowid and a
    separate primary-key index), rows, index and triggers unchanged."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        (ddl,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'events'").fetchone()
        triggers = [sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'")]
        db.execute("BEGIN IMMEDIATE")
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
            db.execute(f"DROP TRIGGER {name}")
        db.execute("DROP INDEX ix_events_correlation")
        db.execute("ALTER TABLE events RENAME TO events_new")
        db.execute(ddl.replace("position INTEGER NOT NULL", "position BIGINT NOT NULL"))
        db.execute("INSERT INTO events SELECT * FROM events_new")
        db.execute("DROP TABLE events_new")
        db.execute("CREATE INDEX ix_events_correlation ON events (correlation_id)")
        for sql in triggers:
            db.execute(sql)
        db.execute("COMMIT")
    finally:
        db.close()


def _events_schema(path: Path) -> list[tuple[str, str, str | None]]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'events'").fetchall())
    finally:
        db.close()


def _position_declared(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return next(str(row[2]) for row in db.execute("PRAGMA table_info(events)") if row[1] == "position")
    finally:
        db.close()


def test_an_old_sqlite_store_is_upgraded_on_open_and_keeps_every_event_and_chain(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    url = sqlite_url(path)
    store = EventStore.open(url, region="640000", service="marriage")
    for i in range(3):
        for stream in ("case-a", "case-b"):
            store.append(stream, "t", i, [new_event(f"{stream}-{i}")])
    before = store.read_log()
    head = store.head()
    store.close()
    _as_created_before(path)
    assert _position_declared(path) == "BIGINT"

    store = EventStore.open(url, region="640000", service="marriage")
    try:
        assert _position_declared(path) == "INTEGER"
        EventStore.open(sqlite_url(tmp_path / "fresh.db"), region="640000", service="marriage").close()
        assert _events_schema(path) == _events_schema(tmp_path / "fresh.db"), "the same table, indexes and triggers"
        assert store.read_log() == before and store.head() == head
        assert verify_store(store).ok
        [more] = store.append("case-c", "t", NO_STREAM, [new_event("after the upgrade")])
        assert more.position == head[0] + 1
        assert verify_store(store).ok
        with store.engine.begin() as conn, pytest.raises(IntegrityError, match="immutable"):
            conn.exec_driver_sql("DELETE FROM events WHERE position = 1")
        with store.engine.begin() as conn, pytest.raises(IntegrityError, match="immutable"):
            conn.exec_driver_sql("UPDATE events SET payload = x'00' WHERE position = 1")
    finally:
        store.close()
    # Opening again finds nothing left to do.
    EventStore.open(url, region="640000", service="marriage").close()
    assert _position_declared(path) == "INTEGER"
