"""低保 rules (民发〔2021〕57号 最低生活保障审核确认办法), on a fixed calendar day: no clock is read."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from services.common.errors import InvalidArgument, NotAuthorised, RuleViolation
from services.common.kit.rules import Rule
from services.common.registry.retry import MAX_ATTEMPTS
from services.relief.domain import events as ev
from services.relief.domain import rules
from services.relief.domain.dibao import Dibao
from services.relief.domain.dibao_application import apply_for_dibao
from services.relief.domain.dibao_names import claim_id_for
from services.relief.domain.household import (
    MAX_ASSETS_FEN,
    MAX_FEN,
    Member,
    add_months,
    allowance,
    month_after,
    validated_members,
)
from services.relief.domain.settings import Area, ReliefSettings, Standard
from tests.unit.relief.people import LIZHOU, XINGQING, XINGQING_TOWNSHIP, member

MONDAY = date(2026, 3, 2)
SETTINGS = ReliefSettings()


def test_every_rule_names_itself_and_its_article() -> None:
    found = [c for _, c in inspect.getmembers(rules, inspect.isclass)
             if issubclass(c, Rule) and c is not Rule and c.__module__ == rules.__name__]
    assert len(found) >= 14
    for rule in found:
        assert rule.name and rule.article and ("57号" in rule.article or "47号" in rule.article
                                               or "35号" in rule.article or "invariant" in rule.article), rule.__name__
    assert isinstance(rules.ClerkOfThisRegion("clerk", "510000", "640000").violation(), NotAuthorised)


# -- amount: 补差 ---------------------------------------------------------------------------------


def test_yinchuan_urban_standard_620_yuan_makes_up_the_difference_times_size() -> None:
    """57号 补差: (620 − per-capita income) × size, integer fen."""
    household = [member("self", earned=50_000), member("spouse"), member("child", born=date(2015, 1, 1))]
    standard = SETTINGS.standard(XINGQING, Area.URBAN)
    assert standard == 62_000
    computed = allowance(household, standard)
    assert computed.per_capita_income_fen == 16_666
    assert computed.monthly_amount_fen == 62_000 * 3 - 50_000 == 136_000


def test_guangyuan_has_590_urban_and_390_rural() -> None:
    assert SETTINGS.standard(LIZHOU, Area.URBAN) == 59_000
    assert SETTINGS.standard(LIZHOU, Area.RURAL) == 39_000
    assert SETTINGS.standard("510000", Area.RURAL) == 39_000
    assert SETTINGS.standard(XINGQING, Area.RURAL) is None, "Ningxia's rural standard is not configured"


def test_a_county_standard_overrides_its_city_and_province() -> None:
    own = ReliefSettings(standards={**SETTINGS.standards, "640104": Standard(urban_fen=70_000)})
    assert own.standard(XINGQING, Area.URBAN) == 70_000
    assert own.standard("640105", Area.URBAN) == 62_000


def test_disability_subsidies_are_not_counted_as_income() -> None:
    """残疾人两项补贴 (国发〔2015〕52号) are not household income for 低保 (57号 收入核算)."""
    with_subsidy = [member("self", earned=30_000, subsidy=10_000 + 8_000), member("child")]
    without = [member("self", earned=30_000), member("child")]
    assert allowance(with_subsidy, 62_000) == allowance(without, 62_000)
    assert allowance(with_subsidy, 62_000).monthly_amount_fen == 94_000


def test_a_household_at_the_standard_is_not_below_it() -> None:
    assert rules.IncomeBelowStandard(allowance([member(earned=62_000)], 62_000)).is_broken()
    assert not rules.IncomeBelowStandard(allowance([member(earned=61_999)], 62_000)).is_broken()


def test_paid_from_the_month_after_the_decision() -> None:
    assert month_after(date(2026, 12, 31)) == "2027-01"
    assert add_months("2026-11", 6) == "2027-05"


def test_members_are_validated_field_by_field() -> None:
    bad = [Member("110105194912310020", "王", "self", "640104"), Member("110105194912310021", "", "x", "99")]
    with pytest.raises(InvalidArgument) as raised:
        validated_members(bad, MONDAY)
    assert {v.field for v in raised.value.violations} == {"members[0].citizen_id", "members[1].citizen_id"}



def test_amounts_are_in_range_a_typing_slip_is_refused_naming_the_field_issue_11() -> None:
    """No 低保 rule caps a declared income, but 2**63-1 fen a month is a slip, not a fact to record."""
    top = [replace(member(), earned_income_fen=MAX_FEN, assets_fen=MAX_ASSETS_FEN)]
    assert validated_members(top, MONDAY)[0].earned_income_fen == MAX_FEN
    slip = [replace(member(), earned_income_fen=MAX_FEN + 1, assets_fen=2**63 - 1, other_income_fen=-1)]
    with pytest.raises(InvalidArgument) as raised:
        validated_members(slip, MONDAY)
    assert {v.field for v in raised.value.violations} == {
        "members[0].earned_income_fen", "members[0].other_income_fen", "members[0].assets_fen"}


# -- where it may apply -------------------------------------------------------------------------


def test_apply_at_the_hukou_township_or_where_a_residence_permit_holder_lives() -> None:
    """57号 第二章: 户籍所在地; 有条件的地区 持居住证者在居住地申办."""
    assert not rules.MayApplyHere(XINGQING, XINGQING, "").is_broken()
    assert not rules.MayApplyHere(XINGQING, "610302", XINGQING).is_broken()
    assert rules.MayApplyHere(XINGQING, "610302", "").is_broken()


# -- the procedure and its limits ----------------------------------------------------------------


def _case(settings: ReliefSettings = SETTINGS, *, special: bool = False, members: list[Member] | None = None,
          unstable: bool = False) -> Dibao:
    household = members or [member("self", earned=20_000), member("child", born=date(2016, 6, 1))]
    events = apply_for_dibao(case_id="dibao-640000-1", office_code=XINGQING_TOWNSHIP, region="640000",
                             place=XINGQING, area="urban", route="hukou",
                             applicant_citizen_id=household[0].citizen_id, received_on=MONDAY, special=special,
                             unstable_income=unstable, members=household, settings=settings)
    return Dibao().applied(events)


def _run(case: Dibao, events: list[Any]) -> Dibao:
    return case.applied(events)


def _granted_places(case: Dibao) -> Dibao:
    """The registry grants every member's one 低保 place (decided elsewhere: invariant 5)."""
    for citizen in sorted(case.members):
        case = _run(case, case.record_registry_decision(citizen, claim_id_for(case.case_id, citizen), f"d-{citizen}",
                                                        outcome="granted"))
    return case


def _to_decision(case: Dibao, settings: ReliefSettings = SETTINGS) -> Dibao:
    case = _granted_places(_run(case, case.accept(MONDAY, settings)))
    case = _run(case, case.start_investigation(MONDAY))
    case = _run(case, case.record_home_visit(MONDAY, "李明", "张华", by_county=case.relatives_flagged, findings="ok"))
    case = _run(case, case.give_township_opinion(MONDAY, recommends=True, reasons="符合条件"))
    case = _run(case, case.start_public_notice(MONDAY, settings))
    assert case.notice_last_day is not None
    return _run(case, case.end_public_notice(date(2026, 3, 10)))


def test_acceptance_starts_the_investigation_and_decision_limits() -> None:
    """57号: investigation within 3 working days of acceptance; decision within 30 (45 special)."""
    [accepted] = _case().accept(MONDAY, SETTINGS)
    assert accepted.investigation_due_on == date(2026, 3, 5)
    assert accepted.decision_due_on == SETTINGS.calendar.add_working_days(MONDAY, 30)
    [special] = _case(special=True).accept(MONDAY, SETTINGS)
    assert special.decision_due_on == SETTINGS.calendar.add_working_days(MONDAY, 45)
    shorter = replace(SETTINGS, decision_within=20)
    assert _case().accept(MONDAY, shorter)[0].decision_due_on == SETTINGS.calendar.add_working_days(MONDAY, 20)


def test_a_home_visit_needs_two_named_staff() -> None:
    """57号 第三章 入户调查: 调查人员不少于2人."""
    case = _run(_case(), _case().accept(MONDAY, SETTINGS))
    case = _run(case, case.start_investigation(MONDAY))
    for first, second in (("李明", ""), ("李明", "李明"), ("", "")):
        with pytest.raises(RuleViolation, match="HomeVisitByTwoStaff"):
            case.record_home_visit(MONDAY, first, second, by_county=False, findings="")


def test_steps_come_in_order() -> None:
    with pytest.raises(RuleViolation, match="StepInOrder"):
        _case().start_investigation(MONDAY)
    with pytest.raises(RuleViolation, match="StepInOrder"):
        _case().decide(MONDAY, SETTINGS, approve=True, reasons="")


def test_the_public_notice_runs_seven_days_and_objections_are_answered_first() -> None:
    """57号 公示: 7 days; objections recorded during it and answered before the decision."""
    case = _granted_places(_run(_case(), _case().accept(MONDAY, SETTINGS)))
    case = _run(case, case.start_investigation(MONDAY))
    case = _run(case, case.record_home_visit(MONDAY, "李明", "张华", by_county=False, findings=""))
    case = _run(case, case.give_township_opinion(MONDAY, recommends=True, reasons=""))
    case = _run(case, case.start_public_notice(MONDAY, SETTINGS))
    assert case.notice_last_day == date(2026, 3, 9)  # Tue 3 … Mon 9: seven days after the start day
    with pytest.raises(RuleViolation, match="NoticeRunsItsDays"):
        case.end_public_notice(date(2026, 3, 9))
    case = _run(case, case.raise_objection(date(2026, 3, 4), "obj-1", "邻居称其有车"))
    case = _run(case, case.end_public_notice(date(2026, 3, 10)))
    with pytest.raises(RuleViolation, match="ObjectionsAnswered"):
        case.decide(date(2026, 3, 11), SETTINGS, approve=True, reasons="")
    case = _run(case, case.answer_objection(date(2026, 3, 11), "obj-1", "车辆已于2025年出售, 核实无误"))
    granted = case.decide(date(2026, 3, 12), SETTINGS, approve=True, reasons="")
    assert isinstance(granted[0], ev.DibaoGranted) and granted[0].first_month == "2026-04"


def test_a_grant_pays_from_the_next_month_and_every_member_enters_dibao() -> None:
    case = _to_decision(_case())
    granted, *entered = case.decide(date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    assert (granted.monthly_amount_fen, granted.first_month) == (62_000 * 2 - 20_000, "2026-04")
    assert {e.citizen_id for e in entered} == set(case.members)
    assert all(isinstance(e, ev.MemberEnteredDibao) and e.first_month == "2026-04" for e in entered)


def test_a_refusal_is_notified_in_writing_within_three_working_days() -> None:
    """57号 审核确认: 不予确认的, 书面告知并说明理由 (3 working days)."""
    case = _to_decision(_case())
    with pytest.raises(RuleViolation, match="RefusalGivesReasons"):
        case.decide(date(2026, 3, 13), SETTINGS, approve=False, reasons=" ")
    [refused] = case.decide(date(2026, 3, 13), SETTINGS, approve=False, reasons="存款超过规定")
    assert refused.notify_by == date(2026, 3, 18)
    rich = _to_decision(_case(members=[member(earned=70_000)]))
    [above] = rich.decide(date(2026, 3, 13), SETTINGS, approve=True, reasons="")
    assert isinstance(above, ev.DibaoRefused) and above.rule == "IncomeBelowStandard"


def test_review_every_twelve_months_or_six_with_unstable_income_or_working_age_members() -> None:
    """57号 动态管理: 定期核查, stable yearly; unstable income or working-age members 6-monthly."""
    elderly = [member("self", born=date(1950, 1, 1)), member("spouse", born=date(1952, 1, 1))]
    [stable, *_] = _to_decision(_case(members=elderly)).decide(date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    assert stable.review_due_on == date(2027, 3, 31)
    working = [member("self", born=date(1980, 1, 1))]
    [six, *_] = _to_decision(_case(members=working)).decide(date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    assert six.review_due_on == date(2026, 9, 30)
    [unstable, *_] = _to_decision(_case(members=elderly, unstable=True)).decide(
        date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    assert unstable.review_due_on == date(2026, 9, 30)


def test_income_above_the_standard_tapers_off_over_the_regions_months() -> None:
    """57号 动态管理 渐退期: the region's months still paid, then every member leaves 低保."""
    case = _to_decision(_case())
    case = _run(case, case.decide(date(2026, 3, 31), SETTINGS, approve=True, reasons=""))
    applicant = case.applicant_citizen_id
    lower = case.change_income(date(2026, 5, 10), SETTINGS, applicant, earned_income_fen=30_000, other_income_fen=0)
    assert [type(e) for e in lower] == [ev.IncomeChangeRecorded] and lower[0].monthly_amount_fen == 94_000
    twelve = replace(SETTINGS, taper_off_months=12)
    above = case.change_income(date(2026, 5, 10), twelve, applicant, earned_income_fen=130_000, other_income_fen=0)
    assert isinstance(above[1], ev.TaperOffStarted) and above[1].last_month == "2027-05"
    assert len(above) == 2, "still paid, and still holding each member's place, through the 渐退期"
    tapering = _run(case, above)
    assert tapering.amount_for("2027-05") == 104_000 and tapering.amount_for("2027-06") == 0
    ended, *left = tapering.end(date(2027, 6, 1))
    assert isinstance(ended, ev.DibaoEnded) and {e.citizen_id for e in left} == set(case.members)
    assert all(isinstance(e, ev.MemberLeftDibao) and e.last_month == "2027-05" for e in left)


def test_relatives_of_staff_are_flagged_and_the_county_visits_first() -> None:
    """57号 近亲属备案: filed separately, the county's own home visit before the township opinion."""
    household = [member("self"), member("child", born=date(2016, 1, 1))]
    flagged_settings = replace(SETTINGS, staff_and_cadre_relatives=frozenset({household[1].citizen_id}))
    case = _case(flagged_settings, members=household)
    assert case.relatives_flagged
    case = _run(case, case.accept(MONDAY, flagged_settings))
    case = _run(case, case.start_investigation(MONDAY))
    case = _run(case, case.record_home_visit(MONDAY, "李明", "张华", by_county=False, findings=""))
    with pytest.raises(RuleViolation, match="CountyVisitsFlaggedHousehold"):
        case.give_township_opinion(MONDAY, recommends=True, reasons="")
    case = _run(case, case.record_home_visit(MONDAY, "县局赵", "县局钱", by_county=True, findings=""))
    assert case.give_township_opinion(MONDAY, recommends=True, reasons="")


def test_an_overrun_is_noted_only_while_its_step_is_not_done() -> None:
    case = _run(_case(), _case().accept(MONDAY, SETTINGS))
    assert case.note_overrun(date(2026, 3, 6), "investigation", date(2026, 3, 5))
    case = _run(case, case.start_investigation(MONDAY))
    assert case.note_overrun(date(2026, 3, 6), "investigation", date(2026, 3, 5)) == []
    assert case.note_overrun(date(2026, 4, 20), "decision", date(2026, 4, 14))


def test_one_place_per_member_the_registry_answers_before_the_county_decides() -> None:
    """57号: one household enjoys 低保 in one place only — each member's place held by the registry."""
    accepted = _run(_case(), _case().accept(MONDAY, SETTINGS))
    assert set(accepted.places) == set(accepted.members)
    waiting = _to_decision(_case())
    waiting.places[next(iter(waiting.places))] = "requested"
    with pytest.raises(RuleViolation, match="RegistryAnswersFirst"):
        waiting.decide(date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    case = _to_decision(_case())
    someone = sorted(case.members)[0]
    case.places[someone] = "requested"
    case = _run(case, case.record_registry_decision(someone, claim_id_for(case.case_id, someone), "d-x",
                                                    outcome="denied", holder_case_id="dibao-510000-9",
                                                    holder_region="510000"))
    [refused] = case.decide(date(2026, 3, 31), SETTINGS, approve=True, reasons="")
    assert isinstance(refused, ev.DibaoRefused) and refused.rule == "OnePlacePerMember"
    assert "dibao-510000-9" in refused.reasons
    assert case.record_registry_decision(someone, claim_id_for(case.case_id, someone), "d-y", outcome="granted") == []


def test_a_pending_place_is_no_refusal_it_is_claimed_again_and_granted_invariant_9() -> None:
    """ARefusalRestsOnASettledHold (invariant 9, issue 11): the registry met another 低保 case not
    yet settled and answered PENDING. The member's place stays asked, a retry is scheduled and, when
    it falls due, the place is claimed under a new claim id; a late answer on the old claim counts
    for nothing; the new claim's grant does (57号: one place per member)."""
    case = _run(_case(), _case().accept(MONDAY, SETTINGS))
    someone = sorted(case.members)[0]
    first = claim_id_for(case.case_id, someone)
    [pending] = case.record_registry_decision(someone, first, "p-1", outcome="pending",
                                              holder_case_id="dibao-510000-9", holder_region="510000")
    assert isinstance(pending, ev.MemberPlacePending) and pending.retry_deadline_id and pending.retry_after_ms > 0
    case = _run(case, [pending])
    assert case.places[someone] == "requested", "no refusal"
    assert case.record_registry_decision(someone, first, "p-1", outcome="pending") == [], "a redelivery"
    [retried] = case.retry_place(someone, pending.retry_deadline_id)
    case = _run(case, [retried])
    assert case.retry_place(someone, pending.retry_deadline_id) == [], "a deadline fires once"
    second = case.place_claim_id(someone)
    assert second == claim_id_for(case.case_id, someone, 2) != first
    assert case.record_registry_decision(someone, first, "d-old", outcome="denied") == [], "an older attempt's"
    case = _run(case, case.record_registry_decision(someone, second, "g-2", outcome="granted"))
    assert case.places[someone] == "granted"


def test_a_place_still_pending_after_the_last_retry_is_denied_naming_the_holder() -> None:
    """RetriesAreBounded (services/common/registry/retry.py): not waited for for ever."""
    case = _run(_case(), _case().accept(MONDAY, SETTINGS))
    someone = sorted(case.members)[0]
    for _ in range(MAX_ATTEMPTS - 1):
        [pending] = case.record_registry_decision(someone, case.place_claim_id(someone), "p", outcome="pending",
                                                  holder_case_id="dibao-510000-9", holder_region="510000")
        case = _run(case, [pending])
        case = _run(case, case.retry_place(someone, pending.retry_deadline_id))  # type: ignore[attr-defined]
    last, denied = case.record_registry_decision(someone, case.place_claim_id(someone), "p", outcome="pending",
                                                 holder_case_id="dibao-510000-9", holder_region="510000")
    assert isinstance(last, ev.MemberPlacePending) and last.retry_deadline_id == ""
    assert isinstance(denied, ev.MemberPlaceDenied) and denied.holder_case_id == "dibao-510000-9"
