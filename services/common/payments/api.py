"""The PaymentService gRPC API (tongban.payments.v1), served by the host beside a paying service's
own API, as the hand-off and audit APIs are: one API for every service that pays monthly.

A service offers it by returning `Wiring(payments=PaymentWiring(runs, source))` from its
composition root. Thin, like every servicer: check the caller's role (PaymentRole), validate the
request, call the run or the bank step, map the answer; the interceptor in grpc_context maps errors
(a broken rule → FAILED_PRECONDITION, a role → PERMISSION_DENIED, bad input → INVALID_ARGUMENT).

Every command takes its request id (invariant 9). The bank steps record it with their event; a
month's run spans many transactions, so RunMonth claims its id first (a different month under the
same id is refused) and then runs — the run is idempotent by month, so a retry after a lost answer
or a crash finishes the same batch and answers as the first call would have.

A batch's lines and a person's payments are personal data (names, citizen ids, amounts): every read
that answers them is recorded through the service's `RecordedReads` (architecture invariant 8),
naming the cases it held — one case on its own thread, so `tongban audit case` shows who looked at
that person's money. A list of batches holds totals only and is not recorded."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import grpc

from services.common.errors import InvalidArgument, NotFound
from services.common.events import Actor
from services.common.grpc_context import current_actor
from services.common.kit import Provenance, Request
from services.common.kit.rules import check
from services.common.payments.due import DueSource, is_month
from services.common.payments.export import mask_account
from services.common.payments.queries import BatchSummary, LineRow, batch_summary
from services.common.payments.rules import PaymentRole
from services.common.payments.run import PaymentRuns
from services.common.trust.reads import RecordedReads
from tongban.payments.v1 import events_pb2 as ev
from tongban.payments.v1 import payment_service_pb2 as api
from tongban.payments.v1 import payment_service_pb2_grpc as api_grpc

# The county's finance officers pay; the approver and auditors follow the money.
PAYING_ROLES = frozenset({"finance"})
READING_ROLES = PAYING_ROLES | {"auditor", "approver"}
MAX_LINES_SHOWN = 1000


@dataclass(frozen=True)
class PaymentWiring:
    """What a paying service hands its host: its runs (over its store) and what it owes
    (`source`), and who may pay and read (national defaults unless the region configures them)."""

    runs: PaymentRuns
    source: DueSource
    reads: RecordedReads  # the service's read gate: lines and histories are recorded reads
    paying_roles: frozenset[str] = PAYING_ROLES
    reading_roles: frozenset[str] = READING_ROLES


class PaymentServicer(api_grpc.PaymentServiceServicer):
    def __init__(self, wiring: PaymentWiring) -> None:
        self.wiring = wiring
        self.runs = wiring.runs

    def RunMonth(self, request: api.RunMonthRequest, context: grpc.ServicerContext) -> api.RunMonthResponse:
        actor = self._may_pay("run a month's payments")
        month = _month(request.month, "month")
        provenance = self._provenance(actor, self.runs.batch_id(month))
        claimed = Request.of(request)
        if claimed is not None:
            # Claimed before the run, in a transaction of its own: the run commits chunk by chunk,
            # and a retry under the same id must go on running (the month may be half paid).
            with self.runs.units.begin(provenance, request=claimed) as uow:
                if not uow.first_answer:
                    uow.answer(self.runs.batch_id(month))
        result = self.runs.run(month, self.wiring.source, provenance)
        return api.RunMonthResponse(batch=_batch(result.batch), added=result.added, skipped=result.skipped)

    def SendBatch(self, request: api.SendBatchRequest, context: grpc.ServicerContext) -> api.SendBatchResponse:
        actor = self._may_pay("send a batch to the bank")
        batch_id = self._batch_id(request.batch_id)
        self.runs.send(batch_id, self._provenance(actor, batch_id), Request.of(request))
        return api.SendBatchResponse(batch=self._batch(batch_id))

    def ConfirmLines(self, request: api.ConfirmLinesRequest,
                     context: grpc.ServicerContext) -> api.ConfirmLinesResponse:
        actor = self._may_pay("confirm payments")
        batch_id = self._batch_id(request.batch_id)
        if not request.line_ids:
            raise InvalidArgument.single("line_ids", "the lines the bank paid: at least one")
        self.runs.confirm(batch_id, list(request.line_ids), self._provenance(actor, batch_id), Request.of(request))
        return api.ConfirmLinesResponse(batch=self._batch(batch_id))

    def ReturnLine(self, request: api.ReturnLineRequest, context: grpc.ServicerContext) -> api.ReturnLineResponse:
        actor = self._may_pay("record a returned payment")
        line_id, reason = _line_and_reason(request)
        batch_id = self.runs.return_(line_id, reason, self._provenance(actor, line_id), Request.of(request))
        return api.ReturnLineResponse(batch=self._batch(batch_id))

    def StopLine(self, request: api.StopLineRequest, context: grpc.ServicerContext) -> api.StopLineResponse:
        actor = self._may_pay("stop a returned payment")
        line_id, reason = _line_and_reason(request)
        batch_id = self.runs.stop(line_id, reason, self._provenance(actor, line_id), Request.of(request))
        return api.StopLineResponse(batch=self._batch(batch_id))

    def GetBatch(self, request: api.GetBatchRequest, context: grpc.ServicerContext) -> api.GetBatchResponse:
        actor = self._may_read("read a payment batch")
        batch_id = self._batch_id(request.batch_id)
        answer = api.GetBatchResponse(batch=self._batch(batch_id))
        if request.with_lines:
            rows = []
            for n, row in enumerate(self.runs.roll(batch_id)):
                if n == MAX_LINES_SHOWN:
                    break
                rows.append(row)
            self._record(actor, "GetBatch", rows)
            answer.lines.extend(_line(row) for row in rows)
        return answer

    def ListBatches(self, request: api.ListBatchesRequest,
                    context: grpc.ServicerContext) -> api.ListBatchesResponse:
        self._may_read("read the payment roll")
        month = _month(request.month, "month") if request.month else None
        return api.ListBatchesResponse(batches=[_batch(b) for b in self.runs.batches(month)])

    def PersonHistory(self, request: api.PersonHistoryRequest,
                      context: grpc.ServicerContext) -> api.PersonHistoryResponse:
        actor = self._may_read("read a person's payments")
        if not request.citizen_id.strip():
            raise InvalidArgument.single("citizen_id", "required")
        rows = [r for r in self.runs.history(request.citizen_id) if r.batch_id.startswith(self._own_batches)]
        self._record(actor, "PersonHistory", rows)
        return api.PersonHistoryResponse(lines=[_line(r) for r in rows])

    def ExportBatch(self, request: api.ExportBatchRequest,
                    context: grpc.ServicerContext) -> api.ExportBatchResponse:
        actor = self._may_read("export a payment batch")
        batch_id = self._batch_id(request.batch_id)
        self._batch(batch_id)  # NOT_FOUND for a batch this region never ran
        self._record(actor, "ExportBatch", self.runs.roll(batch_id))
        out = io.StringIO()
        totals = self.runs.export_csv(batch_id, out)
        return api.ExportBatchResponse(csv=out.getvalue().encode("utf-8"), lines=totals.lines,
                                       total_fen=totals.total_fen)

    # -- helpers -----------------------------------------------------------------------------------

    @property
    def _own_batches(self) -> str:
        return f"payment-batch-{self.runs.service}-"

    def _may_pay(self, action: str) -> Actor:
        actor = current_actor()
        check(PaymentRole(actor.role, self.wiring.paying_roles, action))
        return actor

    def _may_read(self, action: str) -> Actor:
        actor = current_actor()
        check(PaymentRole(actor.role, self.wiring.reading_roles, action))
        return actor

    def _record(self, actor: Actor, request: str, rows: Iterable[LineRow]) -> None:
        """Record the read before the answer leaves (nothing is recorded for an answer without lines)."""
        case_ids = list(dict.fromkeys(row.case_id for row in rows))
        self.wiring.reads.shared(actor, request=f"PaymentService.{request}", case_ids=case_ids,
                                 correlation_id=case_ids[0] if len(case_ids) == 1 else "")

    def _provenance(self, actor: Actor, correlation_id: str) -> Provenance:
        return Provenance.of_command(actor, correlation_id, self.runs.store.clock.now())

    def _batch_id(self, value: str) -> str:
        """A batch id, or a month naming this service's batch of it in this region."""
        if is_month(value):
            return self.runs.batch_id(value)
        if not value.startswith(self._own_batches):
            raise InvalidArgument.single("batch_id", f"a month YYYY-MM or an id {self._own_batches}<region>-<month>")
        return value

    def _batch(self, batch_id: str) -> api.Batch:
        with self.runs.store.engine.connect() as conn:
            found = batch_summary(conn, batch_id)
        if found is None:
            raise NotFound("payment batch", batch_id)
        return _batch(found)


def payment_servicer_adder(wiring: PaymentWiring) -> Callable[[grpc.Server], None]:
    """For `create_server(servicers=[...])`."""
    servicer = PaymentServicer(wiring)
    return lambda server: api_grpc.add_PaymentServiceServicer_to_server(servicer, server)


def _month(value: str, name: str) -> str:
    if not is_month(value):
        raise InvalidArgument.single(name, "a month, YYYY-MM")
    return value


def _line_and_reason(request: api.ReturnLineRequest | api.StopLineRequest) -> tuple[str, str]:
    problems: list[tuple[str, str]] = []
    if "@" not in request.line_id:
        problems.append(("line_id", "<entitlement_id>@<YYYY-MM>"))
    if not request.reason.strip():
        problems.append(("reason", "required: why the bank returned it, or why it is stopped"))
    if problems:
        raise InvalidArgument.single(*problems[0])
    return request.line_id, request.reason.strip()


def _batch(summary: BatchSummary) -> api.Batch:
    return api.Batch(**{name: getattr(summary, name) for name in BatchSummary.__dataclass_fields__})


def _line(row: LineRow) -> api.Line:
    line = ev.PaymentLine(line_id=row.line_id, entitlement_id=row.entitlement_id, case_id=row.case_id,
                          citizen_id=row.citizen_id, name=row.name, benefit=row.benefit, month=row.month,
                          amount_fen=row.amount_fen, bank_account=mask_account(row.bank_account),
                          requeued_from=row.requeued_from)
    return api.Line(line=line, batch_id=row.batch_id, status=row.status, reason=row.reason, attempts=row.attempts)

