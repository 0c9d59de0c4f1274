"""Upgrades of an existing store's schema, run by `EventStore.create_schema` before it creates
what is missing. Each upgrade is idempotent and runs in the caller's write transaction, so a
crash halfway leaves the store as it was (SQLite's DDL is transactional).

SQLite, `position` as the rowid (schema.POSITION_TYPE). A store created before declared
`position BIGINT`, which SQLite keeps as a hidden rowid plus a separate unique index on position;
a column's declared type cannot be changed in place, so the table is rebuilt: renamed aside,
created anew, every row copied in position order, the old table dropped. The rows are copied
byte for byte (the hash chains need nothing recomputed, and `tongban store verify` still passes),
the immutability triggers are dropped only for the length of the transaction and created again by
the caller, and the write lock (BEGIN IMMEDIATE) keeps every writer out meanwhile. The copy takes
time in proportion to the log, once, while the store's write lock is held: 96 s for 1,002,000
events on the shared 2-core machine at load average ~14 (verify afterwards: intact)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from services.common.store.schema import events

_ASIDE = "events_before_rowid"


def upgrade(conn: Connection) -> list[str]:
    """Bring an existing store up to the current schema; returns what was done (empty: nothing)."""
    if conn.dialect.name != "sqlite":
        return []
    return ["events.position became the rowid"] if _position_as_rowid(conn) else []


def _position_as_rowid(conn: Connection) -> bool:
    columns = conn.exec_driver_sql("PRAGMA table_info(events)").all()
    declared = {row[1]: str(row[2]).upper() for row in columns}
    if declared.get("position", "INTEGER") == "INTEGER":
        return False  # a new store (no table yet) or one already upgraded
    # Indexes and triggers belong to the table they were made on: drop them with the old table's
    # name free, so create_all makes them again on the new one.
    for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE tbl_name = 'events' AND type = 'trigger'").all():
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    for index in events.indexes:
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{index.name}"')
    conn.exec_driver_sql(f"ALTER TABLE events RENAME TO {_ASIDE}")
    events.create(conn)
    names = ", ".join(c.name for c in events.columns)
    conn.exec_driver_sql(f"INSERT INTO events ({names}) SELECT {names} FROM {_ASIDE} ORDER BY position")
    conn.exec_driver_sql(f"DROP TABLE {_ASIDE}")
    return True
