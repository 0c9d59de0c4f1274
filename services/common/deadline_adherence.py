"""Deadline adherence, counted from a service's own records: per office, the cases decided within
their legal time limits or after one ran out, and the open cases on time or overdue.

A case is late when one of its procedure's limits fired (services/common/deadlines.py: the
scheduler fires a deadline only when its step was not done in time; a step done in time cancels
it). Which deadline kinds are procedure limits, and which case states are decided, is the
service's to say: a public notice that ends or a cooling-off period that runs out fires by design
and is no lateness. One query over the case read model and the deadlines table: no case is
loaded, and nothing personal leaves the service (the figures are counts)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, exists, func, select

from services.common.deadlines import FIRED, deadlines
from services.common.events import Actor
from services.common.kit.rules import check
from services.common.trust.reads import COUNTY, OFFICE, AuthorisedRead, ReadPolicy, county_of


@dataclass
class OfficeDeadlines:
    office_code: str
    decided_on_time: int = 0
    decided_late: int = 0
    open_on_time: int = 0
    open_overdue: int = 0


def statistics_scope(policy: ReadPolicy, actor: Actor) -> str:
    """The office-code prefix whose figures `actor` may count: the region for an auditor or a
    supervisor, the county for a county office, the own office for a window. Counts carry no
    personal data, but a role that may read no case of the service may not count them either."""
    scope = policy.scope(actor)
    check(AuthorisedRead(role=actor.role, scope=scope, reader_office=actor.office_code,
                         case_office=actor.office_code))
    if scope == COUNTY:
        return county_of(actor.office_code)
    return actor.office_code if scope == OFFICE else ""


def count_deadlines(conn: Connection, cases: Table, *, decided_states: Collection[str],
                    limit_kinds: Collection[str], office_prefix: str = "") -> list[OfficeDeadlines]:
    """Per office (code starting with `office_prefix`), in office order. `cases` needs the columns
    case_id, state and office_code."""
    late = exists().where(and_(deadlines.c.case_stream_id == cases.c.case_id, deadlines.c.state == FIRED,
                               deadlines.c.kind.in_(list(limit_kinds)))).label("late")
    decided = cases.c.state.in_(list(decided_states)).label("decided")
    per_case = select(cases.c.office_code, decided, late)
    if office_prefix:
        per_case = per_case.where(cases.c.office_code.startswith(office_prefix, autoescape=True))
    rows = per_case.subquery()  # grouped outside, so no database has to group by a subquery
    query = (select(rows.c.office_code, rows.c.decided, rows.c.late, func.count().label("n"))
             .group_by(rows.c.office_code, rows.c.decided, rows.c.late).order_by(rows.c.office_code))
    offices: dict[str, OfficeDeadlines] = {}
    for office_code, is_decided, is_late, n in conn.execute(query):
        row = offices.setdefault(office_code, OfficeDeadlines(office_code))
        name = ("decided_" if is_decided else "open_") + (("late" if is_decided else "overdue") if is_late
                                                          else "on_time")
        setattr(row, name, getattr(row, name) + int(n))
    return list(offices.values())
