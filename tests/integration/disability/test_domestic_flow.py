"""The domestic flow through the kit's unit of work over a real SQLite store (国发〔2015〕52号 三):
window → township review → county 残联 → county approval, each stage's working-day limit a
deadline that marks the stage overdue when it runs out, the overdue list per office, refusals with
reasons, idempotent commands, and the read models in step with the log (rebuilt equal) — on
SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from services.common.calendars import parse_notice, record_notice
from services.common.clock import FakeClock
from services.common.deadlines import CANCELLED, FIRED, PENDING, DeadlineScheduler, deadlines
from services.common.errors import InvalidArgument, NotAuthorised, RuleViolation
from services.common.events import Actor
from services.common.kit import Provenance, Request
from services.common.registry.claims import claim_stream_id
from services.common.store import EventStore, sqlite_url
from services.disability import bootstrap
from services.disability.application import handlers, queries
from services.disability.domain.commands import (
    ApproveApplication,
    CompleteStage,
    ReceiveApplication,
    RefuseApplication,
    ResumeEntitlement,
    StopEntitlement,
)
from services.disability.domain.values import ApplicationState, Circumstances, Stage, Subsidy
from services.disability.projections import read_models
from services.host import Infrastructure
from tests.integration.disability.decisions import grant_everything
from tests.unit.disability.people import NO_EXCLUSIONS, citizen

WINDOW = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")
CDPF = Actor("clerk", "c-1", "640104-CDPF", "640000", "cdpf")
COUNTY = Actor("clerk", "m-1", "640104-MZJ", "640000", "approver")
MONDAY = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # 10:00 in China, Monday 2026-03-09


@pytest.fixture
def service(store_url: str) -> Iterator[bootstrap.DisabilityService]:
    """On both databases (tests/fixtures/stores.py: SQLite, and PostgreSQL where marked)."""
    store = EventStore.open(store_url, region="640000", service="disability", clock=FakeClock(MONDAY),
                            tables=bootstrap.definition().tables)
    try:
        yield bootstrap.bootstrap(Infrastructure.over(store))
    finally:
        store.close()


def _application(**changes: object) -> ReceiveApplication:
    who = citizen()
    fields: dict[str, object] = dict(
        citizen_id=who, name="马小红", hukou_region="640104", certificate_number=f"{who}41",
        certificate_valid_until=date(2030, 6, 30), household="dibao", circumstances=NO_EXCLUSIONS,
        bank_account="6222 0212 3456 7890 123", living=True, nursing=True)
    fields.update(changes)
    return ReceiveApplication(**fields)  # type: ignore[arg-type]


def _deadline_states(service: bootstrap.DisabilityService, case_id: str) -> dict[str, str]:
    with service.deps.store.engine.connect() as conn:
        return {r.deadline_id.removeprefix(case_id + "-"): r.state for r in conn.execute(
            select(deadlines).where(deadlines.c.case_stream_id == case_id))}


def test_an_application_goes_through_three_stages_and_is_paid_from_the_month_applied(
        service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    case_id = handlers.receive(deps, _application(), WINDOW)
    assert _deadline_states(service, case_id) == {"township_review": PENDING}
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.TOWNSHIP_REVIEW, "入户核查属实"), WINDOW)
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.CERTIFICATE_CHECK, "证件等级核实"), CDPF)
    assert queries.office_work(deps, office="640104", stage="approval")[0].case_id == case_id
    with pytest.raises(RuleViolation, match="RegistryAnswered"):
        handlers.approve(deps, ApproveApplication(case_id, "dibao"), COUNTY)
    grant_everything(service, case_id)
    handlers.approve(deps, ApproveApplication(case_id, "dibao"), COUNTY)

    app = queries.get_case(deps, case_id)
    assert app.state is ApplicationState.APPROVED
    assert {s: (e.start_month, e.amount_fen) for s, e in app.entitlements.items()} == {
        Subsidy.LIVING: ("2026-03", 11_000), Subsidy.NURSING: ("2026-03", 12_000)}, "Ningxia's standards, in fen"
    assert _deadline_states(service, case_id) == {
        "township_review": CANCELLED, "certificate_check": CANCELLED, "approval": CANCELLED}
    assert queries.office_work(deps, office="640104") == [], "nothing left to do"
    with deps.store.engine.connect() as conn:
        rows = read_models.entitlements_of_person(conn, app.applicant.citizen_id if app.applicant else "")
    assert [(r.subsidy, r.start_month, r.bank_account) for r in rows] == [
        ("living", "2026-03", "6222021234567890123"), ("nursing", "2026-03", "6222021234567890123")]
    assert queries.get_case(deps, case_id).version == deps.store.read_stream(case_id)[-1].version


def test_a_stage_past_its_working_day_limit_is_listed_overdue_for_its_office(
        service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    clock = deps.clock
    assert isinstance(clock, FakeClock)
    late = handlers.receive(deps, _application(), WINDOW)
    clock.advance(timedelta(days=4))  # Friday 03-13
    on_time = handlers.receive(deps, _application(), WINDOW)
    items = queries.office_work(deps, office=WINDOW.office_code, stage="township_review")
    assert [(i.case_id, i.due_on, i.overdue) for i in items] == [
        (late, date(2026, 3, 23), False), (on_time, date(2026, 3, 27), False)], "10 working days, weekends skipped"
    clock.advance(timedelta(days=10, hours=15))  # 01:00 on 03-24 in China: the 23rd is over
    fired = DeadlineScheduler(deps.store, clock, service.deadline_handlers, name="test").fire_due()
    assert {d.case_stream_id for d in fired} == {late}, "the other's limit has not run out"
    overdue = queries.office_work(deps, office="640104", overdue_only=True)
    assert [(i.case_id, i.stage) for i in overdue] == [(late, "township_review")]
    assert queries.get_case(deps, late).overdue and _deadline_states(service, late) == {"township_review": FIRED}
    handlers.complete_stage(deps, CompleteStage(late, Stage.TOWNSHIP_REVIEW, "补正后通过"), WINDOW)
    assert [i.case_id for i in queries.office_work(deps, office="640104", overdue_only=True)] == []


def test_refusal_at_a_stage_is_recorded_with_reasons_and_ends_the_work(service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    case_id = handlers.receive(deps, _application(), WINDOW)
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.TOWNSHIP_REVIEW, ""), WINDOW)
    with pytest.raises(RuleViolation, match="StageInTurn"):
        handlers.refuse(deps, RefuseApplication(case_id, "township_review", "重复"), WINDOW)
    handlers.refuse(deps, RefuseApplication(case_id, "certificate_check", "残疾等级复核不符"), CDPF)
    app = queries.get_case(deps, case_id)
    assert app.state is ApplicationState.REFUSED and app.refusal and app.refusal.reason == "残疾等级复核不符"
    assert _deadline_states(service, case_id)["certificate_check"] == CANCELLED
    assert queries.office_work(deps, office="640104") == []


def test_refusals_at_the_window_name_the_rule_and_bad_input_records_nothing(
        service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    excluded = Circumstances(True, False, False, 0, 12)
    case_id = handlers.receive(deps, _application(circumstances=excluded), WINDOW)
    app = queries.get_case(deps, case_id)
    assert app.state is ApplicationState.REFUSED and {r.rule for r in app.refused.values()} == {"NotInTekunSupport"}
    before = deps.store.head()
    other = citizen()
    with pytest.raises(InvalidArgument) as bad:
        handlers.receive(deps, _application(certificate_number=f"{other}41", bank_account="12-34"), WINDOW)
    assert {v.field for v in bad.value.violations} == {"certificate_number", "bank_account"}
    with pytest.raises(NotAuthorised):
        handlers.receive(deps, _application(), Actor("clerk", "x", "510802-DPO-01", "510000", "window"))
    assert deps.store.head() == before, "nothing recorded"


def test_a_retried_command_returns_the_first_answer_and_records_nothing(service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    command = _application()
    request = Request("req-1", "fingerprint-of-the-application")
    first = handlers.receive(deps, command, WINDOW, request)
    again = handlers.receive(deps, command, WINDOW, request)
    assert again == first and len(deps.store.read_stream(first)) == 2, "received + township stage started"


def test_the_read_models_rebuild_from_the_log_to_the_same_rows(service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    case_id = handlers.receive(deps, _application(), WINDOW)
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.TOWNSHIP_REVIEW, ""), WINDOW)
    handlers.receive(deps, _application(household="none", nursing=False), WINDOW)

    def snapshot() -> list[list[dict[str, object]]]:
        with deps.store.engine.connect() as conn:
            return [[dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key.columns))]
                    for t in read_models.DisabilityReadModels.tables]

    live = snapshot()
    with deps.store.transaction() as tx:
        for table in read_models.DisabilityReadModels.tables:
            tx.connection.execute(table.delete())
        read_models.DisabilityReadModels().rebuild(list(deps.store.iter_log()), tx.connection)
    assert snapshot() == live


def test_a_region_without_published_standards_decides_nothing_but_receives_for_others_52hao_2_2(tmp_path: Path) -> None:
    store = EventStore.open(sqlite_url(tmp_path / "shaanxi.db"), region="610000", service="disability",
                            clock=FakeClock(MONDAY), tables=bootstrap.definition().tables)
    try:
        deps = bootstrap.bootstrap(Infrastructure.over(store)).deps
        xian = Actor("clerk", "x", "610113-DPO-01", "610000", "window")
        who = citizen("610113")
        with pytest.raises(RuleViolation, match="StandardsConfigured"):
            handlers.receive(deps, _application(citizen_id=who, certificate_number=f"{who}41", hukou_region="610113"),
                             xian)
        assert store.read_log() == []
        ningxia_hukou = handlers.receive(deps, _application(), xian)
        assert queries.get_case(deps, ningxia_hukou).state is ApplicationState.FORWARDING, \
            "any window receives for another province's 户籍 region (跨省通办)"
    finally:
        store.close()


def test_a_holiday_notice_moves_an_open_stages_last_day_and_its_deadline_放假安排(
        service: bootstrap.DisabilityService) -> None:
    """A stage limit counted on a provisional year is recomputed when the year's notice is recorded,
    and enforced on the calendar in force (domain rules, "The calendar is published yearly")."""
    deps = service.deps
    clock = deps.clock
    assert isinstance(clock, FakeClock)
    clock.advance(datetime(2027, 6, 1, 2, 0, tzinfo=UTC) - clock.now())  # Tuesday 2027-06-01, provisional
    case_id = handlers.receive(deps, _application(), WINDOW)
    before = queries.get_case(deps, case_id).stage_due_on
    notice = parse_notice({"year": 2027, "notice_number": "国办发明电〔2026〕99号 (test)",
                           "holidays": ["2027-01-01", "2027-06-02", "2027-06-03", "2027-06-04"],
                           "make_up_working_days": []})
    record_notice(deps.store, "640000", notice, Provenance.of_command(WINDOW, "calendar", clock.now()))
    DeadlineScheduler(deps.store, clock, service.deadline_handlers, name="test").fire_due()
    app = queries.get_case(deps, case_id)
    expected = deps.calendar().add_working_days(date(2027, 6, 1), 10)
    assert before != expected and app.stage_due_on == expected
    states = _deadline_states(service, case_id)
    assert states["township_review"] == CANCELLED and list(states.values()).count(PENDING) == 1


def test_a_stop_gives_up_the_place_and_a_resumption_claims_it_again(service: bootstrap.DisabilityService) -> None:
    deps = service.deps
    case_id = handlers.receive(deps, _application(living=False), WINDOW)
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.TOWNSHIP_REVIEW, ""), WINDOW)
    handlers.complete_stage(deps, CompleteStage(case_id, Stage.CERTIFICATE_CHECK, ""), CDPF)
    grant_everything(service, case_id)
    handlers.approve(deps, ApproveApplication(case_id, "dibao"), COUNTY)
    handlers.stop(deps, StopEntitlement(case_id, "nursing", "own_request", date(2026, 3, 9), "本人申请"), COUNTY)
    first = [e.type.rsplit(".", 1)[-1] for e in deps.store.read_stream(claim_stream_id(f"{case_id}-nursing"))]
    assert first[0] == "ClaimRequested" and "ClaimConfirmed" in first and first[-1] == "ClaimReleased"
    handlers.resume(deps, ResumeEntitlement(case_id, "nursing", "本人撤回申请"), COUNTY)
    again = [e.type.rsplit(".", 1)[-1] for e in deps.store.read_stream(claim_stream_id(f"{case_id}-nursing-1"))]
    assert again == ["ClaimRequested"], "the place is claimed anew; the registry decides"
