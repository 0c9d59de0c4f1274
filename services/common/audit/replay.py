"""`tongban audit replay`: rebuild every registered projection from a log into a scratch database
and compare it, row by row, with the live read model; report each difference.

The log is either a store's own (read in the same snapshot as its live read models, so a busy
store compares like with like) or what the Kafka topics hold (an auditor may hold only the log):
records grouped by region and service, duplicates dropped, ordered by position and chain-checked
before anything is folded.

The scratch database is in-memory SQLite by default; `scratch_url` names another (a PostgreSQL
database, for read models whose column types SQLite cannot hold). Each rebuilt table also gets a
digest (SHA-256 over its rows in key order, as the scratch database returns them), so two auditors
rebuilding the same log on the same kind of scratch database can compare one line."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from services.common.audit.datadir import StoreRef, live_snapshot
from services.common.audit.kafka_log import DEFAULT_IDLE, TopicRecord, read_topic
from services.common.audit.projections import Projection, ProjectionRegistry
from services.common.events import RecordedEvent
from services.common.store import ChainProblem, EventStore, verify_events
from services.common.store.decode import row_to_event
from services.common.store.schema import events

_PAGE = 1000
Key = tuple[Any, ...]


@dataclass(frozen=True)
class RowDifference:
    store: str
    projection: str
    table: str
    key: Key
    kind: str  # "missing" | "unexplained" | "differs" | "table missing"
    columns: tuple[str, ...] = ()
    live: dict[str, Any] | None = None
    rebuilt: dict[str, Any] | None = None

    def describe(self, *, show_values: bool = False) -> str:
        where = f"{self.store} {self.projection}: table {self.table}"
        key = ", ".join(repr(k if show_values else _masked(k)) for k in self.key)
        if self.kind == "table missing":
            return f"{where} is missing from the live database; the log gives it {len(self.key)} row(s)"
        if self.kind == "missing":
            text = f"{where} row ({key}) is missing from the live read model"
            return text + (f": the log gives {self.rebuilt}" if show_values else "")
        if self.kind == "unexplained":
            text = f"{where} row ({key}) is in the live read model but no event explains it"
            return text + (f": {self.live}" if show_values else "")
        cols = ", ".join(self.columns)
        text = f"{where} row ({key}) differs in {cols}"
        if show_values and self.live is not None and self.rebuilt is not None:
            pairs = "; ".join(f"{c}: live {self.live[c]!r}, log gives {self.rebuilt[c]!r}" for c in self.columns)
            text += f" ({pairs})"
        return text


@dataclass
class ProjectionResult:
    store: str
    projection: str
    rows: dict[str, int] = field(default_factory=dict)  # rebuilt rows per table
    digests: dict[str, str] = field(default_factory=dict)
    compared: bool = False  # a live read model was there to compare with
    differences: list[RowDifference] = field(default_factory=list)


@dataclass
class StoreReplay:
    store: str
    source: str  # "store" or the topic
    events: int = 0
    chain_problem: ChainProblem | None = None
    results: list[ProjectionResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[RowDifference]:
        return [d for r in self.results for d in r.differences]


@dataclass
class ReplayReport:
    stores: list[StoreReplay] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(not s.differences and s.chain_problem is None for s in self.stores)

    @property
    def events(self) -> int:
        return sum(s.events for s in self.stores)


# -- rebuilding --------------------------------------------------------------------------------


def scratch_engine(url: str | None = None) -> Engine:
    if url is None:
        # One shared connection: an in-memory database lives exactly as long as it.
        return create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})
    return create_engine(url)


def iter_log(conn: Connection) -> Iterator[RecordedEvent]:
    after = 0
    while True:
        query = select(events).where(events.c.position > after).order_by(events.c.position).limit(_PAGE)
        page = conn.execute(query).all()
        for row in page:
            yield row_to_event(row)
        if len(page) < _PAGE:
            return
        after = int(page[-1].position)


def rebuild(projection: Projection, log: Iterable[RecordedEvent], scratch: Connection) -> None:
    """Create the projection's tables afresh in `scratch` and fold the log into them."""
    for table in projection.tables:
        table.drop(scratch, checkfirst=True)
        table.create(scratch)
    projection.rebuild(log, scratch)


def compare_tables(store: str, projection: Projection, live: Connection | None,
                   scratch: Connection) -> ProjectionResult:
    result = ProjectionResult(store, projection.name, compared=live is not None)
    for table in projection.tables:
        rebuilt = _rows(scratch, table.name, table)
        result.rows[table.name] = len(rebuilt)
        result.digests[table.name] = _digest(rebuilt)
        if live is None:
            continue
        if not inspect(live).has_table(table.name):
            if rebuilt:
                result.differences.append(RowDifference(store, projection.name, table.name, tuple(rebuilt),
                                                        "table missing"))
            continue
        current = _rows(live, table.name, table)
        for key in sorted(rebuilt.keys() | current.keys(), key=_sort_key):
            want, have = rebuilt.get(key), current.get(key)
            if have is None:
                result.differences.append(RowDifference(store, projection.name, table.name, key, "missing",
                                                        rebuilt=want))
            elif want is None:
                result.differences.append(RowDifference(store, projection.name, table.name, key, "unexplained",
                                                        live=have))
            else:
                columns = tuple(c for c in want if want[c] != have.get(c))
                if columns:
                    result.differences.append(RowDifference(store, projection.name, table.name, key, "differs",
                                                            columns, have, want))
    return result


def _rows(conn: Connection, name: str, table: Any) -> dict[Key, dict[str, Any]]:
    key_columns = [c.name for c in table.primary_key.columns]
    rows: dict[Key, dict[str, Any]] = {}
    for row in conn.execute(select(table)):
        values = {k: _plain(v) for k, v in row._mapping.items()}
        rows[tuple(values[k] for k in key_columns)] = values
    return rows


_CITIZEN_ID = re.compile(r"^\d{17}[\dXx]$")


def _masked(value: Any) -> Any:
    """A citizen ID used as a key (a per-person read model) shows only its region and last four
    characters unless the auditor asked for values, which is recorded."""
    if isinstance(value, str) and _CITIZEN_ID.match(value):
        return value[:6] + "*" * 8 + value[-4:]
    return value


def _plain(value: Any) -> Any:
    # PostgreSQL hands binary columns back as memoryview; compare bytes with bytes.
    return bytes(value) if isinstance(value, memoryview) else value


def _sort_key(key: Key) -> tuple[str, ...]:
    return tuple(repr(k) for k in key)


def _digest(rows: dict[Key, dict[str, Any]]) -> str:
    h = hashlib.sha256()
    for key in sorted(rows, key=_sort_key):
        h.update(repr(sorted(rows[key].items())).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def replay_store(ref: StoreRef, store: EventStore, projections: Sequence[Projection], *,
                 scratch_url: str | None = None) -> StoreReplay:
    """Rebuild each projection from the store's log and compare with its live read model."""
    replay = StoreReplay(ref.label, "store")
    engine = scratch_engine(scratch_url)
    try:
        with live_snapshot(store) as live, engine.begin() as scratch:
            replay.events = _count(live)
            for projection in projections:
                rebuild(projection, iter_log(live), scratch)
                replay.results.append(compare_tables(ref.label, projection, live, scratch))
            if scratch_url is not None:
                for projection in projections:  # leave a shared scratch database as found
                    for table in projection.tables:
                        table.drop(scratch, checkfirst=True)
    finally:
        engine.dispose()
    return replay


def _count(conn: Connection) -> int:
    last = conn.execute(select(events.c.position).order_by(events.c.position.desc()).limit(1)).scalar()
    return int(last or 0)


def replay_stores(stores: Sequence[tuple[StoreRef, EventStore]], registry: ProjectionRegistry, *,
                  scratch_url: str | None = None) -> ReplayReport:
    report = ReplayReport()
    for ref, store in stores:
        projections = registry.for_service(ref.service)
        if not projections:
            replay = StoreReplay(ref.label, "store", notes=["no projection is registered for this service"])
            report.stores.append(replay)
            continue
        report.stores.append(replay_store(ref, store, projections, scratch_url=scratch_url))
    return report


# -- from the topics alone -----------------------------------------------------------------------


@dataclass
class TopicLog:
    """One store's log as a topic holds it."""

    region: str
    service: str
    topic: str
    events: list[RecordedEvent] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # one event id, different bytes

    @property
    def label(self) -> str:
        return f"{self.region}/{self.service}"


def logs_from_records(topic: str, records: Iterable[TopicRecord]) -> dict[tuple[str, str], TopicLog]:
    """Group a topic's records into per-store logs: decoded, deduplicated by event id (a
    redelivered copy must be byte-identical), sorted by global position."""
    logs: dict[tuple[str, str], TopicLog] = {}
    seen: dict[tuple[str, str], dict[str, bytes]] = defaultdict(dict)
    for record in records:
        try:
            event = RecordedEvent.from_bytes(record.value)
        except Exception:  # not an envelope: the verify cross-check names it; a replay skips it
            continue
        identity = (event.region, event.service)
        log = logs.setdefault(identity, TopicLog(event.region, event.service, topic))
        previous = seen[identity].get(event.event_id)
        if previous is None:
            seen[identity][event.event_id] = record.value
            log.events.append(event)
        elif previous != record.value:
            log.conflicts.append(event.event_id)
    for log in logs.values():
        log.events.sort(key=lambda e: e.position)
    return logs


def replay_topic_logs(logs: Iterable[TopicLog], registry: ProjectionRegistry,
                      live_for: Callable[[str, str], EventStore | None], *,
                      scratch_url: str | None = None) -> ReplayReport:
    """Rebuild every projection from topic logs; compare with the live read models of the stores
    `live_for(region, service)` returns (None: only rebuild, count and digest)."""
    report = ReplayReport()
    for log in sorted(logs, key=lambda t: (t.region, t.service)):
        replay = StoreReplay(log.label, log.topic, events=len(log.events))
        # No store head to compare with: a topic missing its last events looks complete here
        # (the verify cross-check against the stores catches that).
        replay.chain_problem = verify_events(log.events).problem
        if log.conflicts:
            replay.notes.append(f"{len(log.conflicts)} event id(s) appear with different bytes; "
                                "the first copy was used")
        projections = registry.for_service(log.service)
        if not projections:
            replay.notes.append("no projection is registered for this service")
            report.stores.append(replay)
            continue
        store = live_for(log.region, log.service)
        if store is None:
            replay.notes.append("no live store to compare with: rebuilt only")
        else:
            head = store.head()[0]
            last = log.events[-1].position if log.events else 0
            if head != last:
                # Differences that follow are then the relay's lag, not a drifted read model.
                replay.notes.append(f"the store's log ends at position {head}, the topic's at {last}: "
                                    "the relay is behind or the topic lost events")
        engine = scratch_engine(scratch_url)
        try:
            with engine.begin() as scratch:
                if store is None:
                    for projection in projections:
                        rebuild(projection, log.events, scratch)
                        replay.results.append(compare_tables(log.label, projection, None, scratch))
                else:
                    with live_snapshot(store) as live:
                        for projection in projections:
                            rebuild(projection, log.events, scratch)
                            replay.results.append(compare_tables(log.label, projection, live, scratch))
                if scratch_url is not None:
                    for projection in projections:
                        for table in projection.tables:
                            table.drop(scratch, checkfirst=True)
        finally:
            engine.dispose()
        report.stores.append(replay)
    return report


def read_topic_logs(bootstrap: str, topics: Iterable[str], *, idle: float = DEFAULT_IDLE) -> list[TopicLog]:
    logs: list[TopicLog] = []
    for topic in topics:
        logs.extend(logs_from_records(topic, read_topic(bootstrap, topic, idle=idle)).values())
    return logs


# -- output --------------------------------------------------------------------------------------


def format_replay(report: ReplayReport, *, show_values: bool = False, limit: int = 50) -> tuple[str, str]:
    out: list[str] = []
    err: list[str] = []
    for s in report.stores:
        source = "its log" if s.source == "store" else f"topic {s.source}"
        if s.chain_problem is not None:
            err.append(f"BROKEN LOG {s.store} ({source}): {s.chain_problem}")
        for note in s.notes:
            out.append(f"{s.store}: {note}")
        for r in s.results:
            tables = ", ".join(f"{t} {n} rows (sha256 {r.digests[t][:16]})" for t, n in r.rows.items())
            if not r.compared:
                out.append(f"rebuilt {s.store} {r.projection} from {source} ({s.events} events): {tables}")
            elif not r.differences:
                out.append(f"identical {s.store} {r.projection} rebuilt from {source} ({s.events} events): {tables}")
            else:
                err.append(f"DIFFERS {s.store} {r.projection} rebuilt from {source}: "
                           f"{len(r.differences)} difference(s)")
                err.extend(f"  {d.describe(show_values=show_values)}" for d in r.differences[:limit])
                if len(r.differences) > limit:
                    err.append(f"  … and {len(r.differences) - limit} more")
    differences = sum(len(s.differences) for s in report.stores)
    verdict = "REPRODUCED" if report.ok else "NOT REPRODUCED"
    out.append(f"{verdict}: {len(report.stores)} store(s), {report.events} events replayed, "
               f"{differences} difference(s)")
    return "\n".join(out), "\n".join(err)
