"""The payment batch's events (past tense) and the line they carry: one dataclass per message of
proto/tongban/payments/v1/events.proto, field for field. Amounts are integer fen."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.common.payments.due import Due


@dataclass(frozen=True)
class PaymentLine:
    line_id: str
    entitlement_id: str
    case_id: str
    citizen_id: str
    name: str
    benefit: str
    month: str
    amount_fen: int
    bank_account: str
    requeued_from: str = ""  # the batch that returned it, for a re-queued payment

    @classmethod
    def of(cls, due: Due, requeued_from: str = "") -> PaymentLine:
        return cls(line_id=due.line_id, entitlement_id=due.entitlement_id, case_id=due.case_id,
                   citizen_id=due.citizen_id, name=due.name, benefit=due.benefit, month=due.month,
                   amount_fen=due.amount_fen, bank_account=due.bank_account, requeued_from=requeued_from)


@dataclass(frozen=True)
class PaymentBatchOpened:
    batch_id: str
    service: str
    region: str
    month: str


@dataclass(frozen=True)
class PaymentLinesAdded:
    batch_id: str
    chunk_no: int
    line_count: int
    total_fen: int
    lines: tuple[PaymentLine, ...]


@dataclass(frozen=True)
class PaymentBatchClosed:
    batch_id: str
    line_count: int
    total_fen: int


@dataclass(frozen=True)
class PaymentBatchSent:
    batch_id: str
    line_count: int
    total_fen: int


@dataclass(frozen=True)
class PaymentLinesConfirmed:
    batch_id: str
    line_ids: tuple[str, ...]
    total_fen: int


@dataclass(frozen=True)
class PaymentLineReturned:
    batch_id: str
    line_id: str
    amount_fen: int
    reason: str


@dataclass(frozen=True)
class PaymentLineStopped:
    batch_id: str
    line_id: str
    amount_fen: int
    reason: str


EVENT_CLASSES: tuple[type, ...] = (
    PaymentBatchOpened, PaymentLinesAdded, PaymentBatchClosed, PaymentBatchSent, PaymentLinesConfirmed,
    PaymentLineReturned, PaymentLineStopped,
)


# -- what the read model knows of a line (facts the batch decides on) ----------------------------

class LineStatus(StrEnum):
    ADDED = "added"  # in a batch not yet sent
    SENT = "sent"  # with the bank
    CONFIRMED = "confirmed"  # paid
    RETURNED = "returned"  # the bank gave it back: the next run re-queues it
    STOPPED = "stopped"  # returned and not to be paid again, with a reason


@dataclass(frozen=True)
class RecordedLine:
    """Where a line is: the batch that holds it now, its status there, and its amount."""

    line_id: str
    batch_id: str
    status: LineStatus
    amount_fen: int
