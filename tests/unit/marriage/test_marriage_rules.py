"""The marriage registration rules, one test each, citing the article (pure domain: no store)."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.errors import InvalidArgument
from services.common.identity.citizen_id import CitizenId
from services.marriage.domain.commands import PartyInput, RegisterMarriage
from services.marriage.domain.events import (
    MarriageApplicationReceived,
    MarriageRefused,
    MarriageRegistered,
    PartyClaimDenied,
    PartyClaimGranted,
    PartyClaimReleased,
)
from services.marriage.domain.marriage import Marriage, MarriageState, apply_for_registration, claim_id_for
from services.marriage.domain.values import MarriageDeclaration, Party, PartyRecord, Sex
from tests.unit.marriage.people import DECLARED, NINGXIA, YINCHUAN_OFFICE, man, woman

TODAY = date(2026, 5, 20)


def _record(citizen_id: str, declaration: MarriageDeclaration = DECLARED, claim: str = "c-a") -> PartyRecord:
    cid = CitizenId(citizen_id)
    return PartyRecord(cid.value, "某某", Sex(cid.sex), cid.birth_date, declaration, claim)


def _apply(a: PartyRecord, b: PartyRecord, on: date = TODAY) -> list[object]:
    return list(apply_for_registration(case_id="marriage-1", office_code=YINCHUAN_OFFICE, region=NINGXIA,
                                       application_date=on, party_a=a, party_b=b))


def _refused(a: PartyRecord, b: PartyRecord, on: date = TODAY) -> MarriageRefused:
    """The application is recorded, refused with the broken rule and its reasons (不予登记)."""
    received, refused = _apply(a, b, on)
    assert isinstance(received, MarriageApplicationReceived) and isinstance(refused, MarriageRefused)
    return refused


def test_minimum_marriage_age_man_22_reached_on_the_birthday_itself_民法典_1047() -> None:
    husband = _record(man(born=date(2004, 5, 20)))
    wife = _record(woman(born=date(2000, 1, 1)), claim="c-b")
    assert isinstance(_apply(husband, wife)[0], MarriageApplicationReceived), "22 on the registration day counts"
    refusal = _refused(husband, wife, on=date(2026, 5, 19))
    assert refusal.rule == "MinimumMarriageAge"
    assert "第1047条" in refusal.article and "男方" in refusal.reason
    assert refusal.citizen_id == husband.citizen_id, "the refusal names the party it concerns"


def test_minimum_marriage_age_woman_20_民法典_1047() -> None:
    husband = _record(man(born=date(1990, 1, 1)))
    assert _apply(husband, _record(woman(born=date(2006, 5, 20)), claim="c-b"))
    refusal = _refused(husband, _record(woman(born=date(2006, 5, 21)), claim="c-b"))
    assert refusal.rule == "MinimumMarriageAge" and "女方" in refusal.reason


def test_minimum_marriage_age_born_29_february_is_of_age_on_28_february_民法典_202_and_1047() -> None:
    husband = _record(man(born=date(2004, 2, 29)))
    assert _apply(husband, _record(woman(), claim="c-b"), on=date(2026, 2, 28))


def test_marriage_between_man_and_woman_民法典_1049() -> None:
    refusal = _refused(_record(man()), _record(man(), claim="c-b"))
    assert refusal.rule == "MarriageBetweenManAndWoman"


def test_the_same_person_cannot_be_both_parties() -> None:
    person = man()
    assert _refused(_record(person), _record(person, claim="c-b")).rule == "DistinctParties"


@pytest.mark.parametrize(("declaration", "rule", "article"), [
    (MarriageDeclaration(False, True, True, True), "FreeConsent", "第1046条"),
    (MarriageDeclaration(True, False, True, True), "NoSpouseDeclared", "第1042条"),
    (MarriageDeclaration(True, True, False, True), "NoProhibitedKinshipDeclared", "第1048条"),
    (MarriageDeclaration(True, True, True, False), "AppearInPerson", "第1049条"),
])
def test_each_partys_declaration_is_required_民法典_1042_1046_1048_1049(
        declaration: MarriageDeclaration, rule: str, article: str) -> None:
    refusal = _refused(_record(man()), _record(woman(), declaration, claim="c-b"))
    assert refusal.rule == rule
    assert article in refusal.article and "party_b" in refusal.reason


def test_refusals_never_echo_a_citizen_id_in_their_reasons() -> None:
    husband = man(born=date(2010, 1, 1))
    refusal = _refused(_record(husband), _record(woman(), claim="c-b"))
    assert husband not in refusal.reason, "the written refusal names the party by role"


def test_bad_citizen_ids_are_invalid_arguments_naming_every_field() -> None:
    valid = man()
    bad = valid[:-1] + ("1" if valid[-1] == "0" else "0")  # a wrong check character (GB 11643)
    command = RegisterMarriage(PartyInput(bad, "张三", DECLARED), PartyInput("", " ", None))
    with pytest.raises(InvalidArgument) as caught:
        command.parties(today=TODAY, claim_ids=("a", "b"))
    fields = {v.field for v in caught.value.violations}
    assert fields == {"party_a.citizen_id", "party_b.citizen_id", "party_b.name", "party_b.declaration"}


def test_a_future_birth_date_is_an_invalid_argument() -> None:
    unborn = man(born=date(2027, 1, 1))
    with pytest.raises(InvalidArgument) as caught:
        RegisterMarriage(PartyInput(unborn, "张三", DECLARED), PartyInput(woman(), "李四", DECLARED)).parties(
            today=TODAY, claim_ids=("a", "b"))
    assert [v.field for v in caught.value.violations] == ["party_a.citizen_id"]


# -- the registry's part: one live marriage per person (民法典 第1041条、第1042条) ----------------


def _waiting() -> Marriage:
    a = _record(man(), claim=claim_id_for("marriage-1", Party.A))
    b = _record(woman(), claim=claim_id_for("marriage-1", Party.B))
    marriage = Marriage()
    for event in _apply(a, b):
        marriage.apply(event)  # type: ignore[arg-type]
    return marriage


def test_registered_only_when_both_persons_are_granted() -> None:
    marriage = _waiting()
    a, b = marriage.parties
    [granted] = marriage.record_grant(a.claim_id, "d1")
    marriage.apply(granted)
    assert not marriage.ready_to_register
    assert marriage.record_grant(a.claim_id, "d1") == [], "a redelivered grant changes nothing"
    marriage.apply(marriage.record_grant(b.claim_id, "d2")[0])
    assert marriage.ready_to_register
    [registered] = marriage.register("J640104-MRO-01-2026-000001", TODAY)
    assert isinstance(registered, MarriageRegistered)


def test_no_existing_marriage_a_denial_refuses_naming_the_holder_and_releases_the_other_hold_民法典_1042() -> None:
    marriage = _waiting()
    a, b = marriage.parties
    marriage.apply(marriage.record_grant(b.claim_id, "d-b")[0])
    events = marriage.record_loss(a.claim_id, "d-a", outcome="denied", holder_case_id="marriage-510000-x",
                                  holder_region="510000", holder_service="marriage")
    denied, refused, released = events
    assert isinstance(denied, PartyClaimDenied)
    assert isinstance(refused, MarriageRefused)
    assert refused.rule == "NoExistingMarriage" and "第1042条" in refused.article
    assert "510000" in refused.reason and refused.holder_region == "510000"
    assert isinstance(released, PartyClaimReleased) and released.claim_id == b.claim_id
    for event in events:
        marriage.apply(event)
    assert marriage.state is MarriageState.REFUSED


def test_a_grant_that_arrives_after_the_refusal_is_given_back_at_once() -> None:
    marriage = _waiting()
    a, b = marriage.parties
    for event in marriage.record_loss(a.claim_id, "d-a", outcome="denied", holder_case_id="m-9",
                                      holder_region="510000", holder_service="marriage"):
        marriage.apply(event)
    granted, released = marriage.record_grant(b.claim_id, "d-b")
    assert isinstance(granted, PartyClaimGranted)
    assert isinstance(released, PartyClaimReleased) and released.claim_id == b.claim_id


def test_an_expired_hold_refuses_a_waiting_case_without_releasing_the_expired_claim() -> None:
    marriage = _waiting()
    a, _ = marriage.parties
    marriage.apply(marriage.record_grant(a.claim_id, "d-a")[0])
    events = marriage.record_loss(a.claim_id, "d-a-x", outcome="expired", holder_case_id="", holder_region="",
                                  holder_service="")
    assert [type(e) for e in events] == [PartyClaimDenied, MarriageRefused]
    assert "expired" in events[1].reason  # type: ignore[union-attr]
