"""Eligibility and exclusions of the two subsidies at the window (国发〔2015〕52号 二(一), 二(四)),
regional extensions as configuration, and the certificate checks."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidArgument, RuleViolation
from services.common.identity.disability_certificate import DisabilityCertificateNumber
from services.disability.domain import events as ev
from services.disability.domain.settings import NINGXIA, YINCHUAN, settings_for
from services.disability.domain.values import (
    ApplicationState,
    HouseholdStatus,
    Stage,
    Subsidy,
    bank_account,
    masked,
)
from tests.unit.disability.people import citizen, folded, received


def _refusals(events: list[object]) -> dict[str, str]:
    return {e.subsidy: e.rule for e in events if isinstance(e, ev.SubsidyRefused)}


def test_living_subsidy_needs_a_dibao_household_52hao_2_1_1() -> None:
    events = received(household=HouseholdStatus.NONE)
    assert _refusals(events) == {"living": "LivingSubsidyForLowIncomeHouseholds"}
    application = folded(events)
    assert application.state is ApplicationState.UNDER_REVIEW, "the nursing subsidy goes on"
    assert application.still_asked == [Subsidy.NURSING]


def test_low_income_households_only_where_the_region_extends_the_living_subsidy_52hao_2_1_1() -> None:
    assert _refusals(received(household=HouseholdStatus.LOW_INCOME, nursing=False))["living"] \
        == "LivingSubsidyForLowIncomeHouseholds"
    extended = NINGXIA.__class__(living_fen=11_000, nursing_fen=12_000, living_extends_to_low_income=True)
    assert _refusals(received(household=HouseholdStatus.LOW_INCOME, nursing=False, settings=extended)) == {}


@pytest.mark.parametrize("grade", [1, 2])
def test_nursing_subsidy_for_grades_1_and_2_52hao_2_1_2(grade: int) -> None:
    assert _refusals(received(grade=grade, living=False)) == {}


def test_nursing_subsidy_refused_for_grade_3_physical_52hao_2_1_2() -> None:
    events = received(grade=3, category=4, living=False)
    assert _refusals(events) == {"nursing": "NursingSubsidyForSevereDisability"}
    refusal = folded(events).refusal
    assert refusal is not None and refusal.article == "国发〔2015〕52号 二(一)2", "nothing left: refused in writing"


@pytest.mark.parametrize("category", [5, 6])
def test_yinchuan_extends_nursing_to_grade_3_4_intellectual_or_mental_52hao_2_1_2(category: int) -> None:
    assert _refusals(received(grade=4, category=category, living=False, settings=YINCHUAN)) == {}
    assert _refusals(received(grade=4, category=category, living=False, settings=NINGXIA)) \
        == {"nursing": "NursingSubsidyForSevereDisability"}
    assert settings_for("640100") is YINCHUAN and settings_for("640181") is NINGXIA


def test_nursing_needs_a_care_need_of_six_months_52hao_2_1_2() -> None:
    assert _refusals(received(living=False, long_term_care_months=5)) == {"nursing": "LongTermCareNeed"}


@pytest.mark.parametrize("exclusion, rule", [("in_tekun_support", "NotInTekunSupport"),
                                             ("work_injury_nursing_allowance", "NoWorkInjuryNursingAllowance")])
def test_tekun_support_and_work_injury_nursing_exclude_both_52hao_2_4(exclusion: str, rule: str) -> None:
    events = received(**{exclusion: True})
    assert _refusals(events) == {"living": rule, "nursing": rule}
    assert folded(events).state is ApplicationState.REFUSED


def test_orphans_get_the_nursing_subsidy_only_52hao_2_4() -> None:
    assert _refusals(received(orphan_or_unsupported_child=True)) == {"living": "OrphansNursingOnly"}


def test_the_higher_of_two_similar_subsidies_is_taken_52hao_2_4() -> None:
    assert _refusals(received(similar_subsidy_fen=11_000, nursing=False)) == {"living": "HigherOfSimilarSubsidy"}
    assert _refusals(received(similar_subsidy_fen=5_000, nursing=False)) == {}


def test_an_expired_certificate_refuses_the_application() -> None:
    events = received(on=date(2026, 3, 10), valid_until=date(2026, 3, 9))
    application = folded(events)
    assert application.state is ApplicationState.REFUSED
    assert application.refusal is not None and application.refusal.rule == "CertificateValidOnApplication"


def test_an_application_asks_for_at_least_one_subsidy() -> None:
    with pytest.raises(RuleViolation) as refused:
        received(living=False, nursing=False)
    assert refused.value.rule == "AtLeastOneSubsidy"


def test_the_township_review_starts_with_its_working_day_limit_on_the_official_calendar() -> None:
    # 2026-04-03 (Friday): 清明 holiday 04-04..04-06; 10 working days after lands on 2026-04-20.
    started = [e for e in received(on=date(2026, 4, 3)) if isinstance(e, ev.StageStarted)]
    assert [(s.stage, s.due_on, s.limit_working_days) for s in started] == \
        [(Stage.TOWNSHIP_REVIEW.value, date(2026, 4, 20), 10)]


def test_the_certificate_number_must_carry_the_applicants_id_and_gives_category_and_grade() -> None:
    who, other = citizen(), citizen()
    parsed = DisabilityCertificateNumber.parse(f"{who}62", holder=who, today=date(2026, 3, 10))
    assert (int(parsed.category), int(parsed.grade)) == (6, 2)
    with pytest.raises(InvalidArgument):
        DisabilityCertificateNumber.parse(f"{other}62", holder=who, today=date(2026, 3, 10))


def test_a_bank_account_is_validated_stored_as_digits_and_shown_masked() -> None:
    assert bank_account("6222 0212 3456 7890 123") == "6222021234567890123"
    assert masked("6222021234567890123") == "6222***********0123"
    for bad in ("", "6222-0212-3456", "12345"):
        with pytest.raises(InvalidArgument):
            bank_account(bad)

