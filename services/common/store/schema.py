"""Tables of one service's event store. One database per service per region (data sovereignty),
so the names need no prefix."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# SQLite: a column declared exactly INTEGER PRIMARY KEY is the table's rowid, so the log is one
# B-tree keyed by position. Declared BIGINT it was a hidden rowid plus a separate index on position:
# one more B-tree page written (one more WAL frame, a bigger fsync) by every append. SQLite's INTEGER
# is 64-bit, so nothing narrows. migrate.py upgrades stores created before.
POSITION_TYPE = BigInteger().with_variant(Integer(), "sqlite")

# The events, in the store's global order. `position` is assigned under the store head lock, so
# positions are contiguous and in commit order: a reader of the log never skips a late commit.
events = Table(
    "events",
    metadata,
    Column("position", POSITION_TYPE, primary_key=True, autoincrement=False),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_type", String(100), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("type", String(200), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("occurred_at_us", BigInteger, nullable=False),
    Column("recorded_at_us", BigInteger, nullable=False),
    Column("region", String(12), nullable=False),
    Column("service", String(40), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_clerk_id", String(100), nullable=False),
    Column("actor_office_code", String(100), nullable=False),
    Column("actor_region", String(12), nullable=False),
    Column("actor_role", String(40), nullable=False),
    Column("correlation_id", String(200), nullable=False),
    Column("causation_id", String(200), nullable=False),
    Column("traceparent", String(64), nullable=False),
    Column("tracestate", Text, nullable=False),
    Column("prev_hash", LargeBinary(32), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("global_hash", LargeBinary(32), nullable=False),
    # One writer wins each version of a stream (architecture invariant 1).
    UniqueConstraint("stream_id", "version", name="uq_events_stream_version"),
)
Index("ix_events_correlation", events.c.correlation_id)

# A single row: the end of the global log. Writers lock it (SELECT ... FOR UPDATE on PostgreSQL,
# BEGIN IMMEDIATE on SQLite) to take the next positions and extend the store-wide chain.
store_head = Table(
    "store_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("global_hash", LargeBinary(32), nullable=False),
    Column("recorded_at_us", BigInteger, nullable=False),
)

# Inbox: which events each consumer has processed, written in the same transaction as the
# consumer's effect, so a redelivered event has no effect (architecture invariant 1).
inbox = Table(
    "inbox",
    metadata,
    Column("consumer", String(100), primary_key=True),
    Column("event_id", String(64), primary_key=True),
    Column("processed_at_us", BigInteger, nullable=False),
)

# Outbox relay cursors: the last global position each relay has published.
relay_cursors = Table(
    "relay_cursors",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

IMMUTABILITY_DDL = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION tongban_events_immutable() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'events are immutable: a correction is a new event'; END
           $$ LANGUAGE plpgsql""",
        "DROP TRIGGER IF EXISTS events_immutable ON events",
        """CREATE TRIGGER events_immutable BEFORE UPDATE OR DELETE ON events
           FOR EACH ROW EXECUTE FUNCTION tongban_events_immutable()""",
    ],
    "sqlite": [
        """CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'events are immutable: a correction is a new event'); END""",
        """CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'events are immutable: a correction is a new event'); END""",
    ],
}
