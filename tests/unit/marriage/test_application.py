"""The application layer over a real store (SQLite and PostgreSQL): handlers, the reaction to
registry decisions (hand-made here, fed through the same decision_reaction the host uses), the
divorce periods fired by the deadline scheduler on a fake clock, and the read models.

The registry itself runs in tests/integration/marriage/test_national.py."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.common.clock import CHINA, FakeClock
from services.common.deadlines import DeadlineScheduler
from services.common.errors import ConcurrencyConflict, NotFound, RuleViolation
from services.common.events import TraceContext
from services.common.kit import Provenance
from services.common.registry import ClaimKind, RegistryDecision, claim_stream_id, decision_id
from services.common.registry.adapters import decision_to_proto
from services.common.store import EventStore
from services.host import Infrastructure
from services.marriage.adapters.payloads import CODEC
from services.marriage.application import handlers, queries
from services.marriage.application.unit import DEFAULT_STATUS_QUERY_ROLES
from services.marriage.bootstrap import MarriageService, bootstrap
from services.marriage.domain.commands import (
    PartyInput,
    QueryMaritalStatus,
    ReceiveDivorce,
    RegisterDivorce,
    RegisterMarriage,
    ReissueCertificate,
    RequestDivorceCertificate,
    WithdrawDivorce,
)
from services.marriage.domain.marriage import Marriage, MarriageState, claim_id_for
from services.marriage.domain.values import Party, Spouse
from services.marriage.projections.read_models import MarriageReadModels, rebuild, snapshot
from tests.unit.marriage.people import (
    AGREEMENT,
    DECLARED,
    GUANGYUAN_OFFICE,
    SICHUAN,
    YINCHUAN_OFFICE,
    YINCHUAN_OFFICE_2,
    Couple,
    clerk,
    couple,
)

CLERK = clerk()


def china(year: int, month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


@pytest.fixture
def service(store: EventStore) -> MarriageService:
    return bootstrap(Infrastructure.over(store))


def register(service: MarriageService, people: Couple, actor=CLERK) -> str:  # type: ignore[no-untyped-def]
    command = RegisterMarriage(PartyInput(people.husband, "张三", DECLARED), PartyInput(people.wife, "李四", DECLARED))
    return handlers.register_marriage(service.deps, command, actor)


def decide(service: MarriageService, case_id: str, party: Party, citizen_id: str, outcome: str, *,
           holder: tuple[str, str] = ("", "")) -> bool:
    """A registry decision on one party's claim, delivered as the decisions topic delivers it."""
    claim = claim_id_for(case_id, party)
    region = service.deps.region
    decision = RegistryDecision(
        decision_id=decision_id(region, "marriage", claim, outcome), claim_id=claim, citizen_id=citizen_id,
        kind=ClaimKind.LIVE_MARRIAGE, case_id=case_id, region=region, service="marriage", outcome=outcome,
        holder_case_id=holder[0], holder_region=holder[1], holder_service="marriage" if holder[0] else "",
        decided_at=service.deps.clock.now(), correlation_id=case_id, trace=TraceContext(),
    )
    raw = decision_to_proto(decision).SerializeToString()
    return service.on_decision_message(service.deps.store, raw, None)


def register_married(service: MarriageService, people: Couple, actor=CLERK) -> str:  # type: ignore[no-untyped-def]
    case_id = register(service, people, actor)
    decide(service, case_id, Party.A, people.husband, "granted")
    decide(service, case_id, Party.B, people.wife, "granted")
    return case_id


def claim_event_types(store: EventStore, case_id: str, party: Party) -> list[str]:
    return [e.type.rsplit(".", 1)[-1] for e in store.read_stream(claim_stream_id(claim_id_for(case_id, party)))]


def state(service: MarriageService, case_id: str) -> str:
    return queries.get_case(service.deps, case_id).case.state.value  # type: ignore[union-attr]


def test_registered_when_both_are_granted_with_a_number_unique_per_office(
        service: MarriageService, store: EventStore) -> None:
    first, second = couple(), couple()
    case_id = register(service, first)
    assert state(service, case_id) == "awaiting_registry"
    assert claim_event_types(store, case_id, Party.A) == ["ClaimRequested"]
    decide(service, case_id, Party.A, first.husband, "granted")
    assert state(service, case_id) == "awaiting_registry", "one person held is not a marriage"
    assert decide(service, case_id, Party.B, first.wife, "granted")
    assert not decide(service, case_id, Party.B, first.wife, "granted"), "a redelivered decision has no effect"
    marriage = queries.get_case(service.deps, case_id).case
    assert marriage.state.value == "registered"  # type: ignore[union-attr]
    assert marriage.certificate_number == f"J{YINCHUAN_OFFICE}-2026-000001"  # type: ignore[union-attr]
    assert claim_event_types(store, case_id, Party.B) == ["ClaimRequested", "RegistryDecisionRecorded",
                                                          "ClaimConfirmed"]
    numbers = [queries.get_case(service.deps, register_married(service, people, actor)).case.certificate_number
               for people, actor in ((second, CLERK), (couple(), clerk(YINCHUAN_OFFICE_2)))]
    assert numbers == [f"J{YINCHUAN_OFFICE}-2026-000002", f"J{YINCHUAN_OFFICE_2}-2026-000001"]


def test_a_denial_refuses_naming_the_holder_and_releases_the_granted_partner(
        service: MarriageService, store: EventStore) -> None:
    people = couple()
    case_id = register(service, people)
    decide(service, case_id, Party.B, people.wife, "granted")
    decide(service, case_id, Party.A, people.husband, "denied", holder=("marriage-510000-abc", "510000"))
    marriage = queries.get_case(service.deps, case_id).case
    assert marriage.state.value == "refused"  # type: ignore[union-attr]
    assert marriage.refusal.rule == "NoExistingMarriage" and marriage.refusal.holder_region == "510000"  # type: ignore[union-attr]
    assert claim_event_types(store, case_id, Party.B)[-1] == "ClaimReleased", "the partner is free again"
    assert claim_event_types(store, case_id, Party.A)[-1] == "RegistryDecisionRecorded", "nothing to give back"


def test_a_refused_command_appends_nothing(service: MarriageService, store: EventStore) -> None:
    people = couple()
    head = store.head()
    with pytest.raises(NotFound):
        handlers.receive_divorce(service.deps, ReceiveDivorce("marriage-640000-nothing", Spouse(people.husband, "a"),
                                                              Spouse(people.wife, "b"), AGREEMENT, True), CLERK)
    with pytest.raises(RuleViolation):  # a clerk of another region records nothing here
        handlers.register_marriage(service.deps, RegisterMarriage(PartyInput(people.husband, "张三", DECLARED),
                                                                  PartyInput(people.wife, "李四", DECLARED)),
                                   clerk(office=GUANGYUAN_OFFICE, region=SICHUAN))
    assert store.head() == head


def test_a_registration_refused_at_the_window_is_a_recorded_case_with_its_reasons_民法典_1049(
        service: MarriageService, store: EventStore) -> None:
    """不予登记: the same person as both parties is refused, and the refusal is recorded — the
    office hands the applicants a written refusal, an auditor counts it — without asking the
    registry for anybody."""
    people = couple()
    same_person = PartyInput(people.husband, "张三", DECLARED)
    case_id = handlers.register_marriage(service.deps, RegisterMarriage(same_person, same_person), CLERK)
    found = queries.get_case(service.deps, case_id)
    marriage = found.case
    assert isinstance(marriage, Marriage) and marriage.state is MarriageState.REFUSED
    assert marriage.refusal is not None and marriage.refusal.rule == "DistinctParties"
    assert "第1049条" in marriage.refusal.article
    assert [e.type.rsplit(".", 1)[-1] for e in store.read_stream(case_id)] == [
        "MarriageApplicationReceived", "MarriageRefused"]
    assert not [e for e in store.read_log() if e.stream_type == "registry.Claim"], "nobody was claimed"
    refused = queries.list_office_cases(service.deps, office_code=YINCHUAN_OFFICE, state="refused")
    assert case_id in [row.case_id for row in refused.cases]


def _receive_divorce(service: MarriageService, marriage_id: str, people: Couple) -> str:
    command = ReceiveDivorce(marriage_id, Spouse(people.husband, "张三"), Spouse(people.wife, "李四"), AGREEMENT, True)
    return handlers.receive_divorce(service.deps, command, CLERK)


def test_cooling_off_and_certificate_window_fire_on_time_with_the_national_day_roll_民法典_1077(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 9, 3, 9))
    marriage_id = register_married(service, people)
    divorce_id = _receive_divorce(service, marriage_id, people)
    divorce = queries.get_case(service.deps, divorce_id).case
    assert divorce.cooling_off_last_day == date(2026, 10, 8)  # type: ignore[union-attr]

    clock.set(china(2026, 10, 8, 23, 59))  # 30 days passed on 3 October, but the holiday extends it
    assert scheduler.fire_due() == []
    assert state(service, divorce_id) == "cooling_off"
    clock.set(china(2026, 10, 9, 0, 0))
    assert len(scheduler.fire_due()) == 1
    divorce = queries.get_case(service.deps, divorce_id).case
    assert divorce.state.value == "awaiting_certificate_request"  # type: ignore[union-attr]
    assert divorce.window_last_day == date(2026, 11, 9)  # type: ignore[union-attr]
    page = queries.list_office_cases(service.deps, office_code=YINCHUAN_OFFICE, queue="awaiting_certificate_request")
    assert [(c.case_id, c.due_on) for c in page.cases] == [(divorce_id, date(2026, 11, 10))]

    clock.set(china(2026, 11, 9, 23, 59))  # 7 November is a Saturday: the window runs to Monday the 9th
    assert scheduler.fire_due() == []
    clock.set(china(2026, 11, 10, 0, 0))
    assert len(scheduler.fire_due()) == 1
    assert state(service, divorce_id) == "deemed_withdrawn"
    marriage = queries.get_case(service.deps, marriage_id).case
    assert marriage.state.value == "registered" and marriage.open_divorce_case_id == ""  # type: ignore[union-attr]
    assert _receive_divorce(service, marriage_id, people), "the couple may apply again"


def test_withdrawal_on_the_rolled_last_day_cancels_the_cooling_off_deadline_民法典_1077(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 9, 3, 9))
    marriage_id = register_married(service, people)
    divorce_id = _receive_divorce(service, marriage_id, people)
    clock.set(china(2026, 10, 8, 16))
    handlers.withdraw_divorce(service.deps, WithdrawDivorce(divorce_id, people.wife, "不愿离婚"), CLERK)
    assert state(service, divorce_id) == "withdrawn"
    clock.set(china(2026, 12, 1))
    assert scheduler.fire_due() == [], "the cancelled deadline never fires"
    assert state(service, marriage_id) == "registered"


def test_registering_the_divorce_releases_both_and_reissue_then_gives_a_record_certificate(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    people = couple()
    clock.set(china(2026, 3, 2, 9))
    marriage_id = register_married(service, people)
    divorce_id = _receive_divorce(service, marriage_id, people)
    with pytest.raises(RuleViolation, match="CoolingOffPeriod"):
        handlers.request_divorce_certificate(service.deps, RequestDivorceCertificate(divorce_id, True), CLERK)
    clock.set(china(2026, 4, 2, 9))  # cooling-off ended 1 April
    scheduler.fire_due()
    handlers.request_divorce_certificate(service.deps, RequestDivorceCertificate(divorce_id, True), CLERK)
    handlers.register_divorce(service.deps, RegisterDivorce(divorce_id), CLERK)
    divorce = queries.get_case(service.deps, divorce_id).case
    assert divorce.certificate_number == f"L{YINCHUAN_OFFICE}-2026-000002"  # type: ignore[union-attr]
    assert state(service, marriage_id) == "dissolved_by_divorce"
    for party in Party:
        assert claim_event_types(store, marriage_id, party)[-1] == "ClaimReleased"

    reissue_id = handlers.reissue_certificate(service.deps, ReissueCertificate(marriage_id, people.wife, "遗失"),
                                              clerk(YINCHUAN_OFFICE_2))
    issued = queries.get_case(service.deps, reissue_id).case.event  # type: ignore[union-attr]
    assert issued.issued_document == "registration_record_certificate"
    assert issued.certificate_number.startswith(f"JLZ{YINCHUAN_OFFICE_2}-2026-")
    again = handlers.reissue_certificate(service.deps, ReissueCertificate(divorce_id, people.husband, "损毁"), CLERK)
    assert queries.get_case(service.deps, again).case.event.issued_document == "reissued_divorce_certificate"  # type: ignore[union-attr]

    query_id = handlers.query_marital_status(
        service.deps, QueryMaritalStatus(people.husband, "审理案件需要", "银川市中级人民法院"), clerk(role="court"))
    answer = queries.get_case(service.deps, query_id)
    assert answer.case.event.status == "divorced"  # type: ignore[union-attr]
    assert answer.history[0].actor.role == "court", "who asked is recorded with the answer"
    assert "court" in DEFAULT_STATUS_QUERY_ROLES


def test_two_receipts_racing_for_one_marriage_one_conflicts(service: MarriageService, store: EventStore) -> None:
    """The marriage's version guards one open divorce: the second receipt, decided on the same
    version, is refused by the store instead of opening a second proceeding."""
    people = couple()
    marriage_id = register_married(service, people)
    provenance = Provenance(CLERK, "x", "y", store.clock.now(), TraceContext())
    with service.deps.units.begin(provenance) as uow:
        stale = uow.load(Marriage, marriage_id)
    _receive_divorce(service, marriage_id, people)
    decided = stale.open_divorce("divorce-2", YINCHUAN_OFFICE)
    with pytest.raises(ConcurrencyConflict), store.transaction() as tx:
        tx.append(marriage_id, Marriage.stream_type, stale.version, [CODEC.new_event(e, provenance) for e in decided])


def test_read_models_rebuilt_from_the_log_equal_the_live_ones(
        service: MarriageService, store: EventStore, clock: FakeClock) -> None:
    scheduler = DeadlineScheduler(store, clock, service.deadline_handlers, name="test")
    first, second, refused = couple(), couple(), couple()
    clock.set(china(2026, 9, 3, 9))
    marriage_id = register_married(service, first)
    register_married(service, second)
    refused_id = register(service, refused)
    decide(service, refused_id, Party.A, refused.husband, "denied", holder=("m-x", "610000"))
    divorce_id = _receive_divorce(service, marriage_id, first)
    clock.set(china(2026, 10, 9, 9))
    scheduler.fire_due()
    handlers.request_divorce_certificate(service.deps, RequestDivorceCertificate(divorce_id, True), CLERK)
    handlers.register_divorce(service.deps, RegisterDivorce(divorce_id), CLERK)
    handlers.query_marital_status(service.deps, QueryMaritalStatus(second.wife, "核查", "公安"),
                                  clerk(role="public_security"))
    live = snapshot(store)
    assert rebuild(store) == (len(live[0]), len(live[1]))
    assert snapshot(store) == live
    assert _audit_replay_differences(store) == [], "the audit tool's replay agrees with the live tables"
    statuses = {row["citizen_id"]: row["status"] for row in live[1]}
    assert statuses[first.husband] == "divorced" and statuses[second.wife] == "married"
    assert refused.husband not in statuses



def _audit_replay_differences(store: EventStore) -> list[object]:
    from services.common.audit.replay import compare_tables, iter_log, live_snapshot, scratch_engine
    from services.common.audit.replay import rebuild as replay

    projection = MarriageReadModels()
    with scratch_engine().connect() as scratch, live_snapshot(store) as live:
        replay(projection, iter_log(live), scratch)
        return list(compare_tables("marriage", projection, live, scratch).differences)
