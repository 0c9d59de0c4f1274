"""Read-model rows written and read as prepared driver SQL, built once per table, set of columns and
dialect from the table's own definition.

Why: a command or decision keeps its read models in step inside its transaction, several rows
each; SQLAlchemy's `Connection.execute` of even a prebuilt Core statement (its compiled cache
lookup, parameter processing, result wrapping) cost several times the statement itself on SQLite
(issue 15's profile of a registry decision: the read models and the registry view were a fifth of
it). The text here is fixed, so sqlite3 keeps it in its statement cache and psycopg prepares it.

Only for tables of text and integer columns, whose values the drivers take as they are: a column
type SQLAlchemy would convert (dates, JSON, enums) is refused when the text is built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Table, Text
from sqlalchemy.engine import Connection

from services.common.store import driver

_PLAIN = (String, Text, Integer, BigInteger, LargeBinary)
_TEXTS: dict[tuple[Any, ...], str] = {}


def upsert(conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str], *, where: str = "") -> None:
    """Insert `row`, or on a conflict of `keys` set its other columns — only where `where` (SQL over
    the table's name and `excluded`, the same on both databases) holds, when given."""
    columns = tuple(row)
    sql = _text(conn, ("upsert", table.name, columns, tuple(keys), where), lambda p: _upsert(table, columns, keys,
                                                                                          where, p))
    driver.execute(conn, sql, tuple(row.values()))


def insert(conn: Connection, table: Table, row: Mapping[str, Any]) -> None:
    columns = tuple(row)
    sql = _text(conn, ("insert", table.name, columns), lambda p: _insert(table, columns, p))
    driver.execute(conn, sql, tuple(row.values()))


def update(conn: Connection, table: Table, row: Mapping[str, Any], keys: Sequence[str]) -> None:
    """Set `row`'s other columns on the row whose `keys` have `row`'s values."""
    columns = tuple(c for c in row if c not in keys)
    sql = _text(conn, ("update", table.name, columns, tuple(keys)),
                lambda p: f"UPDATE {table.name} SET {', '.join(f'{c} = {p}' for c in _checked(table, columns))} "
                          f"WHERE {' AND '.join(f'{k} = {p}' for k in _checked(table, keys))}")
    driver.execute(conn, sql, (*(row[c] for c in columns), *(row[k] for k in keys)))


def select_one(conn: Connection, table: Table, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The row (every column) whose columns in `key` have its values, or None."""
    names = tuple(c.name for c in table.columns)
    sql = _text(conn, ("select", table.name, tuple(key)),
                lambda p: f"SELECT {', '.join(_checked(table, names))} FROM {table.name} "
                          f"WHERE {' AND '.join(f'{k} = {p}' for k in _checked(table, tuple(key)))}")
    found = driver.fetch_one(conn, sql, tuple(key.values()))
    return None if found is None else dict(zip(names, found, strict=True))


def _text(conn: Connection, key: tuple[Any, ...], build: Any) -> str:
    dialect = conn.dialect.name
    full = (dialect, *key)
    text = _TEXTS.get(full)
    if text is None:
        text = _TEXTS[full] = build("?" if dialect == "sqlite" else "%s")
    return text


def _checked(table: Table, columns: Sequence[str]) -> Sequence[str]:
    for name in columns:
        column = table.columns[name]  # KeyError for a column the table does not have
        if not isinstance(column.type, _PLAIN):
            raise TypeError(f"{table.name}.{name} is {column.type!r}: only text and integer columns are written "
                            "as they are")
    return columns


def _insert(table: Table, columns: Sequence[str], p: str) -> str:
    return f"INSERT INTO {table.name} ({', '.join(_checked(table, columns))}) VALUES ({', '.join([p] * len(columns))})"


def _upsert(table: Table, columns: Sequence[str], keys: Sequence[str], where: str, p: str) -> str:
    others = [c for c in columns if c not in keys]
    condition = f" WHERE {where}" if where else ""
    return (f"{_insert(table, columns, p)} ON CONFLICT ({', '.join(_checked(table, keys))}) DO UPDATE SET "
            f"{', '.join(f'{c} = excluded.{c}' for c in others)}{condition}")
