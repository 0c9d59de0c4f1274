"""Divorce by agreement (民法典 第1076-1078条), reissue and status-query rules, one test each (pure
domain: no store). Periods are checked against the official 2026 calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from services.common.errors import NotAuthorised, RuleViolation
from services.common.identity.citizen_id import CitizenId
from services.common.working_days import NATIONAL, Calendar
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain.divorce import Divorce, DivorceState
from services.marriage.domain.events import (
    CoolingOffEnded,
    DivorceDeemedWithdrawn,
    DivorcePeriodEndRescheduled,
    MarriageApplicationReceived,
    MarriageDissolvedByDivorce,
    MarriageRegistered,
    PartyClaimGranted,
    PartyClaimReleased,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import divorce_periods
from services.marriage.domain.record_rules import ClerkOfThisRegion
from services.marriage.domain.reissue import StatusOnRecord, answer_status_query, decide_reissue
from services.marriage.domain.rules import check
from services.marriage.domain.values import Document, JudgmentKind, MaritalStatus, PartyRecord, Sex, Spouse
from tests.unit.marriage.people import AGREEMENT, DECLARED, GUANGYUAN_OFFICE, NINGXIA, YINCHUAN_OFFICE, man, woman

RECEIVED = date(2026, 9, 3)  # 30 days later is 3 October, inside National Day 2026 (1-7 October)


def _party(citizen_id: str, claim: str, name: str) -> PartyRecord:
    cid = CitizenId(citizen_id)
    return PartyRecord(cid.value, name, Sex(cid.sex), cid.birth_date, DECLARED, claim)


def _registered() -> Marriage:
    a, b = _party(man(), "m-a", "赵刚"), _party(woman(), "m-b", "陈丽")
    marriage = Marriage()
    for event in (MarriageApplicationReceived("m", YINCHUAN_OFFICE, NINGXIA, date(2020, 5, 20), a, b),
                  PartyClaimGranted("m-a", a.citizen_id, "d1"), PartyClaimGranted("m-b", b.citizen_id, "d2"),
                  MarriageRegistered("J1", date(2020, 5, 20), YINCHUAN_OFFICE)):
        marriage.apply(event)
    return marriage


def _spouses(marriage: Marriage) -> tuple[Spouse, Spouse]:
    return tuple(Spouse(p.citizen_id, p.name) for p in marriage.parties)  # type: ignore[return-value]


def _receive(marriage: Marriage, *, both_present: bool = True, agreement=AGREEMENT,  # type: ignore[no-untyped-def]
             spouses: tuple[Spouse, Spouse] | None = None) -> Divorce:
    a, b = spouses or _spouses(marriage)
    divorce = Divorce()
    for event in divorce_module.receive(case_id="d", marriage=marriage, spouse_a=a, spouse_b=b, agreement=agreement,
                                        both_present=both_present, office_code=YINCHUAN_OFFICE, region=NINGXIA,
                                        periods=divorce_periods(RECEIVED, NATIONAL)):
        divorce.apply(event)
    return divorce


def _rule(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(RuleViolation) as caught:
        call()
    return caught.value.rule


def test_cooling_off_ends_30_days_after_receipt_rolled_past_national_day_2026_民法典_1077_and_203() -> None:
    periods = divorce_periods(RECEIVED, NATIONAL)
    assert periods.cooling_off_last_day == date(2026, 10, 8), "3 October falls in the 1-7 October holiday"
    # The window is the 30 days after the (rolled) cooling-off: 7 November is a Saturday.
    assert periods.window_last_day == date(2026, 11, 9)
    assert not periods.provisional


def test_divorce_needs_a_subsisting_marriage_民法典_1076() -> None:
    marriage = _registered()
    marriage.apply(MarriageDissolvedByDivorce("d0", "L1", date(2024, 1, 1)))
    assert _rule(lambda: _receive(marriage)) == "MarriageSubsists"


def test_one_divorce_application_at_a_time() -> None:
    marriage = _registered()
    marriage.apply(marriage.open_divorce("d-open", YINCHUAN_OFFICE)[0])
    assert _rule(lambda: _receive(marriage)) == "OneDivorceApplicationAtATime"


def test_the_applicants_are_the_two_spouses_民法典_1076() -> None:
    marriage = _registered()
    a, _ = _spouses(marriage)
    assert _rule(lambda: _receive(marriage, spouses=(a, Spouse(woman(), "他人")))) == "ApplicantsAreTheSpouses"


def test_each_spouse_is_named_as_the_marriage_record_names_them_民法典_1076() -> None:
    """The office checks identity against the record: each citizen ID paired with the other
    spouse's name is refused, naming both fields and neither the IDs nor the names."""
    marriage = _registered()
    a, b = _spouses(marriage)
    swapped = (Spouse(a.citizen_id, b.name), Spouse(b.citizen_id, a.name))
    with pytest.raises(RuleViolation) as caught:
        _receive(marriage, spouses=swapped)
    assert caught.value.rule == "SpousesNamedAsOnRecord"
    assert "spouse_a.name, spouse_b.name differs" in caught.value.message
    assert a.citizen_id not in caught.value.message and a.name not in caught.value.message
    assert _receive(marriage, spouses=(Spouse(a.citizen_id, f" {a.name} "), b)), "surrounding spaces are no mismatch"


def test_both_spouses_apply_in_person_民法典_1076() -> None:
    assert _rule(lambda: _receive(_registered(), both_present=False)) == "BothSpousesInPerson"


def test_a_written_agreement_signed_by_both_民法典_1076() -> None:
    unsigned = replace(AGREEMENT, signed_by_both=False)
    assert _rule(lambda: _receive(_registered(), agreement=unsigned)) == "WrittenDivorceAgreement"


def test_either_spouse_may_withdraw_during_the_cooling_off_at_the_receiving_office_民法典_1077() -> None:
    divorce = _receive(_registered())
    spouse = divorce.spouses[1].citizen_id
    assert _rule(lambda: divorce.withdraw(citizen_id=spouse, office_code=GUANGYUAN_OFFICE, today=RECEIVED,
                                          reason="")) == "AtReceivingOffice"
    assert _rule(lambda: divorce.withdraw(citizen_id=man(), office_code=YINCHUAN_OFFICE, today=RECEIVED,
                                          reason="")) == "WithdrawingPartyIsSpouse"
    assert divorce.withdraw(citizen_id=spouse, office_code=YINCHUAN_OFFICE, today=RECEIVED, reason="不愿离婚")


def test_no_withdrawal_once_the_cooling_off_has_ended_民法典_1077() -> None:
    divorce = _receive(_registered())
    divorce.apply(divorce.end_cooling_off(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)[0])
    spouse = divorce.spouses[0].citizen_id
    assert _rule(lambda: divorce.withdraw(citizen_id=spouse, office_code=YINCHUAN_OFFICE, today=RECEIVED,
                                          reason="")) == "WithdrawalWithinCoolingOff"


def test_cooling_off_period_no_certificate_request_before_it_ends_民法典_1077() -> None:
    divorce = _receive(_registered())
    refusal_rule = _rule(lambda: divorce.request_certificate(office_code=YINCHUAN_OFFICE, both_present=True,
                                                              today=RECEIVED))
    assert refusal_rule == "CoolingOffPeriod"


def test_certificate_request_by_both_in_person_at_the_receiving_office_within_the_window_民法典_1078() -> None:
    divorce = _receive(_registered())
    [ended] = divorce.end_cooling_off(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)
    assert isinstance(ended, CoolingOffEnded) and ended.window_last_day == date(2026, 11, 9)
    divorce.apply(ended)
    assert _rule(lambda: divorce.request_certificate(office_code=GUANGYUAN_OFFICE, both_present=True,
                                                     today=RECEIVED)) == "AtReceivingOffice"
    assert _rule(lambda: divorce.request_certificate(office_code=YINCHUAN_OFFICE, both_present=False,
                                                     today=RECEIVED)) == "BothSpousesInPerson"
    assert _rule(lambda: divorce.register(office_code=YINCHUAN_OFFICE, certificate_number="L1",
                                          today=RECEIVED)) == "CertificateRequested"
    divorce.apply(divorce.request_certificate(office_code=YINCHUAN_OFFICE, both_present=True, today=RECEIVED)[0])
    assert divorce.state is DivorceState.CERTIFICATE_REQUESTED and divorce.pending_deadline_id == ""


def test_deemed_withdrawn_when_the_window_passes_民法典_1077() -> None:
    divorce = _receive(_registered())
    divorce.apply(divorce.end_cooling_off(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)[0])
    assert divorce.end_certificate_window(deadline_id="stale", calendar=NATIONAL) == []
    [deemed] = divorce.end_certificate_window(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)
    assert isinstance(deemed, DivorceDeemedWithdrawn)
    divorce.apply(deemed)
    assert _rule(lambda: divorce.request_certificate(office_code=YINCHUAN_OFFICE, both_present=True,
                                                     today=date(2026, 11, 10))) == "CertificateRequestWithinWindow"


def test_a_deemed_withdrawal_is_enforced_on_the_calendar_in_force_even_a_provisional_one_民法典_1077_2() -> None:
    """第1077条第2款: neither spouse came within the window, so the application is deemed withdrawn.
    The window ends in 2027, beyond the published calendar: the provisional year is the calendar in
    force when the deadline fires, and the withdrawal is not suspended (domain rules: "never left
    pending"). Afterwards a certificate request is refused."""
    marriage = _registered()
    a, b = _spouses(marriage)
    divorce = Divorce()
    for event in divorce_module.receive(case_id="d", marriage=marriage, spouse_a=a, spouse_b=b, agreement=AGREEMENT,
                                        both_present=True, office_code=YINCHUAN_OFFICE, region=NINGXIA,
                                        periods=divorce_periods(date(2026, 12, 15), NATIONAL)):
        divorce.apply(event)
    assert divorce.provisional_calendar, "the window ends in 2027, beyond the official calendar"
    divorce.apply(divorce.end_cooling_off(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)[0])
    assert divorce.window_last_day is not None
    [deemed] = divorce.end_certificate_window(deadline_id=divorce.pending_deadline_id, calendar=NATIONAL)
    assert deemed == DivorceDeemedWithdrawn(divorce.window_last_day)
    divorce.apply(deemed)
    assert divorce.state is DivorceState.DEEMED_WITHDRAWN
    assert _rule(lambda: divorce.request_certificate(office_code=YINCHUAN_OFFICE, both_present=True,
                                                     today=divorce.window_last_day + timedelta(days=40))) \
        == "CertificateRequestWithinWindow"


def test_a_period_end_the_calendar_moved_later_since_receipt_is_rescheduled_民法典_203() -> None:
    """A regional or newly published holiday on the last day, known only when the deadline fires,
    moves the end to the next working day instead of ending the cooling-off early."""
    divorce = _receive(_registered())
    assert divorce.cooling_off_last_day == date(2026, 10, 8)
    local = Calendar(extra_holidays=frozenset({date(2026, 10, 8), date(2026, 10, 9)}))
    [moved] = divorce.end_cooling_off(deadline_id=divorce.pending_deadline_id, calendar=local)
    assert isinstance(moved, DivorcePeriodEndRescheduled)
    assert (moved.last_day, moved.due_on) == (date(2026, 10, 10), date(2026, 10, 11)), "10 October is a 调休 workday"
    divorce.apply(moved)
    assert divorce.state is DivorceState.COOLING_OFF and divorce.pending_deadline_id == moved.deadline_id
    [ended] = divorce.end_cooling_off(deadline_id=moved.deadline_id, calendar=local)
    assert isinstance(ended, CoolingOffEnded) and ended.cooling_off_last_day == date(2026, 10, 10)


def test_registering_the_divorce_dissolves_the_marriage_and_releases_both_persons() -> None:
    marriage = _registered()
    events = marriage.dissolve_by_divorce("d", "L640104-MRO-01-2026-000001", date(2026, 10, 20))
    assert isinstance(events[0], MarriageDissolvedByDivorce)
    assert {e.claim_id for e in events if isinstance(e, PartyClaimReleased)} == {"m-a", "m-b"}


def test_a_court_judgment_voids_the_marriage_ends_an_open_divorce_and_releases_both_民法典_1051() -> None:
    marriage = _registered()
    marriage.apply(marriage.open_divorce("d-open", YINCHUAN_OFFICE)[0])
    events = marriage.record_judgment(judgment=JudgmentKind.VOID, court="银川市兴庆区人民法院",
                                      judgment_number="(2026)宁0104民初1号", judgment_date=date(2026, 6, 1),
                                      ground="重婚", recorded_on=date(2026, 6, 2))
    for event in events:
        marriage.apply(event)
    assert marriage.state.value == "void" and marriage.open_divorce_case_id == ""  # type: ignore[union-attr]
    assert marriage.released == {"m-a", "m-b"}
    assert _rule(lambda: marriage.record_judgment(judgment=JudgmentKind.ANNULLED, court="c", judgment_number="n",
                                                  judgment_date=date(2026, 6, 1), ground="",
                                                  recorded_on=date(2026, 6, 2))) == "MarriageSubsists"



def test_a_judgment_cannot_predate_the_registration_民法典_1051_1052() -> None:
    """Issue 11: a judgment dated before the marriage was registered (2020-05-20) is refused."""
    judged = _registered().record_judgment(judgment=JudgmentKind.VOID, court="c", judgment_number="n",
                                           judgment_date=date(2020, 5, 20), ground="", recorded_on=date(2026, 6, 2))
    assert judged, "on the day of registration: recorded"
    assert _rule(lambda: _registered().record_judgment(
        judgment=JudgmentKind.VOID, court="c", judgment_number="n", judgment_date=date(2020, 5, 19), ground="",
        recorded_on=date(2026, 6, 2))) == "JudgmentNotBeforeRegistration"
# -- reissue (补领) and status queries ----------------------------------------------------------


def test_reissue_gives_the_certificate_again_while_the_status_holds() -> None:
    marriage = _registered()
    decision = decide_reissue(marriage, applicant=marriage.parties[0].citizen_id, applicant_remarried=False)
    assert decision.issued is Document.REISSUED_MARRIAGE_CERTIFICATE and decision.status_change == ""


def test_reissue_gives_a_registration_record_certificate_when_the_status_changed_since() -> None:
    marriage = _registered()
    marriage.apply(MarriageDissolvedByDivorce("d", "L1", date(2025, 3, 1)))
    decision = decide_reissue(marriage, applicant=marriage.parties[1].citizen_id, applicant_remarried=False)
    assert decision.issued is Document.REGISTRATION_RECORD_CERTIFICATE
    assert "2025-03-01" in decision.status_change


def test_reissue_only_for_a_party_to_the_registration() -> None:
    marriage = _registered()
    assert _rule(lambda: decide_reissue(marriage, applicant=man(), applicant_remarried=False)) == "ApplicantIsParty"


def test_status_query_only_for_authorised_roles_and_recorded_with_the_answer_个人信息保护法_34() -> None:
    def ask(role: str) -> object:
        return answer_status_query(case_id="q", citizen_id="x", reason="审判需要", requesting_body="法院", role=role,
                                   authorised_roles={"court"}, on_record=StatusOnRecord(MaritalStatus.MARRIED, "m"),
                                   queried_on=RECEIVED, office_code=YINCHUAN_OFFICE, region=NINGXIA)

    assert _rule(lambda: ask("window")) == "AuthorisedStatusQuery"
    answer = ask("court")
    assert answer.status == "married" and answer.source_region == NINGXIA  # type: ignore[attr-defined]


def test_only_a_clerk_at_an_office_of_this_region_records_a_registration() -> None:
    with pytest.raises(RuleViolation):
        check(ClerkOfThisRegion("clerk", "510000", GUANGYUAN_OFFICE, NINGXIA))
    with pytest.raises(RuleViolation):
        check(ClerkOfThisRegion("system", NINGXIA, "", NINGXIA))
    check(ClerkOfThisRegion("clerk", NINGXIA, YINCHUAN_OFFICE, NINGXIA))


@pytest.mark.parametrize("office", ["510811-MRO-05", "NONSENSE", "640104", "999999-MRO-01", ""])
def test_an_office_of_another_region_or_a_made_up_one_records_nothing_婚姻登记条例_2(office: str) -> None:
    """A clerk of Ningxia whose office code names a county of Sichuan (510811), or no county at all,
    is refused: offices belong to one region, so certificate numbers (which carry the office code)
    are unique nationwide."""
    with pytest.raises(NotAuthorised) as refused:
        check(ClerkOfThisRegion("clerk", NINGXIA, office, NINGXIA))
    assert refused.value.rule == "ClerkOfThisRegion" and "is not an office of region 640000" in refused.value.message
    check(ClerkOfThisRegion("clerk", "640100", "640104-MRO-01", "640100"))  # a city region holds its counties
