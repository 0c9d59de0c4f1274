"""临时救助 rules (国发〔2014〕47号): the region where the emergency happened grants; 先行救助 now, the
proof within 10 working days; a decision within 15; once a year per cause (a regional rule)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from services.common.errors import InvalidArgument, RuleViolation
from services.common.working_days import OFFICIAL_FIRST_YEAR
from services.relief.domain import events as ev
from services.relief.domain.assistance import Assistance, apply_for_assistance
from services.relief.domain.commands import ApplyForAssistance, Decide
from services.relief.domain.household import MAX_FEN
from services.relief.domain.settings import ReliefSettings
from tests.unit.relief.people import BAOJI, LIZHOU, SICHUAN, citizen

MONDAY = date(2026, 3, 2)
SETTINGS = ReliefSettings()


def _apply(*, place: str = LIZHOU, kind: str = "urgent", hukou: str = BAOJI, permit: str = "", earlier: str = "",
           settings: ReliefSettings = SETTINGS) -> list[object]:
    return apply_for_assistance(
        case_id="assistance-510000-1", office_code="510802-MZ-01", region=SICHUAN, citizen_id=citizen(address=BAOJI),
        name="陈旅", emergency_place=place, emergency_on=MONDAY, cause="traffic_accident", kind=kind,
        hukou_region=hukou,
        residence_permit_region=permit, received_on=MONDAY, earlier_case_id=earlier, settings=settings)


def test_granted_where_the_emergency_happened_whatever_the_hukou() -> None:
    """47号 急难发生地救助: a traveller from Shaanxi is helped in Sichuan."""
    [received] = _apply()
    assert isinstance(received, ev.AssistanceApplicationReceived)
    assert received.local_link == "none"
    assert _apply(permit=LIZHOU)[0].local_link == "residence_permit"  # type: ignore[attr-defined]
    with pytest.raises(RuleViolation, match="EmergencyHappenedHere"):
        _apply(place=BAOJI)


def test_decided_within_fifteen_working_days() -> None:
    [received] = _apply(kind="expenditure")
    assert received.decision_due_on == SETTINGS.calendar.add_working_days(MONDAY, 15)  # type: ignore[attr-defined]


def test_once_per_calendar_year_for_the_same_cause_unless_the_region_says_otherwise() -> None:
    with pytest.raises(RuleViolation, match="OncePerYearPerCause"):
        _apply(earlier="assistance-510000-0")
    assert _apply(earlier="assistance-510000-0", settings=replace(SETTINGS, once_per_year_per_cause=False))


def test_urgent_payment_up_to_the_ceiling_then_proof_within_ten_working_days() -> None:
    """47号 先行救助, 后补齐手续: paid now; the case stays open until the proof is completed."""
    case = Assistance().applied(_apply())
    with pytest.raises(RuleViolation, match="UrgentWithinCeiling"):
        case.pay_urgently(MONDAY, SETTINGS.urgent_ceiling_fen + 1, SETTINGS)
    case = case.applied(case.pay_urgently(MONDAY, 80_000, SETTINGS))
    assert case.open_until_proof and case.proof_due_on == date(2026, 3, 16)
    with pytest.raises(RuleViolation, match="ProofBeforeClosing"):
        case.decide(MONDAY, approve=True, amount_fen=80_000, reasons="")
    assert case.note_overrun(date(2026, 3, 17), "proof", date(2026, 3, 16))
    case = case.applied(case.complete_proof(date(2026, 3, 12), "医院证明, 村委会证明, 审批表"))
    assert not case.open_until_proof
    assert case.note_overrun(date(2026, 3, 17), "proof", date(2026, 3, 16)) == []
    [granted] = case.decide(date(2026, 3, 13), approve=True, amount_fen=80_000, reasons="")
    assert isinstance(granted, ev.AssistanceGranted)


def test_an_expenditure_case_is_not_paid_at_once() -> None:
    case = Assistance().applied(_apply(kind="expenditure"))
    with pytest.raises(RuleViolation, match="StepInOrder"):
        case.pay_urgently(MONDAY, 10_000, SETTINGS)
    with pytest.raises(RuleViolation, match="GrantHasAnAmount"):
        case.decide(MONDAY, approve=True, amount_fen=0, reasons="")


def test_a_person_without_local_link_may_be_referred_to_the_rescue_agency() -> None:
    """47号: neither local 户籍 nor permit → helped here, or referred to the 救助管理站, recorded."""
    case = Assistance().applied(_apply())
    [referred] = case.refer_to_rescue_agency(MONDAY, "无固定住所, 需返乡", SETTINGS)
    assert isinstance(referred, ev.ReferredToRescueAgency) and referred.agency == "县级救助管理站"
    local = Assistance().applied(_apply(hukou=LIZHOU))
    with pytest.raises(RuleViolation, match="StepInOrder"):
        local.refer_to_rescue_agency(MONDAY, "", SETTINGS)


def test_an_urgent_case_is_for_an_emergency_the_working_day_calendar_can_count_from_issue_11() -> None:
    """47号: the proof is due 10 working days after the emergency; before the calendar's first year
    (2004) there is nothing to count on, so the window is told instead of a fault."""
    def application(kind: str, on: date) -> ApplyForAssistance:
        return ApplyForAssistance(citizen(date(1900, 1, 1), address=BAOJI), "陈旅", LIZHOU, on, "fire", kind)

    early = date(OFFICIAL_FIRST_YEAR - 1, 12, 31)
    with pytest.raises(InvalidArgument) as raised:
        application("urgent", early).validated(MONDAY)
    assert [v.field for v in raised.value.violations] == ["emergency_on"]
    assert application("urgent", date(OFFICIAL_FIRST_YEAR, 1, 1)).validated(MONDAY)
    assert application("expenditure", date(1900, 1, 1)).validated(MONDAY)


def test_an_emergency_before_the_persons_birth_is_refused_naming_emergency_on_issue_11() -> None:
    born = date(1990, 4, 1)
    person = citizen(born=born, address=BAOJI)
    assert ApplyForAssistance(person, "陈旅", LIZHOU, born, "fire", "expenditure").validated(MONDAY) == person
    with pytest.raises(InvalidArgument) as raised:
        ApplyForAssistance(person, "陈旅", LIZHOU, date(1990, 3, 31), "fire", "expenditure").validated(MONDAY)
    assert [v.field for v in raised.value.violations] == ["emergency_on"]


def test_a_grant_is_in_range_issue_11() -> None:
    Decide("assistance-510000-1", True, amount_fen=MAX_FEN).validate()
    with pytest.raises(InvalidArgument) as raised:
        Decide("assistance-510000-1", True, amount_fen=2**63 - 1).validate()
    assert [v.field for v in raised.value.violations] == ["amount_fen"]
