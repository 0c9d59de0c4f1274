"""Shared helpers for the audit tests (no tests here): a test projection registered like a
service's, datasets under a data directory, and an attacker with database access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.engine import Connection

from services.common.audit import cli
from services.common.audit.projections import FoldProjection, ProjectionRegistry, register_common_projections
from services.common.audit.sample import CASE_STREAM_TYPE, SampleDataset, populate
from services.common.events import RecordedEvent, to_micros
from services.common.hashing import GENESIS, event_hash, global_hash
from services.common.store import EventStore, StoreTransaction, create_store_engine
from services.common.store.decode import event_to_row, row_to_event
from services.common.store.schema import store_head

# Its own MetaData, not the stores' shared one: stores other tests create must not grow this table.
_metadata = MetaData()
case_list = Table(
    "audit_test_case_list",
    _metadata,
    Column("case_id", String(200), primary_key=True),
    Column("region", String(12), nullable=False),
    Column("steps", Integer, nullable=False),
    Column("last_text", String(400), nullable=False),
    Column("last_recorded_us", BigInteger, nullable=False),
)


class CaseList(FoldProjection):
    """A window's case list, the shape of a service read model: one row per case."""

    name = "test.case_list"
    tables = (case_list,)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.stream_type != CASE_STREAM_TYPE:
            return
        text_value = event.payload_json()
        values = {"last_text": str(text_value), "last_recorded_us": to_micros(event.recorded_at)}
        changed = connection.execute(update(case_list).where(case_list.c.case_id == event.stream_id)
                                     .values(steps=case_list.c.steps + 1, **values)).rowcount
        if not changed:
            connection.execute(insert(case_list).values(case_id=event.stream_id, region=event.region, steps=1,
                                                        **values))


CASE_LIST = CaseList()


def register(registry: ProjectionRegistry) -> None:
    """A provider, as `services.<service>.projections:register_projections` would be."""
    registry.register(CASE_LIST, services=("marriage", "disability"))


def registry() -> ProjectionRegistry:
    r = ProjectionRegistry()
    register_common_projections(r)
    register(r)
    return r


PROVIDER = f"{__name__}:register"


def maintain_case_list(tx: StoreTransaction, recorded: list[RecordedEvent]) -> None:
    """What a service's handler does: the read model in the same transaction as the events."""
    case_list.create(tx.connection, checkfirst=True)
    for event in recorded:
        CASE_LIST.apply(tx.connection, event)


def dataset(data_dir: Path, *, regions: Sequence[str] = ("640000", "510000", "610000"),
            services: Sequence[str] = ("marriage", "disability"), cases_per_store: int = 4) -> SampleDataset:
    return populate(data_dir, regions=regions, services=services, cases_per_store=cases_per_store,
                    on_append=maintain_case_list)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """`tongban audit ARGV...` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# -- an attacker with write access to a database ------------------------------------------------


def drop_triggers(url: str) -> None:
    engine = create_store_engine(url)
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS events_immutable ON events"))
    engine.dispose()


def read_all(url: str) -> list[RecordedEvent]:
    engine = create_store_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM events ORDER BY position")).all()
    engine.dispose()
    return [row_to_event(r) for r in rows]


def rewrite_consistently(url: str, stream_id: str, new_text: str, *, global_chain: bool) -> list[RecordedEvent]:
    """Replace every payload of `stream_id` and recompute its stream chain; with `global_chain`,
    also every store-wide hash after it and the store head, so the store verifies as intact.
    Returns the forged events of the stream."""
    from google.protobuf.wrappers_pb2 import StringValue

    drop_triggers(url)
    log = read_all(url)
    stream_prev: dict[str, bytes] = {}
    prev_global = GENESIS
    forged: list[RecordedEvent] = []
    out: list[RecordedEvent] = []
    for e in log:
        if e.stream_id == stream_id:
            prev = stream_prev.get(stream_id, GENESIS)
            e = replace(e, payload=StringValue(value=f"{new_text} v{e.version}").SerializeToString(), prev_hash=prev)
            e = replace(e, hash=event_hash(prev, e))
            forged.append(e)
        stream_prev[e.stream_id] = e.hash
        if global_chain:
            e = replace(e, global_hash=global_hash(prev_global, e.position, e.hash))
            prev_global = e.global_hash
        out.append(e)
    engine = create_store_engine(url)
    with engine.begin() as conn:
        for e in out:
            row = event_to_row(e)
            conn.execute(text("UPDATE events SET payload = :payload, prev_hash = :prev_hash, hash = :hash, "
                              "global_hash = :global_hash WHERE position = :position"), row)
        if global_chain:
            conn.execute(update(store_head).where(store_head.c.id == 1).values(global_hash=prev_global))
    engine.dispose()
    return forged


def store_events(store: EventStore, stream_id: str) -> list[RecordedEvent]:
    return store.read_stream(stream_id)


def count_rows(url: str, table: Table) -> int:
    engine = create_store_engine(url)
    with engine.connect() as conn:
        n = len(conn.execute(select(table)).all())
    engine.dispose()
    return n
