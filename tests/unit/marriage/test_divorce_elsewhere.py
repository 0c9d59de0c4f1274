"""Divorce by agreement at an office outside the region recording the marriage (国务院令第804号, in
force 2025-05-10: divorce at any office in the country), as a hand-off between the two regions
(多地联办). Two real stores: the record region 640000 (SQLite and PostgreSQL) and the receiving
region 510000 (SQLite); each message is delivered as the exchange delivers it, through the hand-off
reaction the host runs (test_reissue_elsewhere.deliver). The broker carries them in
tests/integration/marriage/test_divorce_elsewhere_national.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.deadlines import DeadlineScheduler
from services.common.errors import RuleViolation
from services.common.handoff import get_handoff
from services.common.registry.adapters import NotAClaim, claim_message, decision_to_proto
from services.common.registry.domain import decide as decide_claim
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.application import handlers, queries
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.commands import (
    QueryMaritalStatus,
    ReceiveDivorce,
    RecordCourtJudgment,
    RegisterDivorce,
    RequestDivorceCertificate,
    WithdrawDivorce,
)
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import MaritalStatusQueried
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.values import JudgmentKind, Party, Spouse
from tests.fixtures.stores import COMPONENT_TABLES
from tests.unit.marriage.people import AGREEMENT, GUANGYUAN_OFFICE, SICHUAN, Couple, couple
from tests.unit.marriage.people import clerk as clerk_of
from tests.unit.marriage.test_application import CLERK, china, claim_event_types, register_married
from tests.unit.marriage.test_reissue_elsewhere import deliver

GUANGYUAN = clerk_of(GUANGYUAN_OFFICE, SICHUAN)


@pytest.fixture
def record(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))  # 640000: the region recording the marriage


@pytest.fixture
def receiving(tmp_path: Path, clock: FakeClock) -> Iterator[MarriageService]:
    other = EventStore.open(sqlite_url(tmp_path / "sichuan.db"), region=SICHUAN, service="marriage", clock=clock,
                            tables=COMPONENT_TABLES)
    try:
        yield bootstrap(Infrastructure.over(other))
    finally:
        other.close()


def exchange(record: MarriageService, receiving: MarriageService) -> None:
    """The request to the record region, its answer back."""
    deliver(receiving, record, 0)
    deliver(record, receiving, 0)


def divorce(service: MarriageService, case_id: str) -> Divorce:
    case = queries.get_case(service.deps, case_id).case
    assert isinstance(case, Divorce)
    return case


def marriage(service: MarriageService, case_id: str) -> Marriage:
    case = queries.get_case(service.deps, case_id).case
    assert isinstance(case, Marriage)
    return case


def receive_at_guangyuan(receiving: MarriageService, marriage_id: str, people: Couple,
                         names: tuple[str, str] = ("张三", "李四")) -> str:
    command = ReceiveDivorce(marriage_id, Spouse(people.husband, names[0]), Spouse(people.wife, names[1]), AGREEMENT,
                             True)
    return handlers.receive_divorce(receiving.deps, command, GUANGYUAN)


def test_a_divorce_received_in_another_region_is_dissolved_by_the_record_region_and_registered_there_国务院令804(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(receiving.deps.store, clock, receiving.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(record, people)
    divorce_id = receive_at_guangyuan(receiving, marriage_id, people)
    assert divorce_id.startswith("divorce-510000-")
    received = divorce(receiving, divorce_id)
    assert (received.state.value, received.record_region, received.record_step.value) == (  # type: ignore[union-attr]
        "cooling_off", "640000", "awaiting_record_check")
    with pytest.raises(RuleViolation, match="CoolingOffPeriod"):
        handlers.request_divorce_certificate(receiving.deps, RequestDivorceCertificate(divorce_id, True), GUANGYUAN)

    exchange(record, receiving)
    assert divorce(receiving, divorce_id).record_step.value == "record_confirmed"  # type: ignore[union-attr]
    assert marriage(record, marriage_id).open_divorce_case_id == divorce_id, "one divorce at a time, nationwide"

    clock.set(china(2026, 4, 2, 9))  # the cooling-off ended on 1 April, counted at the receiving office
    assert len(scheduler.fire_due()) == 1
    handlers.request_divorce_certificate(receiving.deps, RequestDivorceCertificate(divorce_id, True), GUANGYUAN)
    handlers.register_divorce(receiving.deps, RegisterDivorce(divorce_id), GUANGYUAN)
    asked = divorce(receiving, divorce_id)
    assert asked.state.value == "awaiting_dissolution"  # type: ignore[union-attr]
    waiting = queries.list_office_cases(receiving.deps, office_code=GUANGYUAN_OFFICE, queue="awaiting_dissolution")
    assert [c.case_id for c in waiting.cases] == [divorce_id]
    assert marriage(record, marriage_id).state.value == "registered", "dissolved only by the record region"

    exchange(record, receiving)
    registered = divorce(receiving, divorce_id)
    assert registered.state.value == "registered"  # type: ignore[union-attr]
    assert registered.certificate_number == f"L{GUANGYUAN_OFFICE}-2026-000001", "the receiving office's number"
    assert registered.registered_on == date(2026, 4, 2)
    dissolved = marriage(record, marriage_id)
    assert dissolved.state.value == "dissolved_by_divorce"  # type: ignore[union-attr]
    assert dissolved.dissolution is not None
    assert dissolved.dissolution.divorce_certificate_number == registered.certificate_number
    for party in Party:  # both persons given back to the national registry by the record region
        assert claim_event_types(record.deps.store, marriage_id, party)[-1] == "ClaimReleased"

    exchange(record, receiving)  # everything redelivered: nothing changes
    assert divorce(receiving, divorce_id).version == registered.version
    assert marriage(record, marriage_id).version == dissolved.version


def test_names_that_differ_from_the_record_end_the_divorce_refused_naming_the_rule_民法典_1076(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(receiving.deps.store, clock, receiving.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(record, people)
    divorce_id = receive_at_guangyuan(receiving, marriage_id, people, names=("李四", "张三"))  # swapped

    exchange(record, receiving)
    refused = divorce(receiving, divorce_id)
    assert refused.state.value == "refused"  # type: ignore[union-attr]
    assert "SpousesNamedAsOnRecord" in refused.closing_reason and "spouse_a.name" in refused.closing_reason
    assert people.husband not in refused.closing_reason, "a refusal names the field, not the person"
    assert marriage(record, marriage_id).open_divorce_case_id == "", "nothing opened on the record"
    clock.set(china(2026, 6, 1))
    assert scheduler.fire_due() == [], "a refused application has no periods left to run"


def test_an_unknown_marriage_is_refused_by_the_region_its_id_names(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    divorce_id = receive_at_guangyuan(receiving, "marriage-640000-0000000000000000", couple())
    exchange(record, receiving)
    refused = divorce(receiving, divorce_id)
    assert refused.state.value == "refused" and "marriage-640000-0000000000000000" in refused.closing_reason  # type: ignore[union-attr]


def test_withdrawal_at_the_receiving_office_closes_the_proceeding_at_the_record_region_民法典_1077(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(record, people)
    divorce_id = receive_at_guangyuan(receiving, marriage_id, people)
    exchange(record, receiving)
    clock.set(china(2026, 3, 10, 9))
    handlers.withdraw_divorce(receiving.deps, WithdrawDivorce(divorce_id, people.wife, "不愿离婚"), GUANGYUAN)
    assert divorce(receiving, divorce_id).state.value == "withdrawn"  # type: ignore[union-attr]
    closing = get_handoff(receiving.deps.store, f"{divorce_id}.close")
    assert closing.to_region == "640000"

    exchange(record, receiving)
    assert marriage(record, marriage_id).open_divorce_case_id == ""
    assert handlers.receive_divorce(record.deps, ReceiveDivorce(
        marriage_id, Spouse(people.husband, "张三"), Spouse(people.wife, "李四"), AGREEMENT, True), CLERK), \
        "the couple may apply again, at any office"


def test_a_second_divorce_of_the_same_marriage_is_refused_while_one_is_open_elsewhere_民法典_1077(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(record, people)
    first = receive_at_guangyuan(receiving, marriage_id, people)
    exchange(record, receiving)
    with pytest.raises(RuleViolation, match="OneDivorceApplicationAtATime"):
        handlers.receive_divorce(record.deps, ReceiveDivorce(
            marriage_id, Spouse(people.husband, "张三"), Spouse(people.wife, "李四"), AGREEMENT, True), CLERK)
    second = receive_at_guangyuan(receiving, marriage_id, people)
    exchange(record, receiving)
    assert divorce(receiving, first).record_step.value == "record_confirmed"  # type: ignore[union-attr]
    assert "OneDivorceApplicationAtATime" in divorce(receiving, second).closing_reason


def registry_decides(record: MarriageService, viewers: list[MarriageService], people: dict[str, object]) -> None:
    """The registry worker's part without the broker: every claim event of the record region
    decided by the registry's own rules, each decision delivered to the viewers as the decisions
    topic delivers it (their inboxes drop what they saw before)."""
    for event in record.deps.store.read_log(0):
        try:
            claim = claim_message(event, at=event.recorded_at, trace=event.trace)
        except NotAClaim:
            continue
        result = decide_claim(people.get(claim.citizen_id), claim, claim_ttl=timedelta(days=1))  # type: ignore[arg-type]
        people[claim.citizen_id] = result.record
        for decision in result.decisions:
            for viewer in viewers:
                viewer.on_decision_message(viewer.deps.store, decision_to_proto(decision).SerializeToString(), None)


def status_at(service: MarriageService, citizen_id: str) -> MaritalStatusQueried:
    query = QueryMaritalStatus(citizen_id, "婚姻登记审查", "广元市民政局")
    case_id = handlers.query_marital_status(service.deps, query, GUANGYUAN)
    answer = queries.get_case(service.deps, case_id).case.event  # type: ignore[union-attr]
    assert isinstance(answer, MaritalStatusQueried)
    return answer


def test_status_in_another_region_turns_from_married_to_divorced_with_region_and_date_never_unmarried(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    """条例 第4条 (2025): the national marriage database answers a status query anywhere; the release
    carries why the marriage ended and when (issue 12, item 4)."""
    scheduler = DeadlineScheduler(receiving.deps.store, clock, receiving.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people, registry = couple(), {}  # type: ignore[var-annotated]
    marriage_id = register_married(record, people)
    registry_decides(record, [receiving], registry)
    married = status_at(receiving, people.wife)
    assert (married.status, married.source_region, married.marriage_case_id) == ("married", "640000", marriage_id)

    divorce_id = receive_at_guangyuan(receiving, marriage_id, people)
    exchange(record, receiving)
    clock.set(china(2026, 4, 2, 9))
    scheduler.fire_due()
    handlers.request_divorce_certificate(receiving.deps, RequestDivorceCertificate(divorce_id, True), GUANGYUAN)
    handlers.register_divorce(receiving.deps, RegisterDivorce(divorce_id), GUANGYUAN)
    exchange(record, receiving)
    assert status_at(receiving, people.wife).status == "married", "until the release reaches this region"

    registry_decides(record, [receiving], registry)
    divorced = status_at(receiving, people.wife)
    assert (divorced.status, divorced.source_region, divorced.since) == ("divorced", "640000", date(2026, 4, 2))
    assert divorced.marriage_case_id == marriage_id


def test_no_certificate_request_before_the_record_region_confirmed_the_record_民法典_1076(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(receiving.deps.store, clock, receiving.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    divorce_id = receive_at_guangyuan(receiving, register_married(record, people), people)
    clock.set(china(2026, 4, 2, 9))  # the record region has not answered (it is down, say)
    scheduler.fire_due()
    with pytest.raises(RuleViolation, match="RecordRegionConfirmed"):
        handlers.request_divorce_certificate(receiving.deps, RequestDivorceCertificate(divorce_id, True), GUANGYUAN)
    exchange(record, receiving)
    handlers.request_divorce_certificate(receiving.deps, RequestDivorceCertificate(divorce_id, True), GUANGYUAN)
    assert divorce(receiving, divorce_id).state.value == "certificate_requested"


def test_a_judgment_recorded_by_the_record_region_ends_the_divorce_at_the_receiving_office_民法典_1051(
        record: MarriageService, receiving: MarriageService, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(receiving.deps.store, clock, receiving.deadline_handlers, name="test")
    clock.set(china(2026, 3, 2, 9))
    people = couple()
    marriage_id = register_married(record, people)
    divorce_id = receive_at_guangyuan(receiving, marriage_id, people)
    exchange(record, receiving)
    clock.set(china(2026, 3, 6, 9))
    judgment = RecordCourtJudgment(marriage_id, JudgmentKind.VOID, "银川市兴庆区人民法院", "(2026)宁0104民初123号",
                                   date(2026, 3, 5), "重婚")
    handlers.record_court_judgment(record.deps, judgment, CLERK)

    exchange(record, receiving)
    ended = divorce(receiving, divorce_id)
    assert ended.state.value == "terminated"  # type: ignore[union-attr]
    assert "void" in ended.closing_reason and ended.judgment_number == "(2026)宁0104民初123号"
    clock.set(china(2026, 6, 1))
    assert scheduler.fire_due() == [], "its periods no longer run"
    assert not [e for e in receiving.deps.store.read_log() if e.stream_id == f"handoff-{divorce_id}.close"], \
        "the record region closed the proceeding itself: nothing to send back"
