"""The marriage service's read models, in its own store:

* `marriage_cases`: one row per case (marriage, divorce, reissue, status query) for an office's
  case list and work queues;
* `marriage_person_status`: citizen ID → current marital status as this region's records show it.

Both are derived from the folded aggregates, by the same functions whether a handler refreshes them
in its own transaction (`refresh`) or `rebuild(store)` replays the log: the audit tool rebuilds
and compares, so the two paths must not be able to differ.

Lock order (as services/common/deadlines.py asks): handlers append first, taking the store head
lock, and only then touch these rows; `rebuild` takes the head lock before anything else.

The tables are declared on this module's own `TABLES` metadata; the service's composition root
gives it to the store."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    insert,
    or_,
    select,
)
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent, from_micros, to_micros
from services.common.store import EventStore, StoreTransaction, driver, prepared
from services.common.store.decode import row_to_event
from services.common.store.schema import events
from services.marriage.adapters.cases import CASE_STREAM_TYPES, CaseAggregate, OneShotCase, case_type, fold_case
from services.marriage.adapters.payloads import decode
from services.marriage.domain import marriage as marriage_module
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import CertificateReissued
from services.marriage.domain.marriage import Marriage, MarriageState
from services.marriage.domain.reissue import RemoteReissue, StatusOnRecord
from services.marriage.domain.values import MaritalStatus

TABLES = MetaData()  # this service's read models

marriage_cases = Table(
    "marriage_cases",
    TABLES,
    Column("case_id", String(200), primary_key=True),
    Column("case_type", String(20), nullable=False),
    Column("state", String(40), nullable=False),
    Column("office_code", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("opened_at_us", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("due_on", String(10), nullable=True),  # ISO date: sorts and compares as text
    Column("party_names", Text, nullable=False),  # one name a line
    Column("related_case_id", String(200), nullable=False),
)
# An office's list and queues: by office, type and state, oldest first.
Index("ix_marriage_cases_queue", marriage_cases.c.office_code, marriage_cases.c.case_type,
      marriage_cases.c.state, marriage_cases.c.opened_at_us)

marriage_person_status = Table(
    "marriage_person_status",
    TABLES,
    Column("citizen_id", String(18), primary_key=True),
    Column("status", String(24), nullable=False),
    Column("marriage_case_id", String(200), nullable=False),
    Column("since", String(10), nullable=True),
)

# Named work queues: (case type, state).
QUEUES: dict[str, tuple[str, str]] = {
    "awaiting_registry": ("marriage", MarriageState.AWAITING_REGISTRY.value),
    "cooling_off": ("divorce", "cooling_off"),
    "awaiting_certificate_request": ("divorce", "awaiting_certificate_request"),
    "awaiting_divorce_registration": ("divorce", "certificate_requested"),
    # divorces of marriages another region records, registered once that region dissolved them
    "awaiting_dissolution": ("divorce", "awaiting_dissolution"),
    "awaiting_archive": ("reissue", "awaiting_archive"),  # reissues waiting for another region's record
}

_REBUILD_PAGE = 1000
NAME_SEPARATOR = "\n"  # names never hold a line break; they may hold "/" or spaces


# -- deriving rows from aggregates (the one place both paths share) ---------------------------


def case_row(aggregate: CaseAggregate) -> dict[str, object]:
    opened = aggregate.opened_at
    updated = aggregate.updated_at
    assert opened is not None and updated is not None, "a stored case has been recorded"
    row: dict[str, object] = {
        "case_id": aggregate.case_id, "case_type": case_type(aggregate), "opened_at_us": to_micros(opened),
        "updated_at_us": to_micros(updated), "version": aggregate.version, "due_on": None, "party_names": "",
        "related_case_id": "",
    }
    if isinstance(aggregate, Marriage):
        assert aggregate.state is not None
        row.update(state=aggregate.state.value, office_code=aggregate.office_code, region=aggregate.region,
                   party_names=NAME_SEPARATOR.join(p.name for p in aggregate.parties))
    elif isinstance(aggregate, Divorce):
        assert aggregate.state is not None
        row.update(state=aggregate.state.value, office_code=aggregate.office_code, region=aggregate.region,
                   party_names=NAME_SEPARATOR.join(s.name for s in aggregate.spouses),
                   related_case_id=aggregate.marriage_case_id,
                   due_on=aggregate.due_on.isoformat() if aggregate.due_on else None)
    elif isinstance(aggregate, RemoteReissue):
        asked = aggregate.requested
        row.update(state=str(aggregate.state), office_code=asked.office_code, region=asked.region,
                   related_case_id=asked.record_case_id)
    else:
        event = aggregate.event
        related = event.record_case_id if isinstance(event, CertificateReissued) else event.marriage_case_id
        row.update(state=aggregate.state, office_code=event.office_code, region=event.region,
                   related_case_id=related)
    return row


def person_rows(marriage: Marriage) -> list[dict[str, object]]:
    """What a marriage says about its two parties now; nothing while it is not (or never was)
    registered."""
    status_since: tuple[MaritalStatus, date | None]
    match marriage.state:
        case MarriageState.REGISTERED:
            status_since = (MaritalStatus.MARRIED, marriage.registered_on)
        case MarriageState.DISSOLVED_BY_DIVORCE:
            assert marriage.dissolution is not None
            status_since = (MaritalStatus.DIVORCED, marriage.dissolution.dissolved_on)
        case MarriageState.VOID | MarriageState.ANNULLED:
            assert marriage.judgment is not None
            status_since = (MaritalStatus(marriage.state.value), marriage.judgment.judgment_date)
        case _:
            return []
    status, since = status_since
    return [{"citizen_id": p.citizen_id, "status": status.value, "marriage_case_id": marriage.case_id,
             "since": since.isoformat() if since else None} for p in marriage.parties]


def supersedes(new: dict[str, object], current: dict[str, object] | None) -> bool:
    """Whether `new` replaces a person's current row: news about the same marriage does, and so
    does a new marriage; news about an older marriage (its record corrected later) does not."""
    return (current is None or current["marriage_case_id"] == new["marriage_case_id"]
            or new["status"] == MaritalStatus.MARRIED.value)


# -- keeping them current inside a handler's transaction --------------------------------------


def refresh(tx: StoreTransaction, stream_ids: Iterable[str], *, in_hand: Mapping[str, CaseAggregate] | None = None,
            started: Collection[str] = ()) -> None:
    """Bring the rows of these case streams up to what `tx` has appended to them.

    `in_hand`: cases as the transaction's unit of work folded them (its events applied to the state
    it loaded in this transaction: the same fold as reading the stream back, without the read —
    a quarter of a registration's CPU went here). `started`: streams this transaction opened, so
    no row of theirs can exist yet (inserted without looking)."""
    conn = tx.connection
    for stream_id in dict.fromkeys(stream_ids):
        aggregate = (in_hand or {}).get(stream_id) or fold_case(tx.read_stream(stream_id))
        if aggregate is None:
            continue
        # Prepared driver SQL (store/prepared.py): Core's execute was most of these writes' cost.
        row = case_row(aggregate)
        if stream_id in started:
            prepared.insert(conn, marriage_cases, row)
        else:
            prepared.upsert(conn, marriage_cases, row, ("case_id",))
        if isinstance(aggregate, Marriage):
            for person in person_rows(aggregate):
                _upsert_person(conn, person)


def _upsert_person(conn: Connection, row: dict[str, object]) -> None:
    current = prepared.select_one(conn, marriage_person_status, {"citizen_id": row["citizen_id"]})
    if current is None:
        prepared.insert(conn, marriage_person_status, row)
    elif supersedes(row, current):
        prepared.update(conn, marriage_person_status, row, ("citizen_id",))


# -- rebuilding from the log ------------------------------------------------------------------


def rebuild(store: EventStore) -> tuple[int, int]:
    """Recreate both tables from the store's log in one transaction, holding the store head lock
    so that no append commits in between. Returns (cases, persons)."""
    with store.transaction() as tx:
        conn = tx.connection
        tx.lock_head()  # no append commits while the log is read and the tables rewritten
        cases, persons = rows_from_log(_case_events(conn))
        conn.execute(delete(marriage_cases))
        conn.execute(delete(marriage_person_status))
        _insert_all(conn, cases, persons)
        return len(cases), len(persons)


def rows_from_log(log: Iterable[RecordedEvent]) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Both tables' rows from a log in position order (other services' and streams' events are
    skipped). Pure: the same log gives the same rows."""
    streams: dict[str, list[RecordedEvent]] = {}
    marriages: dict[str, Marriage] = {}
    persons: dict[str, dict[str, object]] = {}
    for event in log:
        if event.stream_type not in CASE_STREAM_TYPES:
            continue
        streams.setdefault(event.stream_id, []).append(event)
        if event.stream_type == marriage_module.STREAM_TYPE:
            # Person rows follow the log event by event, as the handlers' refreshes did.
            marriage = marriages.setdefault(event.stream_id, Marriage())
            marriage.apply(decode(event))
            for row in person_rows(marriage):
                if supersedes(row, persons.get(str(row["citizen_id"]))):
                    persons[str(row["citizen_id"])] = row
    cases = [case_row(aggregate) for history in streams.values() if (aggregate := fold_case(history))]
    return cases, list(persons.values())


def _insert_all(conn: Connection, cases: list[dict[str, object]], persons: list[dict[str, object]]) -> None:
    if cases:
        conn.execute(insert(marriage_cases), cases)
    if persons:
        conn.execute(insert(marriage_person_status), persons)


class MarriageReadModels:
    """Both tables as one projection for `tongban audit replay` (services/common/audit/projections.py).

    Rows are derived from whole folded cases, not from one event at a time, so there is no
    one-event `apply`: the live service refreshes them with `refresh(tx, ...)` in the command's
    transaction, and a replay uses `rebuild`."""

    name = "marriage.read_models"
    tables = (marriage_cases, marriage_person_status)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        raise NotImplementedError("marriage read models fold whole cases: use rebuild(events, connection), "
                                  "or refresh(tx, stream_ids) inside a transaction of the store")

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        cases, persons = rows_from_log(events)
        _insert_all(connection, cases, persons)


def _case_events(conn: Connection) -> Iterable[RecordedEvent]:
    after = 0
    while True:
        page = conn.execute(
            select(events).where(events.c.stream_type.in_(sorted(CASE_STREAM_TYPES)), events.c.position > after)
            .order_by(events.c.position).limit(_REBUILD_PAGE)
        ).all()
        for row in page:
            yield row_to_event(row)
        if len(page) < _REBUILD_PAGE:
            return
        after = int(page[-1].position)


def snapshot(store: EventStore) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Both tables' rows in key order, for comparing a live read model with a rebuilt one."""
    with store.engine.connect() as conn:
        cases = [dict(r._mapping) for r in conn.execute(select(marriage_cases).order_by(marriage_cases.c.case_id))]
        persons = [dict(r._mapping) for r in conn.execute(
            select(marriage_person_status).order_by(marriage_person_status.c.citizen_id))]
    return cases, persons


# -- reading ------------------------------------------------------------------------------------


# Prepared driver SQL: every registration asks it for both persons (see registry/projection.py).
_STATUS_SQL = {dialect: f"SELECT status, marriage_case_id, since FROM marriage_person_status WHERE citizen_id = {p}"
               for dialect, p in (("sqlite", "?"), ("postgresql", "%s"))}


def status_on_record(conn: Connection, citizen_id: str) -> StatusOnRecord:
    row = driver.fetch_one(conn, _STATUS_SQL[conn.dialect.name], (citizen_id,))
    if row is None:
        return StatusOnRecord(MaritalStatus.UNMARRIED_ON_RECORD)
    status, marriage_case_id, since = row
    return StatusOnRecord(MaritalStatus(status), marriage_case_id, date.fromisoformat(since) if since else None)


@dataclass(frozen=True)
class CaseListRow:
    case_id: str
    case_type: str
    state: str
    office_code: str
    opened_at: datetime
    updated_at: datetime
    due_on: date | None
    party_names: tuple[str, ...]
    related_case_id: str


def list_cases(conn: Connection, *, office_code: str, case_type_: str = "", state: str = "",
               limit: int = 50, after: tuple[int, str] | None = None) -> list[CaseListRow]:
    """An office's cases, oldest first, keyset-paged after (opened_at_us, case_id)."""
    query = select(marriage_cases).where(marriage_cases.c.office_code == office_code)
    if case_type_:
        query = query.where(marriage_cases.c.case_type == case_type_)
    if state:
        query = query.where(marriage_cases.c.state == state)
    if after is not None:
        opened_us, case_id = after
        query = query.where(or_(marriage_cases.c.opened_at_us > opened_us,
                                and_(marriage_cases.c.opened_at_us == opened_us, marriage_cases.c.case_id > case_id)))
    query = query.order_by(marriage_cases.c.opened_at_us, marriage_cases.c.case_id).limit(limit)
    return [
        CaseListRow(
            case_id=r.case_id, case_type=r.case_type, state=r.state, office_code=r.office_code,
            opened_at=from_micros(int(r.opened_at_us)), updated_at=from_micros(int(r.updated_at_us)),
            due_on=date.fromisoformat(r.due_on) if r.due_on else None,
            party_names=tuple(n for n in r.party_names.split(NAME_SEPARATOR) if n), related_case_id=r.related_case_id,
        )
        for r in conn.execute(query)
    ]


__all__ = [
    "QUEUES",
    "CaseListRow",
    "MarriageReadModels",
    "OneShotCase",
    "case_row",
    "list_cases",
    "marriage_cases",
    "marriage_person_status",
    "person_rows",
    "rebuild",
    "refresh",
    "rows_from_log",
    "snapshot",
    "status_on_record",
]
