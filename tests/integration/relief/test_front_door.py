"""The relief service behind a real gRPC server on a loopback port, over a SQLite store: a window
carries a 低保 case from application to grant (民发〔2021〕57号) and a 临时救助 case through 先行救助
(国发〔2014〕47号) by gRPC and by `tongban window relief`; refusals come back with their status
(invariant 7), retries by request id get the first answer (invariant 9). Callers are identified by
signed tokens from the test identity providers (tests/fixtures/trust.py), as the marriage tests do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.common.clock import CHINA, FakeClock
from services.common.deadlines import DeadlineScheduler
from services.common.events import Actor
from services.common.grpc_context import create_server, error_details
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.relief.bootstrap import ReliefService, bootstrap
from tests.fixtures.trust import actor_metadata, authenticator, token_for
from tests.unit.relief.people import ACCOUNT, BAOJI, LIZHOU_TOWNSHIP, NINGXIA, SICHUAN, XINGQING, citizen, clerk
from tests.unit.relief.test_application import registry_decides
from tongban.relief.v1 import relief_service_pb2 as api
from tongban.relief.v1 import relief_service_pb2_grpc as api_grpc

ROOT = Path(__file__).resolve().parents[3]
CLERK = clerk()


@dataclass
class Window:
    service: ReliefService
    clock: FakeClock
    channel: grpc.Channel
    address: str

    def call(self, method: str, request: Any, actor: Actor = CLERK) -> Any:
        return getattr(api_grpc.ReliefServiceStub(self.channel), method)(
            request, metadata=actor_metadata(actor), timeout=30)

    def refusal(self, method: str, request: Any, actor: Actor = CLERK) -> Any:
        with pytest.raises(grpc.RpcError) as refused:
            self.call(method, request, actor)
        return error_details(refused.value)

    def fire_deadlines(self) -> list[str]:
        scheduler = DeadlineScheduler(self.service.deps.store, self.clock, self.service.deadline_handlers,
                                      name="relief-test")
        return [d.kind for d in scheduler.fire_due()]


@pytest.fixture
def window(tmp_path: Path) -> Iterator[Window]:
    clock = FakeClock(datetime(2026, 3, 2, 9, tzinfo=CHINA).astimezone(UTC))
    store = EventStore.open(sqlite_url(tmp_path / "relief.db"), region=NINGXIA, service="relief", clock=clock)
    service = bootstrap(Infrastructure.over(store))
    server, port = create_server("127.0.0.1:0", servicers=[service.servicer], authenticator=authenticator(NINGXIA))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Window(service, clock, channel, f"127.0.0.1:{port}")
    finally:
        server.stop(grace=None)
        store.close()


def _household() -> tuple[str, list[api.MemberInput]]:
    applicant, child = citizen(date(1958, 4, 1)), citizen(date(2014, 9, 1))
    return applicant, [
        api.MemberInput(citizen_id=applicant, name="王芳", relation="self", hukou_region=XINGQING,
                        earned_income_fen=20_000, disability_subsidy_fen=18_000),
        api.MemberInput(citizen_id=child, name="王小明", relation="grandchild", hukou_region=XINGQING)]


def test_a_household_is_granted_dibao_through_the_front_door(window: Window) -> None:
    """57号 procedure by gRPC: the subsidy of 180 yuan is not income; paid from the next month."""
    applicant, members = _household()
    applied = window.call("ApplyForDibao", api.ApplyForDibaoRequest(
        applicant_citizen_id=applicant, members=members, area="urban", bank_account=ACCOUNT, request_id="apply-1"))
    case_id = applied.case_id
    assert applied.state == "received"
    retried = window.call("ApplyForDibao", api.ApplyForDibaoRequest(
        applicant_citizen_id=applicant, members=members, area="urban", bank_account=ACCOUNT, request_id="apply-1"))
    assert retried.case_id == case_id, "a retry gets the first answer (invariant 9)"
    window.call("AcceptDibao", api.AcceptDibaoRequest(case_id=case_id))
    assert registry_decides(window.service, case_id) == [True, True]  # as the decisions topic delivers them
    for method, request in (
            ("StartInvestigation", api.StartInvestigationRequest(case_id=case_id)),
            ("RecordHomeVisit", api.RecordHomeVisitRequest(case_id=case_id, first_visitor="李明",
                                                           second_visitor="张华", findings="住房简陋")),
            ("GiveTownshipOpinion", api.GiveTownshipOpinionRequest(case_id=case_id, recommends=True)),
            ("StartPublicNotice", api.StartPublicNoticeRequest(case_id=case_id))):
        window.call(method, request)
    objection = window.call("RaiseObjection", api.RaiseObjectionRequest(case_id=case_id, objection="有车",
                                                                         request_id="object-1"))
    second = window.call("RaiseObjection", api.RaiseObjectionRequest(case_id=case_id, objection="有存款"))
    again = window.call("RaiseObjection", api.RaiseObjectionRequest(case_id=case_id, objection="有车",
                                                                     request_id="object-1"))
    assert (objection.objection_id, second.objection_id, again.objection_id) == \
        ("objection-1", "objection-2", "objection-1"), "a retry names the objection it recorded"
    window.call("AnswerObjection", api.AnswerObjectionRequest(case_id=case_id, objection_id="objection-2",
                                                              answer="存款低于规定"))
    window.call("AnswerObjection", api.AnswerObjectionRequest(case_id=case_id, objection_id=objection.objection_id,
                                                              answer="车辆已出售"))
    early = window.refusal("DecideDibao", api.DecideDibaoRequest(case_id=case_id, approve=True))
    assert (early.code, early.rule) == (grpc.StatusCode.FAILED_PRECONDITION, "StepInOrder")
    window.clock.advance(timedelta(days=8))
    assert window.fire_deadlines() == ["relief.dibao.notice_ends"]
    decided = window.call("DecideDibao", api.DecideDibaoRequest(case_id=case_id, approve=True))
    assert decided.state == "granted"
    case = window.call("GetCase", api.GetCaseRequest(case_id=case_id)).case
    assert case.summary.monthly_amount_fen == 62_000 * 2 - 20_000
    assert "MemberEnteredDibao" in {h.type.rsplit(".", 1)[-1] for h in case.history}
    [granted] = window.call("ListCases", api.ListCasesRequest(queue="dibao_granted")).cases
    assert granted.case_id == case_id
    household = window.call("GetHousehold", api.GetHouseholdRequest(citizen_id=members[1].citizen_id, reason="复核"))
    assert [c.case_id for c in household.cases] == [case_id]


def test_refusals_come_back_with_their_status_and_record_nothing(window: Window) -> None:
    applicant, members = _household()
    bad = window.refusal("ApplyForDibao", api.ApplyForDibaoRequest(applicant_citizen_id=applicant, members=members,
                                                                   area="suburban", bank_account=ACCOUNT))
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT and [v.field for v in bad.field_violations] == ["area"]
    other = window.refusal("ApplyForDibao", api.ApplyForDibaoRequest(
        applicant_citizen_id=applicant, members=members, area="urban", bank_account=ACCOUNT),
        clerk(LIZHOU_TOWNSHIP, SICHUAN))
    # Another region's clerk: its token is not one this front door trusts (architecture invariant 8).
    assert other.code == grpc.StatusCode.UNAUTHENTICATED
    missing = window.refusal("AcceptDibao", api.AcceptDibaoRequest(case_id="dibao-640000-none"))
    assert missing.code == grpc.StatusCode.NOT_FOUND
    assert window.call("ListCases", api.ListCasesRequest()).cases == []


def signed_in() -> dict[str, str]:
    """The window CLI's environment with the clerk's token (the test identity provider of 640000)."""
    return {**os.environ, "TONGBAN_TOKEN": token_for(CLERK)}


def test_the_window_cli_carries_an_emergency_through_its_steps(window: Window) -> None:
    """47号 by `tongban window relief`: a traveller from Shaanxi hurt in Yinchuan is paid at once."""
    def run(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "services.stack.cli", "window", "relief", *args, "--address", window.address,
             "--clerk", CLERK.clerk_id, "--region", NINGXIA, "--role", "relief"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=signed_in())
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    traveller = citizen(address=BAOJI)
    applied = run("assistance", "apply", traveller, "陈旅", "--place", XINGQING, "--on", "2026-03-02", "--cause",
                  "traffic_accident", "--hukou", BAOJI)
    case_id = applied.split()[0]
    assert case_id.startswith("assistance-640000-") and "RECEIVED" in applied
    assert "URGENT_PAID" in run("assistance", "pay", case_id, "--amount-fen", "80000")
    assert case_id in run("queue", "assistance_awaiting_proof")
    run("assistance", "proof", case_id, "医院诊断证明")
    assert "GRANTED" in run("assistance", "decide", case_id, "--amount-fen", "80000")
    assert "GRANTED" in run("case", case_id, "--history")


def test_the_window_cli_files_a_household_with_its_members(window: Window) -> None:
    """`tongban window relief dibao apply … --member …`: members as the clerk types them."""
    applicant, child = citizen(date(1958, 4, 1)), citizen(date(2014, 9, 1))
    done = subprocess.run(
        [sys.executable, "-m", "services.stack.cli", "window", "relief", "dibao", "apply", applicant,
         "--member", f"{applicant},王芳,self,{XINGQING},,20000,0,18000",
         "--member", f"{child},王小明,grandchild,{XINGQING}",
         "--bank-account", ACCOUNT, "--address", window.address, "--clerk", CLERK.clerk_id,
         "--region", NINGXIA, "--role", "relief"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, env=signed_in())
    assert done.returncode == 0, done.stdout + done.stderr
    case_id = done.stdout.split()[0]
    case = window.call("GetCase", api.GetCaseRequest(case_id=case_id)).case
    members = [json.loads(h.payload_json) for h in case.history if h.type.endswith("HouseholdMemberDeclared")]
    assert [(m["citizen_id"], m.get("disability_subsidy_fen")) for m in members] == \
        [(applicant, "18000"), (child, None)]
