"""The disability service's read models, in its own store:

* `disability_cases`: one row per application, for an office's work queues and the overdue list
  (the stage at work, its last day, whether its deadline fired);
* `disability_entitlements`: one row per granted subsidy — a person's entitlements, and what the
  payment source (payments.py) computes a month's lines from.

Both are derived from the folded Application, by the same functions whether a unit of work
refreshes them as it commits (`refresh`) or `rebuild` replays the log: `tongban audit replay`
rebuilds and compares, so the two paths cannot differ. Lock order (services/common/deadlines.py):
events are appended first, taking the store head lock, and only then are these rows written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, delete, insert, select
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent
from services.common.store import StoreTransaction
from services.disability.adapters.payloads import CODEC
from services.disability.domain.application import STREAM_TYPE, Application
from services.disability.domain.entitlements import Cover, Entitlement
from services.disability.domain.values import Subsidy, masked

TABLES = MetaData()

disability_cases = Table(
    "disability_cases", TABLES,
    Column("case_id", String(200), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("stage", String(32), nullable=False),  # "" once decided
    Column("office_code", String(100), nullable=False),  # the receiving office
    Column("region", String(12), nullable=False),
    Column("applicant_name", String(100), nullable=False),
    Column("citizen_id", String(18), nullable=False),
    Column("hukou_region", String(6), nullable=False),
    Column("due_on", String(10), nullable=True),  # ISO date of the stage's last day: sorts as text
    Column("overdue", Integer, nullable=False),
    Column("bank_account_masked", String(40), nullable=False),
    Column("version", BigInteger, nullable=False),
)
Index("ix_disability_cases_work", disability_cases.c.office_code, disability_cases.c.stage, disability_cases.c.due_on)
Index("ix_disability_cases_person", disability_cases.c.citizen_id)

disability_entitlements = Table(
    "disability_entitlements", TABLES,
    Column("entitlement_id", String(220), primary_key=True),  # "<case_id>/<subsidy>"
    Column("case_id", String(200), nullable=False),
    Column("subsidy", String(16), nullable=False),
    Column("citizen_id", String(18), nullable=False),
    Column("name", String(100), nullable=False),
    Column("bank_account", String(40), nullable=False),  # as stored; every view masks it
    Column("amount_fen", BigInteger, nullable=False),
    Column("start_month", String(7), nullable=False),
    Column("decided_month", String(7), nullable=False),
    Column("stop_month", String(7), nullable=False),
    Column("stop_reason", String(32), nullable=False),
    Column("covered_until", String(7), nullable=False),
    Column("covers", Text, nullable=False),  # JSON [[first, last, decided], ...]
    Column("resumes", Text, nullable=False),  # JSON [[resume month, decided month], ...]
)
Index("ix_disability_entitlements_person", disability_entitlements.c.citizen_id)

_REBUILD_PAGE = 1000


def entitlement_id(case_id: str, subsidy: Subsidy) -> str:
    return f"{case_id}/{subsidy.value}"


# -- rows from an aggregate (the one place both paths share) ------------------------------------------


def case_row(app: Application) -> dict[str, object]:
    assert app.applicant is not None and app.state is not None
    open_stage = app.stage
    return {
        "case_id": app.case_id, "state": app.state.value, "stage": open_stage.value if open_stage else "",
        "office_code": app.office_code, "region": app.region, "applicant_name": app.applicant.name,
        "citizen_id": app.applicant.citizen_id, "hukou_region": app.applicant.hukou_region,
        "due_on": app.stage_due_on.isoformat() if open_stage and app.stage_due_on else None,
        "overdue": int(bool(open_stage) and app.overdue), "bank_account_masked": masked(app.bank_account),
        "version": app.version,
    }


def entitlement_rows(app: Application) -> list[dict[str, object]]:
    assert app.applicant is not None
    return [{
        "entitlement_id": entitlement_id(app.case_id, subsidy), "case_id": app.case_id, "subsidy": subsidy.value,
        "citizen_id": app.applicant.citizen_id, "name": app.applicant.name, "bank_account": app.bank_account,
        "amount_fen": e.amount_fen, "start_month": e.start_month, "decided_month": e.decided_month,
        "stop_month": e.stop_month, "stop_reason": e.stop_reason, "covered_until": e.covered_until,
        "covers": json.dumps([[c.first, c.last, c.decided_month] for c in e.covers]),
        "resumes": json.dumps([list(r) for r in e.resumes]),
    } for subsidy, e in sorted(app.entitlements.items())]


def entitlement_of(row: object) -> Entitlement:
    """The domain's Entitlement from its row: the payment source asks it which months are owed."""
    m = row._mapping  # type: ignore[attr-defined]
    return Entitlement(Subsidy(m["subsidy"]), int(m["amount_fen"]), m["start_month"], m["decided_month"],
                       [Cover(*c) for c in json.loads(m["covers"])], m["stop_month"], m["stop_reason"],
                       [tuple(r) for r in json.loads(m["resumes"])])  # type: ignore[misc]


def _write(conn: Connection, apps: Iterable[Application]) -> None:
    apps = list(apps)
    ids = [a.case_id for a in apps]
    if not ids:
        return
    conn.execute(delete(disability_cases).where(disability_cases.c.case_id.in_(ids)))
    conn.execute(delete(disability_entitlements).where(disability_entitlements.c.case_id.in_(ids)))
    conn.execute(insert(disability_cases), [case_row(a) for a in apps])
    rows = [row for a in apps for row in entitlement_rows(a)]
    if rows:
        conn.execute(insert(disability_entitlements), rows)


def refresh(tx: StoreTransaction, apps: Iterable[Application]) -> None:
    """Rewrite the rows of the applications a unit of work changed, in its transaction."""
    _write(tx.connection, apps)


def rows_from_log(log: Iterable[RecordedEvent]) -> list[Application]:
    """Every application folded from a log in position order (other streams skipped)."""
    apps: dict[str, Application] = {}
    for event in log:
        if event.stream_type == STREAM_TYPE:
            apps.setdefault(event.stream_id, Application()).apply(CODEC.decode(event))
    return list(apps.values())


class DisabilityReadModels:
    """Both tables as one projection for `tongban audit replay`. Rows are derived from whole folded
    applications, so there is no one-event `apply`: the live service refreshes them as a unit of
    work commits, and a replay uses `rebuild`."""

    name = "disability.read_models"
    tables = (disability_cases, disability_entitlements)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        raise NotImplementedError("disability read models fold whole applications: use rebuild(events, connection)")

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        _write(connection, rows_from_log(events))


# -- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkItem:
    case_id: str
    stage: str
    office_code: str
    applicant_name: str
    due_on: date | None
    overdue: bool


def list_work(conn: Connection, *, office: str, stage: str = "", overdue_only: bool = False,
              today: date | None = None, limit: int = 500) -> list[WorkItem]:
    """An office's work at a stage, due first. `office` is an office code ("640104-DPO-01") or a
    division's code ("640104", "6401"): a county's 残联 and 民政 see every application of their
    county. Overdue: the stage's deadline fired, or (with `today`) its last day is past."""
    query = select(disability_cases).where(disability_cases.c.stage != "",
                                           disability_cases.c.office_code.startswith(office, autoescape=True))
    if stage:
        query = query.where(disability_cases.c.stage == stage)
    if overdue_only:
        late = disability_cases.c.overdue == 1
        if today is not None:
            late = late | (disability_cases.c.due_on < today.isoformat())
        query = query.where(late)
    rows = conn.execute(query.order_by(disability_cases.c.due_on, disability_cases.c.case_id).limit(limit)).all()
    return [WorkItem(r.case_id, r.stage, r.office_code, r.applicant_name,
                     date.fromisoformat(r.due_on) if r.due_on else None,
                     bool(r.overdue) or (today is not None and r.due_on is not None and r.due_on < today.isoformat()))
            for r in rows]


def entitlements_of_person(conn: Connection, citizen_id: str) -> list[object]:
    """A person's entitlements in this region (rows; the account is masked by whoever shows them)."""
    return list(conn.execute(select(disability_entitlements).where(
        disability_entitlements.c.citizen_id == citizen_id).order_by(disability_entitlements.c.entitlement_id)).all())


def cases_of_person(conn: Connection, citizen_id: str) -> list[str]:
    """The person's applications in this region, oldest id first (data matching acts on each)."""
    return list(conn.execute(select(disability_cases.c.case_id).where(disability_cases.c.citizen_id == citizen_id)
                             .order_by(disability_cases.c.case_id)).scalars())
