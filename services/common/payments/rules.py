"""The rules of a monthly payment batch, each with the text it rests on.

Both subsidies and 低保 are paid monthly (国发〔2015〕52号: 补贴按月发放; 社会救助暂行办法 第12条:
按月发给), through a bank, per record; the domain rules ("Payment batches") add what a payment run
must guarantee: one batch per month with its counts and totals, sent once, confirmed or returned
per record, a returned payment re-queued or stopped with a reason — and nobody paid twice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from services.common.errors import NotAuthorised, RuleViolation
from services.common.kit.rules import Rule
from services.common.payments.events import LineStatus, RecordedLine

MONTHLY = "国发〔2015〕52号 按月发放; 社会救助暂行办法 第12条 按月发给"
BATCHES = "民政资金发放 批次管理 (domain rules: Payment batches)"


class BatchState:
    OPEN = "open"  # a run is filling it, chunk by chunk
    CLOSED = "closed"  # counts and total fixed: ready for the bank
    SENT = "sent"  # with the bank: settled line by line


@dataclass(frozen=True)
class AmountInWholeFen(Rule):
    """An amount owed is a positive whole number of fen (never a float, never zero)."""

    article: ClassVar[str] = MONTHLY
    line_id: str
    amount_fen: object

    def is_broken(self) -> bool:
        return type(self.amount_fen) is not int or self.amount_fen <= 0

    @property
    def message(self) -> str:
        return f"line {self.line_id} owes {self.amount_fen!r}: an amount is a positive whole number of fen"


@dataclass(frozen=True)
class PayeeNamed(Rule):
    """A line names what is owed, to whom, and the account it is paid into: the bank pays per
    record, and a record without them can only come back."""

    article: ClassVar[str] = MONTHLY
    line_id: str
    citizen_id: str
    bank_account: str

    def is_broken(self) -> bool:
        return not (self.line_id.partition("@")[0] and self.citizen_id.strip() and self.bank_account.strip())

    @property
    def message(self) -> str:
        return f"line {self.line_id} must name its entitlement, the person's citizen id and a bank account"


@dataclass(frozen=True)
class NoPaymentInAdvance(Rule):
    """A run pays the months up to its own (back-pay months included), never a month to come."""

    article: ClassVar[str] = MONTHLY
    line_month: str
    batch_month: str

    def is_broken(self) -> bool:
        return self.line_month > self.batch_month

    @property
    def message(self) -> str:
        return f"the {self.batch_month} run cannot pay {self.line_month} in advance"


@dataclass(frozen=True)
class LinePaidOnce(Rule):
    """A line (entitlement, month) goes into one batch only — unless the bank returned it, when
    the next run re-queues it. Broken for a line that is in a batch already (this one after a
    crash, or an earlier one), or was stopped."""

    article: ClassVar[str] = BATCHES
    line_id: str
    batch_id: str
    recorded: RecordedLine | None

    def is_broken(self) -> bool:
        if self.recorded is None:
            return False
        return not (self.recorded.status is LineStatus.RETURNED and self.recorded.batch_id != self.batch_id)

    @property
    def message(self) -> str:
        where = f"{self.recorded.status} in {self.recorded.batch_id}" if self.recorded else "recorded"
        return f"line {self.line_id} is already {where}: nobody is paid twice"


@dataclass(frozen=True)
class ClosedBatchTakesNoLines(Rule):
    """Once closed, a batch's counts and total are what the bank receives: nothing is added."""

    article: ClassVar[str] = BATCHES
    batch_id: str
    state: str

    def is_broken(self) -> bool:
        return self.state != BatchState.OPEN

    @property
    def message(self) -> str:
        return f"batch {self.batch_id} is {self.state}: it takes no more lines"


@dataclass(frozen=True)
class BatchClosedBeforeSending(Rule):
    """The bank receives a batch with its final counts and total, so only a closed batch is sent."""

    article: ClassVar[str] = BATCHES
    batch_id: str
    state: str

    def is_broken(self) -> bool:
        return self.state == BatchState.OPEN

    @property
    def message(self) -> str:
        return f"batch {self.batch_id} is still open: close it (finish its run) before sending it"


@dataclass(frozen=True)
class BatchSentOnce(Rule):
    """A batch is never paid twice."""

    article: ClassVar[str] = BATCHES
    batch_id: str
    state: str

    def is_broken(self) -> bool:
        return self.state == BatchState.SENT

    @property
    def message(self) -> str:
        return f"batch {self.batch_id} was sent to the bank already: a batch is never paid twice"


@dataclass(frozen=True)
class LineAwaitsTheBank(Rule):
    """The bank confirms or returns a line of a batch it received, once."""

    article: ClassVar[str] = BATCHES
    line_id: str
    batch_id: str
    recorded: RecordedLine | None

    def is_broken(self) -> bool:
        return (self.recorded is None or self.recorded.batch_id != self.batch_id
                or self.recorded.status is not LineStatus.SENT)

    @property
    def message(self) -> str:
        if self.recorded is None or self.recorded.batch_id != self.batch_id:
            return f"line {self.line_id} is not in batch {self.batch_id}"
        return f"line {self.line_id} is {self.recorded.status}, not with the bank: it is settled once"


@dataclass(frozen=True)
class OnlyReturnedLinesStop(Rule):
    """A returned payment is re-queued or stopped with a reason; a line that was not returned is
    not stopped here (stopping an entitlement is the service's decision, for the months after)."""

    article: ClassVar[str] = BATCHES
    line_id: str
    batch_id: str
    recorded: RecordedLine | None

    def is_broken(self) -> bool:
        return (self.recorded is None or self.recorded.batch_id != self.batch_id
                or self.recorded.status is not LineStatus.RETURNED)

    @property
    def message(self) -> str:
        status = self.recorded.status if self.recorded else "not recorded"
        return f"line {self.line_id} is {status} in batch {self.batch_id}: only a returned line is stopped"


@dataclass(frozen=True)
class ReasonGiven(Rule):
    """A return or a stop says why, so the person and the auditor can read it."""

    article: ClassVar[str] = BATCHES
    what: str
    reason: str

    def is_broken(self) -> bool:
        return not self.reason.strip()

    @property
    def message(self) -> str:
        return f"{self.what} needs a reason"


@dataclass(frozen=True)
class PaymentRole(Rule):
    """Only the county's finance officers run, send and settle a region's payments; auditors and
    approvers may read them (资金发放 岗位分离: who pays is named, and not everyone may)."""

    article: ClassVar[str] = "民政资金发放 岗位职责 (domain rules: Payment batches)"
    error: ClassVar[type[RuleViolation]] = NotAuthorised
    role: str
    allowed: frozenset[str]
    action: str

    def is_broken(self) -> bool:
        return self.role not in self.allowed

    @property
    def message(self) -> str:
        return f"role {self.role or '(none)'} may not {self.action}: only {', '.join(sorted(self.allowed))}"
