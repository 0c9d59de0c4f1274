"""Read-model rows as prepared driver SQL (services/common/store/prepared.py), on both databases:
the same rows as SQLAlchemy would write, an upsert that keeps a row its condition protects, and
a clear refusal of a column the drivers would not take as it is."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import BigInteger, Column, Date, Integer, MetaData, String, Table, create_engine, select
from sqlalchemy.engine import Connection

from services.common.store import prepared

metadata = MetaData()
entries = Table(
    "prepared_entries", metadata,
    Column("region", String(12), primary_key=True),
    Column("claim_id", String(150), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("decided_at_us", BigInteger, nullable=False),
    Column("note", String(40), nullable=True),
)
dated = Table("prepared_dated", metadata, Column("id", Integer, primary_key=True), Column("on", Date))


@pytest.fixture
def conn(store_url: str) -> Iterator[Connection]:
    engine = create_engine(store_url)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def _rows(conn: Connection) -> list[tuple[object, ...]]:
    return [tuple(r) for r in conn.execute(select(entries).order_by(entries.c.claim_id))]


def test_insert_update_select_and_an_upsert_that_never_goes_back(conn: Connection) -> None:
    row = {"region": "640000", "claim_id": "c-1", "status": "granted", "rank": 1, "decided_at_us": 10, "note": None}
    prepared.insert(conn, entries, row)
    assert prepared.select_one(conn, entries, {"region": "640000", "claim_id": "c-1"}) == row
    assert prepared.select_one(conn, entries, {"region": "640000", "claim_id": "c-2"}) is None
    key = ("region", "claim_id")
    prepared.update(conn, entries, {**row, "note": "checked"}, key)
    assert _rows(conn) == [("640000", "c-1", "granted", 1, 10, "checked")]
    never_back = "prepared_entries.rank <= excluded.rank"  # the registry view's rule
    prepared.upsert(conn, entries, {**row, "status": "confirmed", "rank": 2, "decided_at_us": 20}, key,
                    where=never_back)
    prepared.upsert(conn, entries, {**row, "status": "pending", "rank": 0, "decided_at_us": 30}, key, where=never_back)
    prepared.upsert(conn, entries, {**row, "claim_id": "c-2"}, key, where=never_back)
    assert _rows(conn) == [("640000", "c-1", "confirmed", 2, 20, None), ("640000", "c-2", "granted", 1, 10, None)]


def test_a_column_the_driver_would_not_take_as_it_is_is_refused(conn: Connection) -> None:
    with pytest.raises(TypeError, match=r"prepared_dated\.on"):
        prepared.insert(conn, dated, {"id": 1, "on": date(2026, 5, 20)})
    with pytest.raises(KeyError):
        prepared.insert(conn, entries, {"region": "640000", "no_such_column": 1})
