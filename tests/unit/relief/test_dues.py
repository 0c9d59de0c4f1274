"""What relief owes each month (the payments contract's DueSource): paid from the month after the
decision (民发〔2021〕57号), the recomputed amount from the month after an income change, through the
region's 渐退期 after the household rises above the standard, and nothing after."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.relief.application import handlers as h
from services.relief.application.payments import DibaoDues
from services.relief.bootstrap import ReliefService, bootstrap
from services.relief.domain import commands as c
from services.relief.domain.settings import ReliefSettings
from tests.unit.relief.people import ACCOUNT, NINGXIA, XINGQING, clerk, member
from tests.unit.relief.test_application import _fire, china, registry_decides

CLERK = clerk()


@pytest.fixture
def ningxia(tmp_path: Path) -> Iterator[ReliefService]:
    clock = FakeClock(china(2026, 3, 2, 9))
    store = EventStore.open(sqlite_url(tmp_path / "relief.db"), region=NINGXIA, service="relief", clock=clock)
    try:
        yield bootstrap(Infrastructure.over(store, replace(ReliefSettings(), taper_off_months=6)))
    finally:
        store.close()


def _granted(service: ReliefService, earned: int) -> tuple[str, str]:
    deps, clock = service.deps, service.deps.clock
    household = [member("self", hukou=XINGQING, earned=earned), member("child", born=date(2016, 6, 1))]
    case_id = h.apply_for_dibao(deps, c.ApplyForDibao(household[0].citizen_id, household, "urban", ACCOUNT), CLERK)
    h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    registry_decides(service, case_id)
    h.start_investigation(deps, c.CaseStep(case_id), CLERK)
    h.record_home_visit(deps, c.RecordHomeVisit(case_id, "李明", "张华"), CLERK)
    h.give_township_opinion(deps, c.GiveTownshipOpinion(case_id, True), CLERK)
    h.start_public_notice(deps, c.CaseStep(case_id), CLERK)
    clock.advance(timedelta(days=8))  # type: ignore[attr-defined]  # the notice runs its 7 days
    _fire(service)
    h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    return case_id, household[0].citizen_id


def test_paid_from_the_month_after_the_decision_through_the_taper_off(ningxia: ReliefService) -> None:
    dues = DibaoDues(ningxia.deps.store)
    case_id, applicant = _granted(ningxia, earned=20_000)
    assert list(dues.due("2026-03")) == [], "not in the month of the decision"
    [april] = dues.due("2026-04")
    assert (april.entitlement_id, april.citizen_id, april.name, april.benefit, april.amount_fen, april.bank_account,
            april.month) == (f"{case_id}/dibao", applicant, "王S", "relief.dibao", 104_000, ACCOUNT, "2026-04")
    ningxia.deps.clock.set(china(2026, 5, 10))  # type: ignore[attr-defined]
    h.record_income_change(ningxia.deps, c.RecordIncomeChange(case_id, applicant, 50_000, 0), CLERK)
    assert [d.amount_fen for d in dues.due("2026-05")] == [104_000]
    assert [d.amount_fen for d in dues.due("2026-06")] == [74_000], "recomputed from the month after"
    ningxia.deps.clock.set(china(2026, 7, 3))  # type: ignore[attr-defined]
    h.record_income_change(ningxia.deps, c.RecordIncomeChange(case_id, applicant, 150_000, 0), CLERK)
    assert [d.amount_fen for d in dues.due("2027-01")] == [74_000], "paid through six months of 渐退"
    assert list(dues.due("2027-02")) == [], "then payment stops"


def test_every_household_once_in_a_stable_order(ningxia: ReliefService) -> None:
    first, _ = _granted(ningxia, earned=0)
    second, _ = _granted(ningxia, earned=10_000)
    lines = list(DibaoDues(ningxia.deps.store).due("2026-04"))
    assert [line.entitlement_id for line in lines] == sorted([f"{first}/dibao", f"{second}/dibao"])
    assert lines == list(DibaoDues(ningxia.deps.store).due("2026-04"))
