"""异地代收代办 at the receiving window and in the 户籍 region (民政部/中国残联 两项补贴跨省通办, 2021):
forward within 3 working days, the 户籍 region judges by its own rules from the month applied,
inform within 3 working days of the result; the window's steps in turn."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.common.errors import RuleViolation
from services.common.working_days import NATIONAL
from services.disability.domain import events as ev
from services.disability.domain.forwarding import (
    decides_elsewhere,
    decision_of,
    forward,
    inform,
    receive_for_forwarding,
    record_answer,
    take_over,
)
from services.disability.domain.settings import NINGXIA, SICHUAN_EXAMPLE
from services.disability.domain.values import (
    Applicant,
    ApplicationState,
    HouseholdStatus,
    Stage,
    WindowStage,
)
from tests.unit.disability.people import NO_EXCLUSIONS, certificate, citizen, folded

MONDAY = date(2026, 3, 9)


def _at_the_window() -> list[object]:
    who = citizen("510802")
    return receive_for_forwarding(
        case_id="disability-640000-00000000000000aa", office_code="640104-DPO-01", region="640000",
        received_on=MONDAY, applicant=Applicant(who, "王芳", "510802"), certificate=certificate(who),
        household=HouseholdStatus.DIBAO, circumstances=NO_EXCLUSIONS, bank_account="6222021234567890123",
        living=True, nursing=True, settings=NINGXIA, calendar=NATIONAL)


def test_the_window_forwards_within_three_working_days_and_judges_nothing_itself() -> None:
    assert decides_elsewhere("640000", "510802") and not decides_elsewhere("640000", "640104")
    app = folded(_at_the_window())
    assert (app.state, app.stage, app.stage_due_on) == (ApplicationState.FORWARDING, WindowStage.FORWARDING,
                                                        date(2026, 3, 12))
    with pytest.raises(RuleViolation, match="AtTheWindowStage"):
        inform(app, office_code="640104-DPO-01", on=MONDAY, note="")
    app = app.applied(forward(app, handoff_id="h-1", office_code="640104-DPO-01", on=MONDAY))
    assert (app.forwarded_to, app.stage) == ("510000", None), "Guangyuan's province decides"


def test_the_hukou_region_judges_by_its_rules_and_pays_from_the_month_applied() -> None:
    received = _at_the_window()[0]
    assert isinstance(received, ev.ApplicationReceived)
    events = take_over(received, handoff_id="h-1", from_region="640000", region="510000", on=date(2026, 4, 1),
                       settings=SICHUAN_EXAMPLE, calendar=NATIONAL)
    app = folded(events)
    assert (app.from_region, app.office_code, app.stage) == ("640000", "510802", Stage.TOWNSHIP_REVIEW)
    assert app.received_on == MONDAY, "payment starts from the month of application at the window"
    refused = folded(take_over(replace(received, household="none", nursing_requested=False), handoff_id="h-2",
                               from_region="640000", region="510000", on=MONDAY, settings=SICHUAN_EXAMPLE,
                               calendar=NATIONAL))
    assert decision_of(refused, on=MONDAY).approved is False


def test_the_result_starts_three_working_days_to_inform_and_is_recorded_once() -> None:
    app = folded(_at_the_window())
    app = app.applied(forward(app, handoff_id="h-1", office_code="640104-DPO-01", on=MONDAY))
    decided = ev.HukouRegionDecided("h-1", "510000", date(2026, 3, 20), True, "", 10_000, 10_000, "2026-03")
    events = record_answer(app, decided, on=date(2026, 3, 20), settings=NINGXIA, calendar=NATIONAL)
    app = app.applied(events)
    assert (app.state, app.stage, app.stage_due_on) == (ApplicationState.APPROVED, WindowStage.INFORMING,
                                                        date(2026, 3, 25))
    assert record_answer(app, decided, on=date(2026, 3, 21), settings=NINGXIA, calendar=NATIONAL) == []
    app = app.applied(inform(app, office_code="640104-DPO-01", on=date(2026, 3, 23), note="电话告知"))
    assert (app.stage, app.informed_on) == (None, date(2026, 3, 23))
