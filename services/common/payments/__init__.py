"""The monthly payment run every paying service shares (disability, relief): what a service owes
goes in as `Due`s from its `DueSource`; a batch per month comes out, paid exactly once, sent to
the bank, settled line by line, exported as CSV. Wiring, in a service's composition root:

    from services.common import payments
    TABLES = (..., payments.TABLES)                                   # its read models, created by the host
    runs = payments.PaymentRuns(payments.payment_units(store), region, SERVICE)

Modules: due.py (what a service supplies), events.py and codec.py (proto/tongban/payments/v1),
rules.py and batch.py (the batch aggregate, pure), run.py (the run), bank.py (send, confirm,
return, stop), projections.py and queries.py (read models), export.py (CSV), bench.py."""

from services.common.payments.batch import PaymentBatch, batch_id_of
from services.common.payments.codec import CODEC
from services.common.payments.due import Due, DueSource, line_id_of, month_of, months, next_month
from services.common.payments.events import LineStatus, PaymentLine
from services.common.payments.projections import TABLES
from services.common.payments.queries import BatchSummary, LineRow
from services.common.payments.run import PaymentRuns, RunResult, payment_subscribers, payment_units

__all__ = [
    "CODEC",
    "TABLES",
    "BatchSummary",
    "Due",
    "DueSource",
    "LineRow",
    "LineStatus",
    "PaymentBatch",
    "PaymentLine",
    "PaymentRuns",
    "RunResult",
    "batch_id_of",
    "line_id_of",
    "month_of",
    "months",
    "next_month",
    "payment_subscribers",
    "payment_units",
]
