"""The relief application over a real SQLite store: the 低保 procedure through the kit's unit of work,
its limits as deadlines fired by the scheduler on a fake clock (民发〔2021〕57号), overdue cases listed
per office, 临时救助 paid at once and listed until its proof is complete (国发〔2014〕47号), and
retries by request id answered without recording twice."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.clock import CHINA, FakeClock
from services.common.deadlines import DeadlineScheduler
from services.common.errors import InvalidArgument, NotAuthorised, RuleViolation
from services.common.events import TraceContext
from services.common.kit import Request
from services.common.registry import ClaimKind, RegistryDecision, claim_stream_id, decision_id, read_claim
from services.common.registry.adapters import decision_to_proto
from services.common.store import EventStore
from services.common.store.schema import events
from services.host import Infrastructure
from services.relief.application import handlers as h
from services.relief.application import queries
from services.relief.bootstrap import ReliefService, bootstrap
from services.relief.domain import commands as c
from services.relief.domain.dibao_names import claim_id_for
from services.relief.projections.read_models import ReliefReadModels, case_events, relief_cases
from tests.unit.relief.people import (
    ACCOUNT,
    BAOJI,
    LIZHOU,
    LIZHOU_TOWNSHIP,
    NINGXIA,
    SICHUAN,
    XINGQING,
    XINGQING_TOWNSHIP,
    citizen,
    clerk,
    member,
)
from tongban.relief.v1 import relief_service_pb2 as api

CLERK = clerk()


def china(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=CHINA).astimezone(UTC)


def _service(store_url: str, region: str, clock: FakeClock) -> Iterator[ReliefService]:
    """One region's relief service over a fresh store: SQLite, and PostgreSQL (tests/fixtures/stores.py)."""
    store = EventStore.open(store_url, region=region, service="relief", clock=clock)
    try:
        yield bootstrap(Infrastructure.over(store))
    finally:
        store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(china(2026, 3, 2, 9))  # a Monday


@pytest.fixture
def ningxia(store_url: str, clock: FakeClock) -> Iterator[ReliefService]:
    yield from _service(store_url, NINGXIA, clock)


def _fire(service: ReliefService) -> list[str]:
    return [d.kind for d in DeadlineScheduler(service.deps.store, service.deps.clock, service.deadline_handlers,
                                                name="relief-test")
            .fire_due()]


def _apply(service: ReliefService, **kwargs: object) -> str:
    household = [member("self", hukou=XINGQING, earned=20_000), member("child", born=date(2016, 6, 1))]
    applied = c.ApplyForDibao(household[0].citizen_id, household, "urban", ACCOUNT)
    return h.apply_for_dibao(service.deps, applied, CLERK, **kwargs)  # type: ignore[arg-type]


def registry_decides(service: ReliefService, case_id: str, outcome: str = "granted", *,
                     holder: tuple[str, str] = ("", "")) -> list[bool]:
    """The registry's decision on every member's DIBAO claim, delivered as the decisions topic does."""
    region, case = service.deps.region, queries.get_case(service.deps, case_id).case
    taken = []
    for person in sorted(case.members):
        claim = claim_id_for(case_id, person)
        decision = RegistryDecision(
            decision_id=decision_id(region, "relief", claim, outcome), claim_id=claim, citizen_id=person,
            kind=ClaimKind.DIBAO, case_id=case_id, region=region, service="relief", outcome=outcome,
            holder_case_id=holder[0], holder_region=holder[1], holder_service="relief" if holder[0] else "",
            decided_at=service.deps.clock.now(), correlation_id=case_id, trace=TraceContext())
        taken.append(service.on_decision_message(service.deps.store, decision_to_proto(decision).SerializeToString(),
                                                 None))
    return taken


def _state(service: ReliefService, case_id: str) -> str:
    return queries.get_case(service.deps, case_id).case.state


def test_the_procedure_runs_to_a_grant_paid_from_the_next_month(ningxia: ReliefService, clock: FakeClock) -> None:
    """57号: 受理 → 调查 (入户 ≥2人) → 乡镇审核 → 公示7天 (deadline ends it) → 县级确认."""
    deps = ningxia.deps
    case_id = _apply(ningxia)
    h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    assert registry_decides(ningxia, case_id) == [True, True]
    h.start_investigation(deps, c.CaseStep(case_id), CLERK)
    h.record_home_visit(deps, c.RecordHomeVisit(case_id, "李明", "张华", findings="住房简陋"), CLERK)
    h.record_democratic_review(deps, c.CaseStep(case_id, "评议通过"), CLERK)
    h.give_township_opinion(deps, c.GiveTownshipOpinion(case_id, True, "符合条件"), CLERK)
    h.start_public_notice(deps, c.CaseStep(case_id), CLERK)
    h.raise_objection(deps, c.CaseStep(case_id, "邻居反映其子有收入"), CLERK)
    clock.set(china(2026, 3, 9, 18))
    assert _fire(ningxia) == [] and _state(ningxia, case_id) == "in_notice", "the notice runs its 7 days"
    clock.set(china(2026, 3, 10, 0) + timedelta(minutes=1))
    assert _fire(ningxia) == ["relief.dibao.notice_ends"]
    assert _state(ningxia, case_id) == "awaiting_decision"
    with pytest.raises(RuleViolation, match="ObjectionsAnswered"):
        h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    h.answer_objection(deps, c.AnswerObjection(case_id, "objection-1", "其子在校读书, 无收入"), CLERK)
    h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    case = queries.get_case(deps, case_id).case
    assert (case.state, case.monthly_amount_fen, case.first_month) == ("granted", 62_000 * 2 - 20_000, "2026-04")
    with deps.store.transaction() as tx:
        claims = [[e.type.rsplit(".", 1)[-1] for e in tx.read_stream(claim_stream_id(claim_id_for(case_id, m)))]
                  for m in sorted(case.members)]
    assert claims == [["ClaimRequested", "RegistryDecisionRecorded", "ClaimConfirmed"]] * 2, \
        "every member's place is claimed, granted and confirmed"
    [row] = queries.office_queue(deps, office_code=XINGQING_TOWNSHIP, queue="dibao_granted")
    assert row.case_id == case_id and row.monthly_amount_fen == 104_000


def test_limits_overrun_are_listed_as_overdue_for_the_office(ningxia: ReliefService, clock: FakeClock) -> None:
    """57号: investigation within 3 working days of acceptance; decision within 30."""
    deps = ningxia.deps
    late, on_time = _apply(ningxia), _apply(ningxia)
    for case_id in (late, on_time):
        h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    assert {r.due_on for r in queries.office_queue(deps, office_code=XINGQING_TOWNSHIP, queue="dibao_in_procedure")} \
        == {date(2026, 3, 5)}, "an accepted case shows the last day to start the investigation"
    h.start_investigation(deps, c.CaseStep(on_time), CLERK)
    clock.set(china(2026, 3, 6, 1))  # Thu 5 March was the last day
    assert _fire(ningxia) == ["relief.dibao.investigation_due"]
    [overdue] = queries.office_queue(deps, office_code=XINGQING_TOWNSHIP, queue="overdue")
    assert (overdue.case_id, overdue.overdue) == (late, ("investigation",))
    assert queries.office_queue(deps, office_code="640104-MZ-02", queue="overdue") == [], "listed per office"
    h.start_investigation(deps, c.CaseStep(late), CLERK)
    assert queries.office_queue(deps, office_code=XINGQING_TOWNSHIP, queue="overdue") == []


def test_a_refusal_not_notified_in_three_working_days_is_overdue(ningxia: ReliefService, clock: FakeClock) -> None:
    deps = ningxia.deps
    case_id = _apply(ningxia)
    for step in (h.accept_dibao, h.start_investigation):
        step(deps, c.CaseStep(case_id), CLERK)
    h.record_home_visit(deps, c.RecordHomeVisit(case_id, "李明", "张华"), CLERK)
    h.give_township_opinion(deps, c.GiveTownshipOpinion(case_id, False, "有大额存款"), CLERK)
    h.start_public_notice(deps, c.CaseStep(case_id), CLERK)
    clock.set(china(2026, 3, 10, 9))
    _fire(ningxia)
    h.decide_dibao(deps, c.Decide(case_id, False, "家庭存款超过当地规定"), CLERK)
    clock.set(china(2026, 3, 16, 1))  # notify by Fri 13 March
    assert _fire(ningxia) == ["relief.dibao.refusal_notice_due"]
    assert queries.get_case(deps, case_id).case.overdue == ["refusal_notice"]
    h.notify_refusal(deps, c.CaseStep(case_id, "兴民低字〔2026〕3号"), CLERK)
    assert _state(ningxia, case_id) == "refusal_notified"


def test_where_a_household_may_apply(ningxia: ReliefService) -> None:
    """57号: 户籍所在地; 持居住证者在居住地. A permit holder from Shaanxi applies in Yinchuan."""
    deps = ningxia.deps
    stranger = member("self", hukou=BAOJI)
    with pytest.raises(RuleViolation, match="MayApplyHere"):
        h.apply_for_dibao(deps, c.ApplyForDibao(stranger.citizen_id, [stranger], "urban", ACCOUNT), CLERK)
    holder = member("self", hukou=BAOJI, permit=XINGQING)
    case_id = h.apply_for_dibao(deps, c.ApplyForDibao(holder.citizen_id, [holder], "urban", ACCOUNT), CLERK)
    assert queries.get_case(deps, case_id).case.route == "residence_permit"
    with pytest.raises(RuleViolation, match="StandardConfigured"):
        h.apply_for_dibao(deps, c.ApplyForDibao(holder.citizen_id, [holder], "rural", ACCOUNT), CLERK)
    with pytest.raises(NotAuthorised):
        h.apply_for_dibao(deps, c.ApplyForDibao(holder.citizen_id, [holder], "urban", ACCOUNT),
                          clerk(LIZHOU_TOWNSHIP, SICHUAN))
    with pytest.raises(InvalidArgument) as bad:
        h.apply_for_dibao(deps, c.ApplyForDibao(citizen(), [holder], "suburban", "12"), CLERK)
    assert {v.field for v in bad.value.violations} == {"applicant_citizen_id", "area", "bank_account"}


def test_a_retried_command_returns_its_first_answer_and_records_once(ningxia: ReliefService) -> None:
    """Invariant 9: same request id, same content → the same case, nothing recorded twice."""
    household = [member("self")]
    message = api.ApplyForDibaoRequest(applicant_citizen_id=household[0].citizen_id, area="urban", bank_account=ACCOUNT,
                                       request_id="r-1")
    applied = c.ApplyForDibao(household[0].citizen_id, household, "urban", ACCOUNT)
    first = h.apply_for_dibao(ningxia.deps, applied, CLERK, Request.of(message))
    again = h.apply_for_dibao(ningxia.deps, applied, CLERK, Request.of(message))
    assert first == again
    with ningxia.deps.store.engine.connect() as conn:
        assert conn.execute(relief_cases.select()).all().__len__() == 1


def test_the_read_models_rebuild_from_the_log(ningxia: ReliefService) -> None:
    deps = ningxia.deps
    case_id = _apply(ningxia)
    h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    with deps.store.engine.begin() as conn:
        live = [dict(r._mapping) for r in conn.execute(relief_cases.select())]
        conn.execute(relief_cases.delete())
    with deps.store.engine.begin() as conn:
        ReliefReadModels().rebuild(list(case_events(conn)), conn)
        assert [dict(r._mapping) for r in conn.execute(relief_cases.select())] == live


# -- 临时救助 -------------------------------------------------------------------------------------


@pytest.fixture
def sichuan(store_url: str, clock: FakeClock) -> Iterator[ReliefService]:
    yield from _service(store_url, SICHUAN, clock)


def test_a_travellers_emergency_is_helped_at_once_and_listed_until_documented(
        sichuan: ReliefService, clock: FakeClock) -> None:
    """47号: 急难发生地 grants; 先行救助 now; proof within 10 working days; once a year per cause."""
    deps, lizhou = sichuan.deps, clerk(LIZHOU_TOWNSHIP, SICHUAN)
    traveller = citizen(address=BAOJI)
    ask = c.ApplyForAssistance(traveller, "陈旅", LIZHOU, date(2026, 3, 2), "traffic_accident", "urgent",
                               hukou_region=BAOJI)
    case_id = h.apply_for_assistance(deps, ask, lizhou)
    h.pay_urgently(deps, c.PayUrgently(case_id, 80_000), lizhou)
    [waiting] = queries.office_queue(deps, office_code=LIZHOU_TOWNSHIP, queue="assistance_awaiting_proof")
    assert (waiting.case_id, waiting.due_on) == (case_id, date(2026, 3, 16))
    with pytest.raises(RuleViolation, match="OncePerYearPerCause"):
        h.apply_for_assistance(deps, ask, lizhou)
    clock.set(china(2026, 3, 17, 1))
    assert _fire(sichuan) == ["relief.assistance.proof_due"]
    assert queries.office_queue(deps, office_code=LIZHOU_TOWNSHIP, queue="overdue")[0].overdue == ("proof",)
    h.complete_proof(deps, c.CaseStep(case_id, "医院诊断证明, 交警事故认定书"), lizhou)
    h.decide_assistance(deps, c.Decide(case_id, True, amount_fen=80_000), lizhou)
    assert _state(sichuan, case_id) == "granted"
    assert queries.office_queue(deps, office_code=LIZHOU_TOWNSHIP, queue="overdue") == []
    assert [r.case_id for r in queries.household(deps, traveller, "核实救助记录", lizhou)] == [case_id]
    with pytest.raises(NotAuthorised, match="MayViewHousehold"):
        queries.household(deps, traveller, "好奇", clerk(LIZHOU_TOWNSHIP, SICHUAN, role="registrar"))
    with deps.store.engine.connect() as conn:
        reads = [row.type for row in conn.execute(
            events.select().where(events.c.stream_type == "relief.HouseholdRead"))]
    assert reads == ["tongban.relief.v1.HouseholdViewed"], "the read is recorded; the refused one is not"


def test_a_member_enjoying_dibao_elsewhere_is_a_recorded_refusal_and_the_places_are_released(
        ningxia: ReliefService, clock: FakeClock) -> None:
    """57号 一处享受: the registry denies a member (held in Sichuan); the county's grant becomes a
    refusal naming the holder, and the household's other claims are released."""
    deps = ningxia.deps
    case_id = _apply(ningxia)
    h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    for step in (h.start_investigation,):
        step(deps, c.CaseStep(case_id), CLERK)
    h.record_home_visit(deps, c.RecordHomeVisit(case_id, "李明", "张华"), CLERK)
    h.give_township_opinion(deps, c.GiveTownshipOpinion(case_id, True, ""), CLERK)
    h.start_public_notice(deps, c.CaseStep(case_id), CLERK)
    clock.set(china(2026, 3, 10, 9))
    _fire(ningxia)
    with pytest.raises(RuleViolation, match="RegistryAnswersFirst"):
        h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    registry_decides(ningxia, case_id, "denied", holder=("dibao-510000-0123456789abcdef", SICHUAN))
    h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    case = queries.get_case(deps, case_id).case
    assert case.state == "refused" and "dibao-510000-0123456789abcdef" in case.refusal
    with deps.store.transaction() as tx:
        assert all(read_claim(tx, claim_id_for(case_id, m)).released is not None  # type: ignore[union-attr]
                   for m in case.members)


def test_a_review_not_done_in_time_is_overdue_until_recorded_then_the_next_is_due(
        ningxia: ReliefService, clock: FakeClock) -> None:
    """57号 动态管理: a stable household (a pensioner and a child) is reviewed every 12 months."""
    deps = ningxia.deps
    case_id = _apply(ningxia)
    h.accept_dibao(deps, c.CaseStep(case_id), CLERK)
    registry_decides(ningxia, case_id)
    h.start_investigation(deps, c.CaseStep(case_id), CLERK)
    h.record_home_visit(deps, c.RecordHomeVisit(case_id, "李明", "张华"), CLERK)
    h.give_township_opinion(deps, c.GiveTownshipOpinion(case_id, True), CLERK)
    h.start_public_notice(deps, c.CaseStep(case_id), CLERK)
    clock.set(china(2026, 3, 10, 9))
    _fire(ningxia)
    h.decide_dibao(deps, c.Decide(case_id, True), CLERK)
    assert queries.get_case(deps, case_id).case.review_due_on == date(2027, 3, 10)
    clock.set(china(2027, 3, 11, 9))
    assert _fire(ningxia) == ["relief.dibao.review_due"]
    assert queries.office_queue(deps, office_code=XINGQING_TOWNSHIP, queue="overdue")[0].overdue == ("review",)
    h.record_review(deps, c.CaseStep(case_id, "收入无变化"), CLERK)
    case = queries.get_case(deps, case_id).case
    assert (case.overdue, case.review_due_on) == ([], date(2028, 3, 11))
    clock.set(china(2028, 3, 12, 9))
    assert _fire(ningxia) == ["relief.dibao.review_due"], "the next review is a deadline too"
