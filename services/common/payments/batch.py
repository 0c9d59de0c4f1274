"""The payment batch: one per service, region and month, as the fold of its stream.

Its state is counts and totals only — never the lines themselves — so loading it for each chunk of
a 100,000-line run stays cheap (the fold reads each chunk's count and total, not its lines) and
the kit's copy-on-record copies a handful of numbers. Where a line is (which batch, which status)
is a fact the caller reads from the `payment_lines` read model in the same transaction and hands
to the decision, as `RecordedLine`s."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from services.common.kit.aggregate import Aggregate
from services.common.kit.rules import check
from services.common.payments.due import Due, check_month
from services.common.payments.events import (
    PaymentBatchClosed,
    PaymentBatchOpened,
    PaymentBatchSent,
    PaymentLine,
    PaymentLineReturned,
    PaymentLinesAdded,
    PaymentLinesConfirmed,
    PaymentLineStopped,
    RecordedLine,
)
from services.common.payments.rules import (
    AmountInWholeFen,
    BatchClosedBeforeSending,
    BatchSentOnce,
    BatchState,
    ClosedBatchTakesNoLines,
    LineAwaitsTheBank,
    LinePaidOnce,
    NoPaymentInAdvance,
    OnlyReturnedLinesStop,
    PayeeNamed,
    ReasonGiven,
)

STREAM_TYPE = "payments.PaymentBatch"


def batch_id_of(service: str, region: str, month: str) -> str:
    """The batch of a month: the same id on every run, so a rerun finds the batch it continues."""
    return f"payment-batch-{service}-{region}-{check_month(month)}"


@dataclass
class PaymentBatch(Aggregate):
    stream_type: ClassVar[str] = STREAM_TYPE
    what: ClassVar[str] = "payment batch"

    batch_id: str = ""
    service: str = ""
    region: str = ""
    month: str = ""
    state: str = BatchState.OPEN
    chunks: int = 0
    line_count: int = 0
    total_fen: int = 0
    confirmed_count: int = 0
    confirmed_fen: int = 0
    returned_count: int = 0
    returned_fen: int = 0
    stopped_count: int = 0
    stopped_fen: int = 0

    # -- decisions -------------------------------------------------------------------------------

    @staticmethod
    def open(service: str, region: str, month: str) -> list[PaymentBatchOpened]:
        return [PaymentBatchOpened(batch_id_of(service, region, month), service, region, month)]

    def add_lines(self, dues: Iterable[Due], recorded: Mapping[str, RecordedLine]) -> list[PaymentLinesAdded]:
        """One chunk: the dues not paid yet, as lines. A due whose line is already in a batch
        (this one, recorded before a crash; or an earlier one) or was stopped is skipped
        (LinePaidOnce); a returned line comes back as a re-queued payment. A due with a bad
        amount, no payee, or for a month after the batch's, refuses the whole chunk: its source is wrong."""
        check(ClosedBatchTakesNoLines(self.batch_id, self.state))
        lines: list[PaymentLine] = []
        seen: set[str] = set()
        for due in dues:
            line_id = due.line_id
            check(PayeeNamed(line_id, due.citizen_id, due.bank_account), AmountInWholeFen(line_id, due.amount_fen),
                  NoPaymentInAdvance(due.month, self.month))
            prior = recorded.get(line_id)
            if line_id in seen or LinePaidOnce(line_id, self.batch_id, prior).is_broken():
                continue
            seen.add(line_id)
            lines.append(PaymentLine.of(due, requeued_from=prior.batch_id if prior else ""))
        if not lines:
            return []
        return [PaymentLinesAdded(self.batch_id, self.chunks + 1, len(lines), sum(x.amount_fen for x in lines),
                                  tuple(lines))]

    def close(self) -> list[PaymentBatchClosed]:
        check(ClosedBatchTakesNoLines(self.batch_id, self.state))
        return [PaymentBatchClosed(self.batch_id, self.line_count, self.total_fen)]

    def send(self) -> list[PaymentBatchSent]:
        check(BatchClosedBeforeSending(self.batch_id, self.state), BatchSentOnce(self.batch_id, self.state))
        return [PaymentBatchSent(self.batch_id, self.line_count, self.total_fen)]

    def confirm(self, line_ids: Sequence[str], recorded: Mapping[str, RecordedLine]) -> list[PaymentLinesConfirmed]:
        """The bank paid these lines. Each must be with the bank, in this batch, and named once."""
        unique = list(dict.fromkeys(line_ids))
        for line_id in unique:
            check(LineAwaitsTheBank(line_id, self.batch_id, recorded.get(line_id)))
        if not unique:
            return []
        return [PaymentLinesConfirmed(self.batch_id, tuple(unique), sum(recorded[i].amount_fen for i in unique))]

    def return_(self, line_id: str, reason: str, recorded: RecordedLine | None) -> list[PaymentLineReturned]:
        check(ReasonGiven("a returned payment", reason), LineAwaitsTheBank(line_id, self.batch_id, recorded))
        assert recorded is not None
        return [PaymentLineReturned(self.batch_id, line_id, recorded.amount_fen, reason.strip())]

    def stop(self, line_id: str, reason: str, recorded: RecordedLine | None) -> list[PaymentLineStopped]:
        check(ReasonGiven("stopping a returned payment", reason),
              OnlyReturnedLinesStop(line_id, self.batch_id, recorded))
        assert recorded is not None
        return [PaymentLineStopped(self.batch_id, line_id, recorded.amount_fen, reason.strip())]

    # -- the fold: assignments only --------------------------------------------------------------

    def when(self, event: Any) -> None:
        match event:
            case PaymentBatchOpened():
                self.batch_id, self.service, self.region, self.month = (
                    event.batch_id, event.service, event.region, event.month)
            case PaymentLinesAdded():
                self.chunks = event.chunk_no
                self.line_count += event.line_count
                self.total_fen += event.total_fen
            case PaymentBatchClosed():
                self.state = BatchState.CLOSED
            case PaymentBatchSent():
                self.state = BatchState.SENT
            case PaymentLinesConfirmed():
                self.confirmed_count += len(event.line_ids)
                self.confirmed_fen += event.total_fen
            case PaymentLineReturned():
                self.returned_count += 1
                self.returned_fen += event.amount_fen
            case PaymentLineStopped():
                self.stopped_count += 1
                self.stopped_fen += event.amount_fen
