"""Read models of relief: one row per case (work queues per office, what is overdue) and one row per
person named by a case (the household view, 临时救助's once-a-year check). Both derive from whole
folded cases: refreshed in the recording transaction by the unit of work's commit subscriber, and
rebuilt from the log by `tongban audit replay`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Boolean, Column, Connection, Date, Integer, MetaData, String, Table, delete, insert, select

from services.common.events import RecordedEvent
from services.common.store.decode import row_to_event
from services.common.store.schema import events
from services.relief.adapters.payloads import CODEC
from services.relief.domain import assistance as assistance_module
from services.relief.domain import dibao_names
from services.relief.domain.assistance import Assistance
from services.relief.domain.dibao import Dibao

TABLES = MetaData()

relief_cases = Table(
    "relief_cases", TABLES,
    Column("case_id", String(200), primary_key=True),
    Column("case_type", String(16), nullable=False),  # "dibao" | "assistance"
    Column("state", String(32), nullable=False),
    Column("office_code", String(64), nullable=False, index=True),
    Column("applicant_citizen_id", String(18), nullable=False),
    Column("monthly_amount_fen", Integer, nullable=False),
    Column("due_on", Date, nullable=True),  # the next limit of the procedure
    Column("overdue", String(200), nullable=False),  # limits overrun, comma-separated
    Column("relatives_flagged", Boolean, nullable=False),
    Column("cause", String(64), nullable=False),  # 临时救助: the emergency's cause
    Column("year", Integer, nullable=False),  # 临时救助: the emergency's year; 低保: the application's
    Column("review_requested", Boolean, nullable=False),  # a member married or divorced since the last review
    Column("version", Integer, nullable=False),
)

relief_persons = Table(
    "relief_persons", TABLES,
    Column("citizen_id", String(18), primary_key=True),
    Column("case_id", String(200), primary_key=True),
    Column("relation", String(32), nullable=False),
)

_STREAM_TYPES = (Dibao.stream_type, Assistance.stream_type)
_REBUILD_PAGE = 1000
# States in which a 临时救助 counts as help given for its cause (the once-a-year rule).
HELPED = (assistance_module.URGENT_PAID, assistance_module.PROOF_COMPLETED, assistance_module.GRANTED)


def case_row(case: Dibao | Assistance) -> dict[str, object]:
    if isinstance(case, Dibao):
        due = {dibao_names.ACCEPTED: case.investigation_due_on, dibao_names.INVESTIGATING: case.decision_due_on,
               dibao_names.REVIEWED: case.decision_due_on, dibao_names.IN_NOTICE: case.notice_last_day,
               dibao_names.AWAITING_DECISION: case.decision_due_on, dibao_names.GRANTED: case.review_due_on}
        paid = case.state in (dibao_names.GRANTED, dibao_names.TAPERING)
        return dict(case_id=case.case_id, case_type="dibao", state=case.state, office_code=case.office_code,
                    applicant_citizen_id=case.applicant_citizen_id,
                    monthly_amount_fen=case.monthly_amount_fen if paid else 0, due_on=due.get(case.state),
                    overdue=",".join(case.overdue), relatives_flagged=case.relatives_flagged,
                    cause="", year=case.received_on.year if case.received_on else 0,
                    review_requested=bool(case.review_triggers), version=case.version)
    due_on = case.proof_due_on if case.open_until_proof else (
        case.decision_due_on if case.state in (assistance_module.RECEIVED, assistance_module.PROOF_COMPLETED) else None)
    return dict(case_id=case.case_id, case_type="assistance", state=case.state, office_code=case.office_code,
                applicant_citizen_id=case.citizen_id, monthly_amount_fen=case.granted_fen or case.urgent_fen,
                due_on=due_on, overdue=",".join(case.overdue), relatives_flagged=False, cause=case.cause,
                year=case.emergency_on.year if case.emergency_on else 0, review_requested=False,
                version=case.version)


def person_rows(case: Dibao | Assistance) -> list[dict[str, object]]:
    if isinstance(case, Dibao):
        return [dict(citizen_id=m.citizen_id, case_id=case.case_id, relation=m.relation) for m in case.members.values()]
    return [dict(citizen_id=case.citizen_id, case_id=case.case_id, relation="self")]


def refresh(conn: Connection, cases: Iterable[Dibao | Assistance]) -> None:
    """Replace the rows of these cases with what they are now."""
    for case in cases:
        conn.execute(delete(relief_cases).where(relief_cases.c.case_id == case.case_id))
        conn.execute(delete(relief_persons).where(relief_persons.c.case_id == case.case_id))
        conn.execute(insert(relief_cases).values(**case_row(case)))
        persons = person_rows(case)
        if persons:
            conn.execute(insert(relief_persons), persons)


# -- rebuilding from the log ------------------------------------------------------------------


def cases_from_log(log: Iterable[RecordedEvent]) -> list[Dibao | Assistance]:
    folded: dict[str, Dibao | Assistance] = {}
    for event in log:
        if event.stream_type not in _STREAM_TYPES:
            continue
        case = folded.setdefault(event.stream_id, Dibao() if event.stream_type == Dibao.stream_type else Assistance())
        case.apply(CODEC.decode(event))
    return list(folded.values())


class ReliefReadModels:
    """Both tables as one projection for `tongban audit replay`: rows come from whole cases."""

    name = "relief.read_models"
    tables = (relief_cases, relief_persons)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        raise NotImplementedError("relief read models fold whole cases: use rebuild(events, connection)")

    def rebuild(self, events_: Iterable[RecordedEvent], connection: Connection) -> None:
        refresh(connection, cases_from_log(events_))


def case_events(conn: Connection) -> Iterable[RecordedEvent]:
    after = 0
    while True:
        page = conn.execute(select(events).where(events.c.stream_type.in_(_STREAM_TYPES), events.c.position > after)
                            .order_by(events.c.position).limit(_REBUILD_PAGE)).all()
        for row in page:
            yield row_to_event(row)
        if len(page) < _REBUILD_PAGE:
            return
        after = int(page[-1].position)


# -- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    case_type: str
    state: str
    office_code: str
    applicant_citizen_id: str
    monthly_amount_fen: int
    due_on: date | None
    overdue: tuple[str, ...]
    relatives_flagged: bool


# Work queues: (case type, states) a window lists; "overdue" lists every case with a limit overrun.
QUEUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "dibao_to_accept": ("dibao", (dibao_names.RECEIVED,)),
    "dibao_in_procedure": ("dibao", (dibao_names.ACCEPTED, dibao_names.INVESTIGATING, dibao_names.REVIEWED)),
    "dibao_in_notice": ("dibao", (dibao_names.IN_NOTICE,)),
    "dibao_to_decide": ("dibao", (dibao_names.AWAITING_DECISION,)),
    "dibao_refusals_to_notify": ("dibao", (dibao_names.REFUSED,)),
    "dibao_granted": ("dibao", (dibao_names.GRANTED, dibao_names.TAPERING)),
    "dibao_ended": ("dibao", (dibao_names.ENDED,)),
    "assistance_open": ("assistance", (assistance_module.RECEIVED, assistance_module.PROOF_COMPLETED)),
    "assistance_awaiting_proof": ("assistance", (assistance_module.URGENT_PAID,)),
}


def case_view(case: Dibao | Assistance) -> CaseRow:
    """The row a case would have, as a window sees it."""
    return _from_mapping(case_row(case))


def _row(r: object) -> CaseRow:
    return _from_mapping(r._mapping)  # type: ignore[attr-defined]


def _from_mapping(m: Any) -> CaseRow:
    return CaseRow(m["case_id"], m["case_type"], m["state"], m["office_code"], m["applicant_citizen_id"],
                   m["monthly_amount_fen"], m["due_on"], tuple(o for o in m["overdue"].split(",") if o),
                   m["relatives_flagged"])


def list_cases(conn: Connection, *, office_code: str, queue: str = "", limit: int = 50) -> list[CaseRow]:
    """An office's cases in a work queue; overdue ones first, then by due date."""
    query = select(relief_cases).where(relief_cases.c.office_code == office_code)
    if queue == "overdue":
        query = query.where(relief_cases.c.overdue != "")
    elif queue == "dibao_review_requested":
        query = query.where(relief_cases.c.review_requested.is_(True))
    elif queue:
        case_type, states = QUEUES[queue]
        query = query.where(relief_cases.c.case_type == case_type, relief_cases.c.state.in_(states))
    query = query.order_by((relief_cases.c.overdue == "").asc(), relief_cases.c.due_on.asc(),
                           relief_cases.c.case_id).limit(limit)
    return [_row(r) for r in conn.execute(query)]


def granted_cases_of(conn: Connection, citizen_id: str) -> list[str]:
    """The granted 低保 cases naming this person."""
    query = (select(relief_cases.c.case_id).join(relief_persons, relief_persons.c.case_id == relief_cases.c.case_id)
             .where(relief_persons.c.citizen_id == citizen_id, relief_cases.c.case_type == "dibao",
                    relief_cases.c.state == dibao_names.GRANTED).order_by(relief_cases.c.case_id))
    return [str(case_id) for case_id in conn.execute(query).scalars()]


def cases_of_person(conn: Connection, citizen_id: str) -> list[CaseRow]:
    query = (select(relief_cases).join(relief_persons, relief_persons.c.case_id == relief_cases.c.case_id)
             .where(relief_persons.c.citizen_id == citizen_id).order_by(relief_cases.c.case_id))
    return [_row(r) for r in conn.execute(query)]


def earlier_help_for(conn: Connection, citizen_id: str, cause: str, year: int) -> str:
    """A 临时救助 case that already helped this person for this cause in this year ("" if none)."""
    found = conn.execute(select(relief_cases.c.case_id).where(
        relief_cases.c.case_type == "assistance", relief_cases.c.applicant_citizen_id == citizen_id,
        relief_cases.c.cause == cause, relief_cases.c.year == year, relief_cases.c.state.in_(HELPED))
        .order_by(relief_cases.c.case_id).limit(1)).scalar()
    return str(found or "")
