"""SQLAlchemy engines for event stores: SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError

from services.common.store.driver import driver_errors

# Execution option that marks a connection as a writer: on SQLite its transaction starts with
# BEGIN IMMEDIATE, taking the write lock up front, so two writers never deadlock upgrading a
# read lock and concurrent appends queue on busy_timeout instead of failing.
WRITE = "tongban_write"

PING_AFTER_IDLE_SECONDS = 2.0
_IDLE_SINCE = "tongban_idle_since"


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    if url.startswith("postgresql"):
        return _postgres_engine(url, **kwargs)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql+psycopg://...")


def _postgres_engine(url: str, **kwargs: Any) -> Engine:
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    if "pool_pre_ping" in kwargs:
        return create_engine(url, **kwargs)
    engine = create_engine(url, **kwargs)

    # Instead of pool_pre_ping, which costs a round trip on every checkout (a quarter of a
    # single-event append's round trips): ping only a connection that sat idle in the pool long
    # enough to have been dropped (server restart, idle timeout, a failover). A connection that
    # fails its ping is replaced by the pool (DisconnectionError), as pre_ping would do.
    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: object, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: object) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"pooled connection failed its ping after idling: {exc}") from exc

    return engine


def _sqlite_engine(url: str, **kwargs: Any) -> Engine:
    if url in ("sqlite://", "sqlite:///:memory:"):
        raise ValueError("an event store needs a file: in-memory SQLite loses everything on exit")
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: object) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite's implicit BEGIN is deferred).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed event survives power loss, not only a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # On the driver: exec_driver_sql's bookkeeping was a tenth of a single-event append.
        sql = "BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN"
        with driver_errors(conn, sql, ()):
            conn.connection.driver_connection.execute(sql)

    return engine
