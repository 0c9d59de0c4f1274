"""What relief's 低保 record does to a living-subsidy application under review (国发〔2015〕52号 二(一):
the living subsidy is for disabled persons in 低保 households): entering 低保 verifies the declared
status, leaving it takes the verification back; a decided application, or one not asking for the
living subsidy, is left alone."""

from __future__ import annotations

from services.disability.domain import events as ev
from services.disability.domain.matching import household_left_dibao, verify_household_on_enrolment
from services.disability.domain.values import HouseholdStatus
from tests.unit.disability.people import folded, received
from tests.unit.disability.test_flow_and_months import _approved


def test_entering_dibao_verifies_a_waiting_living_subsidy_application_52hao_2_1() -> None:
    app = folded(received())
    assert app.household_source == "declared"
    verified = app.applied(verify_household_on_enrolment(app))
    assert (verified.household, verified.household_source) == (HouseholdStatus.DIBAO, "relief")
    assert verify_household_on_enrolment(verified) == []  # verified once, however often it is said


def test_entering_dibao_leaves_decided_applications_and_nursing_only_ones_alone_52hao_2_1() -> None:
    assert verify_household_on_enrolment(_approved()) == []
    assert verify_household_on_enrolment(folded(received(living=False))) == []


def test_leaving_dibao_takes_back_only_relief_s_verification_52hao_2_1() -> None:
    declared = folded(received())
    assert household_left_dibao(declared) == []  # nothing relief said: the county checks at approval
    verified = declared.applied(verify_household_on_enrolment(declared))
    assert household_left_dibao(verified) == [ev.HouseholdStatusConfirmed("none", "relief")]
