"""Proof of a declared status the national record does not show (婚姻登记条例 第四条, 2025; 婚姻登记
工作规范 2025): a divorce certificate or court judgment, or for a widowed person the spouse's death
record, recorded as a document on the case. Without it the registration is refused, and the refusal
is recorded naming the rule."""

from __future__ import annotations

from datetime import date

import pytest

from services.common.clock import FakeClock
from services.common.deadlines import DeadlineScheduler
from services.common.errors import InvalidArgument
from services.common.store import EventStore
from services.host import Infrastructure
from services.marriage.application import handlers, queries
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.commands import (
    PartyInput,
    ReceiveDivorce,
    RegisterDivorce,
    RegisterMarriage,
    RequestDivorceCertificate,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.rules import ProofOfDeclaredStatus
from services.marriage.domain.values import ProofDocument, Spouse
from tests.unit.marriage.people import AGREEMENT, DECLARED, couple, man, woman
from tests.unit.marriage.test_application import CLERK, china, register_married

DIVORCE_CERTIFICATE = ProofDocument("divorce_certificate", "L510802-MRO-01-2019-000231", "广元市利州区民政局",
                                    date(2019, 5, 6))
DEATH_RECORD = ProofDocument("death_record", "宁卫死证 2025-0017", "银川市第一人民医院", date(2025, 2, 1))


@pytest.fixture
def service(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))


def apply(service: MarriageService, husband: str, wife: str, *, wife_declares: str = "",
          wife_proof: ProofDocument | None = None) -> Marriage:
    command = RegisterMarriage(PartyInput(husband, "张三", DECLARED),
                               PartyInput(wife, "李四", DECLARED, wife_declares, wife_proof))
    case = queries.get_case(service.deps, handlers.register_marriage(service.deps, command, CLERK)).case
    assert isinstance(case, Marriage)
    return case


@pytest.mark.parametrize(("declared", "on_record", "proof", "broken"), [
    ("", "divorced", "", False),  # not asked (an older window): nothing to compare
    ("unmarried", "unmarried_on_record", "", False),
    ("divorced", "divorced", "", False),
    ("divorced", "unmarried_on_record", "", True),  # divorced before the national database, or abroad
    ("divorced", "unmarried_on_record", "divorce_certificate", False),
    ("divorced", "unmarried_on_record", "court_judgment", False),
    ("widowed", "unmarried_on_record", "divorce_certificate", True),
    ("widowed", "divorced", "death_record", False),
    ("unmarried", "divorced", "", True),
    ("unmarried", "divorced", "court_judgment", False),  # the marriage was voided or annulled
    ("unmarried", "married", "", False),  # a live marriage is the registry's to refuse
])
def test_a_declared_status_the_record_does_not_show_needs_its_proof_婚姻登记工作规范_2025(
        declared: str, on_record: str, proof: str, broken: bool) -> None:
    assert ProofOfDeclaredStatus("party_b", declared, on_record, proof).is_broken() is broken


def test_a_divorce_the_record_does_not_show_is_registered_on_its_certificate_recorded_on_the_case_条例_4(
        service: MarriageService) -> None:
    people = couple()
    refused = apply(service, people.husband, people.wife, wife_declares="divorced")
    assert refused.state.value == "refused"
    assert refused.refusal is not None and refused.refusal.rule == "ProofOfDeclaredStatus"
    assert "court_judgment or divorce_certificate" in refused.refusal.reason

    received = apply(service, people.husband, people.wife, wife_declares="divorced", wife_proof=DIVORCE_CERTIFICATE)
    assert received.state.value == "awaiting_registry", "the registry is asked as for anyone else"
    _, wife = received.parties
    assert (wife.declared_status, wife.status_on_record, wife.proof) == (
        "divorced", "unmarried_on_record", DIVORCE_CERTIFICATE)


def test_a_person_divorced_on_record_who_declares_unmarried_is_refused_in_writing_婚姻登记工作规范_2025(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(service, people)
    divorce_id = handlers.receive_divorce(service.deps, ReceiveDivorce(
        marriage_id, Spouse(people.husband, "张三"), Spouse(people.wife, "李四"), AGREEMENT, True), CLERK)
    clock.set(china(2026, 4, 2, 9))
    scheduler.fire_due()
    handlers.request_divorce_certificate(service.deps, RequestDivorceCertificate(divorce_id, True), CLERK)
    handlers.register_divorce(service.deps, RegisterDivorce(divorce_id), CLERK)

    refused = apply(service, man(), people.wife, wife_declares="unmarried")
    assert refused.refusal is not None and refused.refusal.rule == "ProofOfDeclaredStatus"
    assert "shows divorced" in refused.refusal.reason
    agreed = apply(service, man(), people.wife, wife_declares="divorced")
    assert agreed.state.value == "awaiting_registry", "declared as the record shows: no proof needed"


def test_a_widowed_person_brings_the_death_record(service: MarriageService) -> None:
    received = apply(service, man(), woman(), wife_declares="widowed", wife_proof=DEATH_RECORD)
    assert received.state.value == "awaiting_registry" and received.parties[1].proof == DEATH_RECORD
    wrong = apply(service, man(), woman(), wife_declares="widowed", wife_proof=DIVORCE_CERTIFICATE)
    assert wrong.refusal is not None and "death_record" in wrong.refusal.reason


def test_a_malformed_status_or_proof_is_refused_unrecorded_naming_the_field(
        service: MarriageService, store: EventStore) -> None:
    head = store.head()
    bad_proof = ProofDocument("marriage_certificate", "", "某局", date(2999, 1, 1))
    with pytest.raises(InvalidArgument) as caught:
        apply(service, man(), woman(), wife_declares="separated", wife_proof=bad_proof)
    fields = {v.field for v in caught.value.violations}
    assert fields == {"party_b.declared_status", "party_b.proof.kind", "party_b.proof.number",
                      "party_b.proof.issued_on"}
    assert store.head() == head


def test_a_proof_issued_before_the_party_was_born_is_refused_unrecorded_issue_11(
        service: MarriageService, store: EventStore) -> None:
    """A divorce certificate dated before the party's birth (read from the citizen ID) is a slip."""
    born = date(1997, 8, 2)
    on_the_day = apply(service, man(), woman(born), wife_declares="divorced",
                       wife_proof=ProofDocument("divorce_certificate", "L1", "某局", born))
    assert on_the_day.parties[1].proof is not None
    head = store.head()
    with pytest.raises(InvalidArgument) as caught:
        apply(service, man(), woman(born), wife_declares="divorced",
              wife_proof=ProofDocument("divorce_certificate", "L2", "某局", date(1997, 8, 1)))
    assert [v.field for v in caught.value.violations] == ["party_b.proof.issued_on"]
    assert store.head() == head
