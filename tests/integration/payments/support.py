"""What the payment-run integration tests read back: the batch's lines as the event log records
them (not only the read model), and the read-model rows."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from services.common.payments import CODEC, batch_id_of
from services.common.payments.events import PaymentLinesAdded
from services.common.payments.projections import payment_lines
from services.common.store import EventStore
from tests.payments_sample.wiring import REGION, SERVICE


def batch_of(month: str) -> str:
    return batch_id_of(SERVICE, REGION, month)


def lines_in_log(store: EventStore, month: str) -> Counter[str]:
    """How many times each line id was recorded in the month's batch stream."""
    counted: Counter[str] = Counter()
    for event in store.read_stream(batch_of(month)):
        decoded = CODEC.decode(event)
        if isinstance(decoded, PaymentLinesAdded):
            counted.update(line.line_id for line in decoded.lines)
    return counted


def chunks_in_log(store: EventStore, month: str) -> int:
    return sum(1 for e in store.read_stream(batch_of(month)) if e.type.endswith("PaymentLinesAdded"))


def read_model_lines(store: EventStore, batch_id: str | None = None) -> int:
    query = select(func.count()).select_from(payment_lines)
    if batch_id:
        query = query.where(payment_lines.c.batch_id == batch_id)
    with store.engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
