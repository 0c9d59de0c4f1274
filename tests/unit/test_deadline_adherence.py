"""Deadline adherence as the services count it (services/common/deadline_adherence.py) over a real
SQLite file: a case is late when one of its procedure's limits fired (the step was not done in
time, 民发〔2021〕57号 / 国发〔2015〕52号 三 working-day limits), on time when its limits were
cancelled by the step done; deadlines that fire by design (a public notice ending) are no
lateness; figures per office, within the reader's scope (个人信息保护法 第三十四条: a role that
may read no case counts none)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert

from services.common.deadline_adherence import OfficeDeadlines, count_deadlines, statistics_scope
from services.common.deadlines import CANCELLED, FIRED, PENDING, deadlines
from services.common.deadlines import TABLES as DEADLINE_TABLES
from services.common.errors import NotAuthorised
from services.common.events import Actor
from services.common.trust.reads import ReadPolicy

CASES = MetaData()
cases = Table("cases", CASES, Column("case_id", String(200), primary_key=True),
              Column("state", String(32)), Column("office_code", String(64)))
LIMIT, NOTICE = "svc.decision_due", "svc.notice_ends"


def test_cases_are_counted_per_office_as_decided_on_time_or_late_and_open_on_time_or_overdue(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    DEADLINE_TABLES.create_all(engine)
    CASES.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(cases), [
            {"case_id": "c1", "state": "granted", "office_code": "640104-MZ-01"},   # decided, its limit cancelled
            {"case_id": "c2", "state": "granted", "office_code": "640104-MZ-01"},   # decided after its limit fired
            {"case_id": "c3", "state": "refused", "office_code": "640104-MZ-01"},   # notice ended: by design
            {"case_id": "c4", "state": "accepted", "office_code": "640104-MZ-01"},  # open, limit pending
            {"case_id": "c5", "state": "accepted", "office_code": "640104-MZ-02"},  # open, limit fired
            {"case_id": "c6", "state": "granted", "office_code": "640205-MZ-01"},   # another county
        ])
        conn.execute(insert(deadlines), [
            {"deadline_id": "d1", "kind": LIMIT, "case_stream_id": "c1", "due_at_us": 1, "state": CANCELLED},
            {"deadline_id": "d2", "kind": LIMIT, "case_stream_id": "c2", "due_at_us": 1, "state": FIRED},
            {"deadline_id": "d3", "kind": NOTICE, "case_stream_id": "c3", "due_at_us": 1, "state": FIRED},
            {"deadline_id": "d4", "kind": LIMIT, "case_stream_id": "c4", "due_at_us": 1, "state": PENDING},
            {"deadline_id": "d5", "kind": LIMIT, "case_stream_id": "c5", "due_at_us": 1, "state": FIRED},
            {"deadline_id": "d6", "kind": LIMIT, "case_stream_id": "c5", "due_at_us": 2, "state": FIRED},
        ])
    with engine.connect() as conn:
        county = count_deadlines(conn, cases, decided_states=("granted", "refused"), limit_kinds=(LIMIT,),
                                 office_prefix="640104")
        region = count_deadlines(conn, cases, decided_states=("granted", "refused"), limit_kinds=(LIMIT,))
    assert county == [OfficeDeadlines("640104-MZ-01", decided_on_time=2, decided_late=1, open_on_time=1),
                      OfficeDeadlines("640104-MZ-02", open_overdue=1)]  # two fired limits: one late case
    assert [o.office_code for o in region] == ["640104-MZ-01", "640104-MZ-02", "640205-MZ-01"]


def test_the_figures_cover_the_readers_scope_and_a_role_that_reads_no_case_counts_none_个人信息保护法_34() -> None:
    policy = ReadPolicy()
    reader = lambda role: Actor("clerk", "c", "640104-MZ-01", "640000", role)  # noqa: E731
    assert statistics_scope(policy, reader("auditor")) == ""  # the whole region
    assert statistics_scope(policy, reader("finance")) == "640104"  # the county
    assert statistics_scope(policy, reader("relief")) == "640104-MZ-01"  # the own office
    with pytest.raises(NotAuthorised):
        statistics_scope(policy, reader("court"))
