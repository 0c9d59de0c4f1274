"""The domestic flow (township → county 残联 → county approval, refusal with reasons at any stage)
and the months an entitlement owes: from the month of application (国发〔2015〕52号 三), stopped
from the month after, back-paid after a wrong stop, the certificate's expiry and renewal."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from services.common.errors import RuleViolation
from services.common.working_days import NATIONAL
from services.disability.domain import events as ev
from services.disability.domain.application import Application, claim_id_for
from services.disability.domain.settings import NINGXIA, RegionalSettings
from services.disability.domain.values import ApplicationState, HouseholdStatus, Stage, StopReason, Subsidy
from tests.unit.disability.people import (
    COUNTY_CDPF,
    COUNTY_CIVIL_AFFAIRS,
    XINGQING_WINDOW,
    certificate,
    folded,
    received,
)


def _approved(*, applied: date = date(2026, 3, 10), approved: date = date(2026, 3, 25),
              valid_until: date = date(2030, 6, 30), household: HouseholdStatus = HouseholdStatus.DIBAO,
              **kw: Any) -> Application:
    app = folded(received(on=applied, valid_until=valid_until, **kw))
    for stage, office in ((Stage.TOWNSHIP_REVIEW, XINGQING_WINDOW), (Stage.CERTIFICATE_CHECK, COUNTY_CDPF)):
        app = app.applied(app.complete_stage(stage, office_code=office, on=applied, note="", settings=NINGXIA,
                                             calendar=NATIONAL))
    app = app.applied([e for s in app.still_asked
                       for e in app.record_grant(claim_id_for(app.case_id, s), f"decision-{s.value}")])
    return app.applied(app.approve(office_code=COUNTY_CIVIL_AFFAIRS, on=approved, household=household,
                                   household_source="declared", settings=NINGXIA))


def _months(app: Application, run: str) -> list[tuple[str, str, int, bool]]:
    return [(o.subsidy.value, o.month, o.amount_fen, o.back_pay) for o in app.owed_in_run(run)]


def test_three_stages_in_turn_then_entitlements_at_the_regions_standards_52hao_2_2() -> None:
    app = _approved()
    assert app.state is ApplicationState.APPROVED
    assert {s: (e.start_month, e.amount_fen) for s, e in app.entitlements.items()} == {
        Subsidy.LIVING: ("2026-03", 11_000), Subsidy.NURSING: ("2026-03", 12_000)}


def test_a_stage_out_of_turn_is_refused_52hao_3() -> None:
    app = folded(received())
    with pytest.raises(RuleViolation) as refused:
        app.complete_stage(Stage.CERTIFICATE_CHECK, office_code=COUNTY_CDPF, on=date(2026, 3, 11), note="",
                           settings=NINGXIA, calendar=NATIONAL)
    assert refused.value.rule == "StageInTurn"


def test_refusal_at_any_stage_needs_reasons_and_is_final_52hao_3() -> None:
    app = folded(received())
    with pytest.raises(RuleViolation):
        app.refuse(Stage.TOWNSHIP_REVIEW, office_code=XINGQING_WINDOW, on=date(2026, 3, 11), rule="", article="",
                   reason="  ")
    app = app.applied(app.refuse(Stage.TOWNSHIP_REVIEW, office_code=XINGQING_WINDOW, on=date(2026, 3, 11),
                                 rule="", article="", reason="入户核查: 申请人不在本地居住"))
    assert app.state is ApplicationState.REFUSED and app.refusal is not None
    assert app.refusal.reason == "入户核查: 申请人不在本地居住"


def test_approval_checks_the_confirmed_household_status_living_refused_nursing_granted_52hao_2_1() -> None:
    app = _approved(household=HouseholdStatus.NONE)
    assert set(app.entitlements) == {Subsidy.NURSING}
    assert app.refused[Subsidy.LIVING].stage == Stage.APPROVAL.value


def test_an_overdue_stage_is_recorded_once_and_a_late_firing_of_a_finished_stage_changes_nothing() -> None:
    app = folded(received())
    overdue = app.mark_overdue(app.stage_deadline_id)
    assert [type(e) for e in overdue] == [ev.StageWentOverdue]
    app = app.applied(overdue)
    assert app.overdue and app.mark_overdue(app.stage_deadline_id) == []
    assert app.mark_overdue("another-deadline") == []


def test_payment_from_the_month_of_application_months_before_approval_are_back_pay_52hao_3() -> None:
    app = _approved(applied=date(2026, 1, 20), approved=date(2026, 3, 5), living=False)
    assert _months(app, "2026-03") == [("nursing", "2026-01", 12_000, True), ("nursing", "2026-02", 12_000, True),
                                       ("nursing", "2026-03", 12_000, False)]
    # Approved after March's run: April's run still pays the back-pay (the run never pays a line twice).
    assert [m for _, m, _, _ in _months(app, "2026-04")] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert _months(app, "2026-05") == [("nursing", "2026-05", 12_000, False)]
    assert _months(app, "2026-02") == [], "nothing is paid before the decision"


@pytest.mark.parametrize("reason", list(StopReason))
def test_a_stop_takes_effect_the_month_after_the_event_52hao_3(reason: StopReason) -> None:
    app = _approved(living=False)
    app = app.applied(app.stop(Subsidy.NURSING, reason=reason, effective_on=date(2026, 6, 30),
                               found_on=date(2026, 7, 15), source="window", note="", settings=NINGXIA))
    assert [m for _, m, _, _ in _months(app, "2026-06")] == ["2026-06"]
    assert _months(app, "2026-07") == []


def test_a_region_may_stop_in_the_month_the_finding_was_made() -> None:
    strict = RegionalSettings(living_fen=11_000, nursing_fen=12_000, stop_in_month_found=True)
    app = _approved(living=False)
    stopped, released = app.stop(Subsidy.NURSING, reason=StopReason.DEATH, effective_on=date(2026, 5, 2),
                                 found_on=date(2026, 6, 10), source="public_security", note="", settings=strict)
    assert stopped.stop_month == "2026-06"
    assert isinstance(released, ev.SubsidyClaimReleased), "the place is given up: the person may be paid elsewhere"


def test_losing_dibao_stops_the_living_subsidy_only() -> None:
    app = _approved()
    app = app.applied(app.stop_all(reason=StopReason.LEFT_DIBAO, effective_on=date(2026, 6, 1),
                                   found_on=date(2026, 6, 1), source="relief", note="", settings=NINGXIA,
                                   only=Subsidy.LIVING))
    assert [s for s, _, _, _ in _months(app, "2026-07")] == ["nursing"]


def test_a_wrong_stop_is_back_paid_after_review_52hao_3() -> None:
    app = _approved(living=False)
    app = app.applied(app.stop(Subsidy.NURSING, reason=StopReason.DEATH, effective_on=date(2026, 5, 2),
                               found_on=date(2026, 5, 3), source="public_security", note="", settings=NINGXIA))
    with pytest.raises(RuleViolation):
        app.stop(Subsidy.NURSING, reason=StopReason.DEATH, effective_on=date(2026, 5, 2), found_on=date(2026, 5, 3),
                 source="again", note="", settings=NINGXIA)
    app = app.applied(app.resume(Subsidy.NURSING, reviewed_on=date(2026, 8, 4), reason="误报: 本人仍在世"))
    assert _months(app, "2026-08") == [("nursing", "2026-06", 12_000, True), ("nursing", "2026-07", 12_000, True),
                                       ("nursing", "2026-08", 12_000, False)]


def test_an_expired_certificate_stops_payment_the_month_after_with_a_warning_six_months_before() -> None:
    app = _approved(living=False, valid_until=date(2026, 12, 15))
    nursing = app.entitlements[Subsidy.NURSING]
    assert not nursing.expiry_warning_due("2026-05", 6) and nursing.expiry_warning_due("2026-06", 6)
    assert [m for _, m, _, _ in _months(app, "2026-12")] == ["2026-12"]
    assert _months(app, "2027-01") == []


def test_a_renewed_certificate_resumes_from_the_month_of_issue_with_up_to_three_months_back_pay() -> None:
    app = _approved(living=False, valid_until=date(2026, 12, 15))
    assert app.applicant is not None
    renewed = certificate(app.applicant.citizen_id, valid_until=date(2036, 6, 1))
    app = app.applied(app.renew_certificate(renewed, issued_on=date(2027, 6, 3), recorded_on=date(2027, 6, 5),
                                            settings=NINGXIA))
    lines = _months(app, "2027-06")
    assert [m for _, m, _, _ in lines] == ["2027-03", "2027-04", "2027-05", "2027-06"], \
        "January and February stay unpaid: back-pay is limited to three months"
    assert _months(app, "2027-07") == [("nursing", "2027-03", 12_000, True), ("nursing", "2027-04", 12_000, True),
                                       ("nursing", "2027-05", 12_000, True), ("nursing", "2027-06", 12_000, True),
                                       ("nursing", "2027-07", 12_000, False)]


def test_a_denied_claim_refuses_that_subsidy_naming_the_holder_one_place_only() -> None:
    app = folded(received())
    events = app.record_loss(claim_id_for(app.case_id, Subsidy.NURSING), "d-1", outcome="denied",
                             holder_case_id="disability-510000-abc", holder_region="510000",
                             holder_service="disability", on=date(2026, 3, 11))
    app = app.applied(events)
    refused = app.refused[Subsidy.NURSING]
    assert (refused.rule, app.state) == ("OnePlacePerSubsidy", ApplicationState.UNDER_REVIEW)
    assert "disability-510000-abc" in refused.reason and "510000" in refused.reason
    granted = app.applied(app.record_grant(claim_id_for(app.case_id, Subsidy.LIVING), "d-2"))
    assert granted.record_grant(claim_id_for(app.case_id, Subsidy.LIVING), "d-2") == [], "a decision seen before"
    last = granted.record_loss(claim_id_for(app.case_id, Subsidy.LIVING), "d-3", outcome="denied",
                               holder_case_id="x", holder_region="610000", holder_service="disability",
                               on=date(2026, 3, 11))
    assert last == [], "a granted claim is not lost by a late denial"


def test_the_last_subsidy_denied_refuses_the_application_and_a_late_grant_is_given_back() -> None:
    app = folded(received(living=False))
    nursing = claim_id_for(app.case_id, Subsidy.NURSING)
    app = app.applied(app.record_loss(nursing, "d-1", outcome="denied", holder_case_id="h", holder_region="510000",
                                      holder_service="disability", on=date(2026, 3, 11)))
    assert app.state is ApplicationState.REFUSED and app.refusal and app.refusal.rule == "OnePlacePerSubsidy"
    refused_both = folded(received())
    refused_both = refused_both.applied(refused_both.refuse(
        Stage.TOWNSHIP_REVIEW, office_code=XINGQING_WINDOW, on=date(2026, 3, 11), rule="", article="", reason="不符"))
    late = refused_both.record_grant(claim_id_for(refused_both.case_id, Subsidy.LIVING), "d-9")
    assert [type(e) for e in late] == [ev.SubsidyClaimGranted, ev.SubsidyClaimReleased]


def test_a_wrong_stop_resumed_claims_the_place_again_and_loses_it_if_held_elsewhere_meanwhile() -> None:
    app = _approved(living=False)
    app = app.applied(app.stop(Subsidy.NURSING, reason=StopReason.MOVED_OUT, effective_on=date(2026, 5, 2),
                               found_on=date(2026, 5, 3), source="public_security", note="", settings=NINGXIA))
    assert Subsidy.NURSING in app.claims_released, "moved out: the place is given up"
    app = app.applied(app.resume(Subsidy.NURSING, reviewed_on=date(2026, 6, 4), reason="误报: 户籍未迁出"))
    again = app.claim_id(Subsidy.NURSING)
    assert again == claim_id_for(app.case_id, Subsidy.NURSING, 1) != claim_id_for(app.case_id, Subsidy.NURSING)
    assert [type(e) for e in app.record_grant(again, "d-5")] == [ev.SubsidyClaimGranted]
    lost = app.record_loss(again, "d-6", outcome="denied", holder_case_id="disability-510000-x",
                           holder_region="510000", holder_service="disability", on=date(2026, 6, 5))
    stopped = [e for e in lost if isinstance(e, ev.EntitlementStopped)]
    assert [(s.reason, s.stop_month) for s in stopped] == [("held_elsewhere", "2026-07")]
