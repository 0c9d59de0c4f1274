"""The disability service behind a real gRPC server on loopback, over a SQLite store: a window
carries an application through every stage with request ids (国发〔2015〕52号 三), refusals come
back with their status and rule, and the overdue list is the office's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import ErrorDetails, create_server, error_details
from services.common.store import EventStore, sqlite_url
from services.disability import bootstrap
from services.host import Infrastructure
from tests.fixtures.trust import actor_metadata, authenticator
from tests.integration.disability.decisions import grant_everything
from tests.unit.disability.people import citizen
from tongban.disability.v1 import disability_service_pb2 as api
from tongban.disability.v1 import disability_service_pb2_grpc as api_grpc

WINDOW = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")
CDPF = Actor("clerk", "c-1", "640104-CDPF", "640000", "cdpf")
COUNTY = Actor("clerk", "m-1", "640104-MZJ", "640000", "approver")


class Door:
    def __init__(self, channel: grpc.Channel, service: bootstrap.DisabilityService) -> None:
        self.stub = api_grpc.DisabilityServiceStub(channel)
        self.service = service

    def call(self, method: str, request: Any, actor: Actor = WINDOW) -> Any:
        return getattr(self.stub, method)(request, metadata=actor_metadata(actor), timeout=30)

    def refusal(self, method: str, request: Any, actor: Actor = WINDOW) -> ErrorDetails:
        try:
            self.call(method, request, actor)
        except grpc.RpcError as exc:
            return error_details(exc)
        raise AssertionError(f"{method} was not refused")


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    store = EventStore.open(sqlite_url(tmp_path / "disability.db"), region="640000", service="disability",
                            clock=FakeClock(datetime(2026, 3, 9, 2, 0, tzinfo=UTC)),
                            tables=bootstrap.definition().tables)
    service = bootstrap.bootstrap(Infrastructure.over(store))
    server, port = create_server("127.0.0.1:0", servicers=[service.servicer], authenticator=authenticator("640000"))
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield Door(channel, service)
    finally:
        server.stop(grace=None)
        store.close()


def application(*, grade: int = 1, request_id: str = "") -> api.ReceiveApplicationRequest:
    who = citizen()
    return api.ReceiveApplicationRequest(
        applicant=api.ApplicantInput(citizen_id=who, name="马小红", hukou_region="640104"),
        certificate_number=f"{who}4{grade}", certificate_valid_until={"year": 2030, "month": 6, "day": 30},
        household="dibao", bank_account="6222 0212 3456 7890 123", living=True, nursing=True,
        circumstances=api.CircumstancesInput(long_term_care_months=12), request_id=request_id)


def test_a_window_carries_an_application_to_approval_with_request_ids(door: Door) -> None:
    first = door.call("ReceiveApplication", application(request_id="apply-1")).case
    assert (first.state, first.stage, first.bank_account_masked) == ("under_review", "township_review",
                                                                     "6222***********0123")
    case_id = first.case_id
    reused = door.refusal("ReceiveApplication", application(request_id="apply-1"))
    assert (reused.code, [v.field for v in reused.field_violations]) == (grpc.StatusCode.INVALID_ARGUMENT,
                                                                         ["request_id"]), "another person, same id"
    door.call("CompleteTownshipReview", api.CompleteTownshipReviewRequest(case_id=case_id, request_id="t-1"))
    retried = door.call("CompleteTownshipReview", api.CompleteTownshipReviewRequest(case_id=case_id,
                                                                                    request_id="t-1")).case
    assert retried.stage == "certificate_check", "the retry got the first answer and recorded nothing"
    door.call("ConfirmCertificate", api.ConfirmCertificateRequest(case_id=case_id, request_id="c-1"), CDPF)
    work = door.call("ListWork", api.ListWorkRequest(office_code="640104", stage="approval"), COUNTY)
    assert [i.case_id for i in work.items] == [case_id]
    grant_everything(door.service, case_id)
    approved = door.call("ApproveApplication", api.ApproveApplicationRequest(
        case_id=case_id, household="dibao", request_id="a-1"), COUNTY).case
    assert approved.state == "approved"
    assert [(e.subsidy, e.amount_fen, e.start_month) for e in approved.entitlements] == [
        ("living", 11_000, "2026-03"), ("nursing", 12_000, "2026-03")]
    stopped = door.call("StopEntitlement", api.StopEntitlementRequest(
        case_id=case_id, subsidy="nursing", reason="death", effective_on={"year": 2026, "month": 3, "day": 8},
        request_id="s-1"), COUNTY).case
    assert [(e.subsidy, e.stop_month) for e in stopped.entitlements] == [("living", ""), ("nursing", "2026-04")]


def test_refusals_answer_with_their_status_and_rule(door: Door) -> None:
    bad = door.refusal("ReceiveApplication", api.ReceiveApplicationRequest(
        applicant=api.ApplicantInput(citizen_id="123", name="", hukou_region="640104"), household="rich",
        bank_account="x", living=True))
    assert bad.code is grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in bad.field_violations} >= {"applicant.citizen_id", "applicant.name", "household",
                                                       "bank_account", "certificate_valid_until"}
    case_id = door.call("ReceiveApplication", application()).case.case_id
    out_of_turn = door.refusal("ConfirmCertificate", api.ConfirmCertificateRequest(case_id=case_id), CDPF)
    assert (out_of_turn.code, out_of_turn.rule) == (grpc.StatusCode.FAILED_PRECONDITION, "StageInTurn")
    nowhere = door.refusal("GetCase", api.GetCaseRequest(case_id="disability-640000-0000000000000000"))
    assert nowhere.code is grpc.StatusCode.NOT_FOUND
    # Another region's clerk never reaches the rules: its token is not one this region's front door
    # trusts (architecture invariant 8; the ClerkOfThisRegion rule stays as a second line).
    elsewhere = Actor("clerk", "x", "510802-DPO-01", "510000", "window")
    foreign = door.refusal("CompleteTownshipReview", api.CompleteTownshipReviewRequest(case_id=case_id), elsewhere)
    assert foreign.code is grpc.StatusCode.UNAUTHENTICATED


def test_a_death_record_acts_on_every_application_of_the_person_and_is_recorded_with_its_source(
        door: Door) -> None:
    request = application()
    who = request.applicant.citizen_id
    paid = door.call("ReceiveApplication", request).case.case_id
    door.call("CompleteTownshipReview", api.CompleteTownshipReviewRequest(case_id=paid))
    door.call("ConfirmCertificate", api.ConfirmCertificateRequest(case_id=paid), CDPF)
    grant_everything(door.service, paid)
    door.call("ApproveApplication", api.ApproveApplicationRequest(case_id=paid, household="dibao"), COUNTY)
    untouched = door.call("ReceiveApplication", application()).case.case_id  # another person's

    found = door.call("RecordDataMatch", api.RecordDataMatchRequest(
        kind="death", citizen_id=who, effective_on={"year": 2026, "month": 3, "day": 5},
        source="公安 死亡登记 2026-0042", request_id="m-1"), COUNTY)
    assert list(found.affected_case_ids) == [paid]
    case = door.call("GetCase", api.GetCaseRequest(case_id=paid)).case
    assert [(e.subsidy, e.stop_month, e.stop_reason) for e in case.entitlements] == [
        ("living", "2026-04", "death"), ("nursing", "2026-04", "death")]
    assert list(case.registry_held) == [], "the places are given up"
    again = door.call("RecordDataMatch", api.RecordDataMatchRequest(
        kind="death", citizen_id=who, effective_on={"year": 2026, "month": 3, "day": 5},
        source="公安 死亡登记 2026-0042", request_id="m-1"), COUNTY)
    assert again.match_id == found.match_id, "a retried finding records nothing new"
    assert door.call("GetCase", api.GetCaseRequest(case_id=untouched)).case.state == "under_review"


def test_reads_of_an_application_are_authorised_by_role_and_county_and_recorded_个人信息保护法_34(
        door: Door) -> None:
    """Issue 10: every read of personal data is authorised by role and scope, and recorded."""
    from services.common.trust.reads import READ_TYPE, case_reads_stream

    case_id = door.call("ReceiveApplication", application()).case.case_id
    store = door.service.deps.store
    court = Actor("clerk", "j-1", "640104-CDPF", "640000", "court")
    refused = door.refusal("GetCase", api.GetCaseRequest(case_id=case_id), court)
    assert (refused.code, refused.rule) == (grpc.StatusCode.PERMISSION_DENIED, "AuthorisedRead")
    assert store.read_stream(case_reads_stream(case_id)) == [], "a refused read records nothing"

    door.call("GetCase", api.GetCaseRequest(case_id=case_id), CDPF)  # the county's 残联: routine, same county
    auditor = Actor("clerk", "a-1", "640104-SJJ", "640000", "auditor")
    no_reason = door.refusal("GetCase", api.GetCaseRequest(case_id=case_id), auditor)
    assert no_reason.code is grpc.StatusCode.INVALID_ARGUMENT and no_reason.field_violations[0].field == "reason"
    door.call("GetCase", api.GetCaseRequest(case_id=case_id, reason="年度审计抽查"), auditor)
    reads = [e for e in store.read_stream(case_reads_stream(case_id)) if e.type == READ_TYPE]
    assert [(e.actor.clerk_id, e.actor.role) for e in reads] == [("c-1", "cdpf"), ("a-1", "auditor")]
