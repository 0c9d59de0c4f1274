"""SQLAlchemy engines for event stores: SQLite (WAL, the embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine

from services.common.store.driver import driver_errors

# Execution option that marks a connection as a writer: on SQLite its transaction starts with
# BEGIN IMMEDIATE, taking the write lock up front, so two writers never deadlock upgrading a
# read lock and concurrent appends queue on busy_timeout instead of failing.
WRITE = "tongban_write"


def sqlite_url(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **kwargs)
    if url.startswith("postgresql"):
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_size", 5)
        kwargs.setdefault("max_overflow", 10)
        return create_engine(url, **kwargs)
    raise ValueError(f"unsupported store URL {url!r}: use sqlite:///PATH or postgresql+psycopg://...")


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
