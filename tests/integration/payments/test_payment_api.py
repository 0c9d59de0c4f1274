"""The shared payment API (tongban.payments.v1.PaymentService) as the host serves it for each paying
service, behind a real gRPC server on loopback over a SQLite store (Payment batches; 国发〔2015〕52号
按月发放; 社会救助暂行办法 第12条): a month run twice pays each person once, a returned payment is
re-queued by the next month's run, the roll is exported as CSV with masked accounts, and only the
county's finance officers pay."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from services import cli
from services.common.audit.datadir import StoreRef
from services.common.audit.projections import default_registry
from services.common.audit.replay import replay_stores
from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.grpc_context import ErrorDetails, create_server, error_details
from services.common.payments.api import payment_servicer_adder
from services.common.store import EventStore, sqlite_url
from services.common.trust.reads import READ_TYPE, case_reads_stream
from services.disability import bootstrap
from services.disability.application import handlers
from services.disability.domain.commands import ApproveApplication
from services.host import Infrastructure
from services.host.definition import Wiring
from services.relief.bootstrap import ReliefService
from services.relief.bootstrap import bootstrap as relief_bootstrap
from tests.fixtures.trust import actor_metadata, authenticator, idp
from tests.integration.disability.test_payments import COUNTY, _approved
from tests.unit.relief.people import NINGXIA
from tests.unit.relief.test_application import china
from tests.unit.relief.test_dues import _granted
from tongban.payments.v1 import payment_service_pb2 as api
from tongban.payments.v1 import payment_service_pb2_grpc as api_grpc

FINANCE = Actor("clerk", "f-1", "640104-CZJ", "640000", "finance")
AUDITOR = Actor("clerk", "a-1", "640104-SJJ", "640000", "auditor")
WINDOW = Actor("clerk", "w-1", "640104-DPO-01", "640000", "window")
MARCH = "payment-batch-disability-640000-2026-03"


class Payments:
    """The payment API of one service instance, called as a person at a desk."""

    def __init__(self, channel: grpc.Channel, address: str) -> None:
        self.stub = api_grpc.PaymentServiceStub(channel)
        self.address = address

    def call(self, method: str, request: Any, actor: Actor = FINANCE) -> Any:
        return getattr(self.stub, method)(request, metadata=actor_metadata(actor), timeout=30)

    def refusal(self, method: str, request: Any, actor: Actor = FINANCE) -> ErrorDetails:
        try:
            self.call(method, request, actor)
        except grpc.RpcError as exc:
            return error_details(exc)
        raise AssertionError(f"{method} was not refused")


def serve(wiring: Wiring) -> tuple[grpc.Server, int]:
    """The servicers the host adds for a service that pays (services/host/host.py)."""
    assert wiring.payments is not None, "a paying service hands its runs to the host"
    server, port = create_server("127.0.0.1:0", servicers=[*wiring.servicers, payment_servicer_adder(wiring.payments)],
                                 authenticator=authenticator("640000"))
    server.start()
    return server, port


@pytest.fixture
def disability(tmp_path: Path) -> Iterator[tuple[bootstrap.DisabilityService, Payments]]:
    store = EventStore.open(sqlite_url(tmp_path / "disability.db"), region="640000", service="disability",
                            clock=FakeClock(datetime(2026, 1, 20, 2, 0, tzinfo=UTC)),
                            tables=bootstrap.definition().tables)
    service = bootstrap.bootstrap(Infrastructure.over(store))
    server, port = serve(service.wiring)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield service, Payments(channel, f"127.0.0.1:{port}")
    finally:
        server.stop(grace=None)
        store.close()


def _two_people_approved(service: bootstrap.DisabilityService) -> tuple[str, str]:
    """Two applications of 2026-01-20, approved on 2026-03-05: January to March owed in March."""
    first, second = _approved(service), _approved(service)
    clock = service.deps.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=44))
    for case_id in (first, second):
        handlers.approve(service.deps, ApproveApplication(case_id, "dibao"), COUNTY)
    return first, second


def test_a_month_run_twice_pays_each_person_once_and_a_returned_line_comes_back_next_month(
        disability: tuple[bootstrap.DisabilityService, Payments]) -> None:
    service, pay = disability
    first, second = _two_people_approved(service)
    run = pay.call("RunMonth", api.RunMonthRequest(month="2026-03", request_id="run-march"))
    assert (run.batch.batch_id, run.batch.state, run.added) == (MARCH, "closed", 12)
    assert (run.batch.line_count, run.batch.total_fen) == (12, 2 * (3 * 11_000 + 3 * 12_000)), \
        "two persons, living and nursing, January to March (back-pay from the month of application)"
    again = pay.call("RunMonth", api.RunMonthRequest(month="2026-03", request_id="run-march-again"))
    assert (again.added, again.batch.line_count, again.batch.total_fen) == (0, 12, run.batch.total_fen)
    retried = pay.call("RunMonth", api.RunMonthRequest(month="2026-03", request_id="run-march"))
    assert (retried.added, retried.batch.batch_id) == (0, MARCH), "a retry answers as the first call"
    reused = pay.refusal("RunMonth", api.RunMonthRequest(month="2026-04", request_id="run-march"))
    assert reused.code == grpc.StatusCode.INVALID_ARGUMENT, "one request id, one month"

    sent = pay.call("SendBatch", api.SendBatchRequest(batch_id=MARCH, request_id="send-march")).batch
    assert sent.state == "sent"
    assert pay.call("SendBatch", api.SendBatchRequest(batch_id=MARCH, request_id="send-march")).batch.state == "sent"
    twice = pay.refusal("SendBatch", api.SendBatchRequest(batch_id=MARCH, request_id="send-march-2"))
    assert (twice.code, twice.rule) == (grpc.StatusCode.FAILED_PRECONDITION, "BatchSentOnce")

    roll = pay.call("GetBatch", api.GetBatchRequest(batch_id="2026-03", with_lines=True), AUDITOR)
    returned = f"{second}/nursing@2026-03"
    paid = [line.line.line_id for line in roll.lines if line.line.line_id != returned]
    assert len(paid) == 11 and all(line.line.bank_account.endswith("0123") and "*" in line.line.bank_account
                                   for line in roll.lines), "accounts masked to their last 4 digits"
    pay.call("ConfirmLines", api.ConfirmLinesRequest(batch_id=MARCH, line_ids=paid, request_id="bank-file-1"))
    after = pay.call("ReturnLine", api.ReturnLineRequest(line_id=returned, reason="账户已销户", request_id="ret-1"))
    assert (after.batch.confirmed_count, after.batch.returned_count, after.batch.returned_fen) == (11, 1, 12_000)

    april = pay.call("RunMonth", api.RunMonthRequest(month="2026-04", request_id="run-april"))
    lines = pay.call("GetBatch", api.GetBatchRequest(batch_id=april.batch.batch_id, with_lines=True),
                     AUDITOR).lines
    assert sorted(line.line.line_id for line in lines) == sorted(
        [returned, *(f"{case}/{benefit}@2026-04" for case in (first, second) for benefit in ("living", "nursing"))])
    [requeued] = [line for line in lines if line.line.line_id == returned]
    assert (requeued.line.requeued_from, requeued.line.month) == (MARCH, "2026-03")

    history = pay.call("PersonHistory", api.PersonHistoryRequest(citizen_id=requeued.line.citizen_id), AUDITOR)
    assert [(h.line.line_id, h.status) for h in history.lines if h.line.line_id == returned] == [(returned, "added")]
    assert len(history.lines) == 8, "January to April, living and nursing: each month once"

    listed = pay.call("ListBatches", api.ListBatchesRequest(), AUDITOR).batches
    assert [(b.month, b.state, b.line_count) for b in listed] == [("2026-03", "sent", 12), ("2026-04", "closed", 5)]


def test_the_roll_is_exported_as_csv_with_masked_accounts_and_totals(
        disability: tuple[bootstrap.DisabilityService, Payments]) -> None:
    service, pay = disability
    _two_people_approved(service)
    pay.call("RunMonth", api.RunMonthRequest(month="2026-03", request_id="run-1"))
    exported = pay.call("ExportBatch", api.ExportBatchRequest(batch_id=MARCH), AUDITOR)
    rows = list(csv.reader(io.StringIO(exported.csv.decode("utf-8"))))
    assert rows[0][:3] == ["batch_id", "line_id", "case_id"]
    body = [r for r in rows[1:] if r[1] != "TOTAL"]
    assert len(body) == exported.lines == 12 and exported.total_fen == 138_000
    assert {r[9] for r in body} == {"*" * 15 + "0123"}, "no full account leaves the system"
    assert [rows[-2][1], rows[-2][2], rows[-2][7], rows[-2][8]] == ["TOTAL", "12 lines", "138000", "1380.00"]


def test_only_finance_officers_pay_and_auditors_read(disability: tuple[bootstrap.DisabilityService, Payments]) -> None:
    _, pay = disability
    denied = pay.refusal("RunMonth", api.RunMonthRequest(month="2026-03", request_id="w-1"), WINDOW)
    assert (denied.code, denied.rule) == (grpc.StatusCode.PERMISSION_DENIED, "PaymentRole")
    assert pay.refusal("RunMonth", api.RunMonthRequest(month="2026-03"), AUDITOR).code == \
        grpc.StatusCode.PERMISSION_DENIED
    assert pay.refusal("ListBatches", api.ListBatchesRequest(), WINDOW).code == grpc.StatusCode.PERMISSION_DENIED
    assert list(pay.call("ListBatches", api.ListBatchesRequest(), AUDITOR).batches) == []
    assert pay.refusal("RunMonth", api.RunMonthRequest(month="2026-3")).code == grpc.StatusCode.INVALID_ARGUMENT
    assert pay.refusal("GetBatch", api.GetBatchRequest(batch_id="2026-05"), AUDITOR).code == \
        grpc.StatusCode.NOT_FOUND


@pytest.fixture
def relief(tmp_path: Path) -> Iterator[tuple[ReliefService, Payments]]:
    clock = FakeClock(china(2026, 3, 2, 9))
    store = EventStore.open(sqlite_url(tmp_path / "relief.db"), region=NINGXIA, service="relief", clock=clock)
    service = relief_bootstrap(Infrastructure.over(store))
    server, port = serve(service.wiring)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield service, Payments(channel, f"127.0.0.1:{port}")
    finally:
        server.stop(grace=None)
        store.close()


def test_relief_pays_each_household_once_through_the_same_api(relief: tuple[ReliefService, Payments]) -> None:
    """社会救助暂行办法 第12条 按月发给: from the month after the decision, by the same run as disability."""
    service, pay = relief
    case_id, applicant = _granted(service, earned=20_000)
    runs = [pay.call("RunMonth", api.RunMonthRequest(month="2026-04", request_id=f"run-{n}")) for n in (1, 2)]
    assert [(r.batch.batch_id, r.added, r.batch.line_count, r.batch.total_fen) for r in runs] == [
        ("payment-batch-relief-640000-2026-04", 1, 1, 104_000), ("payment-batch-relief-640000-2026-04", 0, 1, 104_000)]
    history = pay.call("PersonHistory", api.PersonHistoryRequest(citizen_id=applicant), AUDITOR).lines
    assert [(h.line.line_id, h.line.benefit, h.line.amount_fen) for h in history] == [
        (f"{case_id}/dibao@2026-04", "relief.dibao", 104_000)]
    wrong = pay.refusal("GetBatch", api.GetBatchRequest(batch_id=MARCH), AUDITOR)
    assert wrong.code == grpc.StatusCode.INVALID_ARGUMENT, "a disability batch is not relief's"


def test_the_finance_desk_pays_a_month_with_the_window_commands(
        disability: tuple[bootstrap.DisabilityService, Payments], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """`tongban window disability payments …` (the catalogue's window, the shared payment commands)."""
    service, pay = disability
    # The desk's token names every role the test acts in; --role picks one per command.
    monkeypatch.setenv("TONGBAN_TOKEN", idp("640000").issue(clerk_id="f-1", office_code="640104-CZJ",
                                                            roles=["finance", "auditor", "window"]))
    _two_people_approved(service)
    address = pay.address
    desk = ["--region", "640000", "--clerk", "f-1", "--address", address, "--role"]

    def window(*words: str, role: str = "finance") -> tuple[int, str]:
        code = cli.main(["window", "disability", "payments", *words, *desk, role])
        return code, capsys.readouterr().out

    assert window("run", "--month", "2026-03") == (
        0, f"{MARCH}  CLOSED  12 lines, 1380.00 元\n  this run added 12 line(s), skipped 0\n")
    assert window("run", "--month", "2026-03")[1].endswith("this run added 0 line(s), skipped 0\n")
    assert window("send", "2026-03")[1].startswith(f"{MARCH}  SENT")
    settled = f"{MARCH}  SENT  12 lines, 1380.00 元; confirmed 12 (1380.00 元)\n"
    assert window("confirm", "2026-03", "--all") == (0, settled)
    assert window("list", role="auditor") == (0, settled)
    out = tmp_path / "roll.csv"
    assert window("export", "2026-03", "--out", str(out), role="auditor") == (0, "exported 12 line(s), 1380.00 元\n")
    assert out.read_text(encoding="utf-8").startswith("batch_id,line_id,")
    code = cli.main(["window", "disability", "payments", "run", "--month", "2026-04", *desk, "window"])
    assert code == 1 and "PaymentRole" in capsys.readouterr().err, "a window clerk does not pay"


def test_the_services_read_models_ignore_payment_batches_and_replay_as_recorded(
        disability: tuple[bootstrap.DisabilityService, Payments],
        relief: tuple[ReliefService, Payments]) -> None:
    """Payment batches live in each paying service's own store, beside its cases: its read models
    skip them, and `tongban audit replay` rebuilds every projection (the service's and the payment
    read models) from that one log exactly as the live store holds them (architecture invariant 1)."""
    stores = []
    for (service, pay), month in ((disability, "2026-03"), (relief, "2026-04")):
        if isinstance(service, bootstrap.DisabilityService):
            _two_people_approved(service)
        else:
            _granted(service, earned=0)
        batch = pay.call("RunMonth", api.RunMonthRequest(month=month, request_id="run")).batch
        pay.call("SendBatch", api.SendBatchRequest(batch_id=batch.batch_id, request_id="send"))
        store = service.deps.store
        stores.append((StoreRef(store.region, store.service, str(store.engine.url)), store))
    report = replay_stores(stores, default_registry())
    assert report.ok and [s.store for s in report.stores] == ["640000/disability", "640000/relief"]
    compared = {(r.store, r.projection) for s in report.stores for r in s.results if r.compared}
    assert {("640000/disability", "payments"), ("640000/disability", "disability.read_models"),
            ("640000/relief", "payments")} <= compared


def test_reading_a_persons_payments_is_recorded_on_the_case_and_a_list_of_batches_is_not(
        relief: tuple[ReliefService, Payments]) -> None:
    """个人信息保护法 第三十四条 (architecture invariant 8): who looked at a person's money is on record —
    the auditor's PersonHistory and a batch read with its lines each leave a PersonalDataRead on the
    case's thread; the list of batches holds totals only and leaves nothing."""
    service, pay = relief
    case_id, applicant = _granted(service, earned=20_000)
    store = service.deps.units.store
    pay.call("RunMonth", api.RunMonthRequest(month="2026-04", request_id="run-1"))
    before = [e.event_id for e in store.read_log() if e.type == READ_TYPE]
    pay.call("ListBatches", api.ListBatchesRequest(), AUDITOR)
    pay.call("GetBatch", api.GetBatchRequest(batch_id="2026-04"), AUDITOR)  # totals only: no lines asked
    assert [e.event_id for e in store.read_log() if e.type == READ_TYPE] == before

    pay.call("PersonHistory", api.PersonHistoryRequest(citizen_id=applicant), AUDITOR)
    pay.call("GetBatch", api.GetBatchRequest(batch_id="2026-04", with_lines=True), FINANCE)
    history, batch = store.read_stream(case_reads_stream(case_id))
    assert [(e.actor.clerk_id, e.actor.role) for e in (history, batch)] == [("a-1", "auditor"), ("f-1", "finance")]
    assert [e.message().request for e in (history, batch)] == [  # type: ignore[attr-defined]
        "PaymentService.PersonHistory", "PaymentService.GetBatch"]
    assert all(e.correlation_id == case_id for e in (history, batch)), "on the case's thread: audit case shows them"
