"""Reads of the payment read models: the facts a run and the bank steps decide on, a batch's roll,
its summary, and a person's payment history."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Connection

from services.common.payments.due import Due
from services.common.payments.events import LineStatus, RecordedLine
from services.common.payments.projections import in_pages, payment_batches, payment_lines


@dataclass(frozen=True)
class BatchSummary:
    batch_id: str
    service: str
    region: str
    month: str
    state: str
    line_count: int
    total_fen: int
    confirmed_count: int
    confirmed_fen: int
    returned_count: int
    returned_fen: int
    stopped_count: int
    stopped_fen: int


@dataclass(frozen=True)
class LineRow:
    """One line as the read model holds it."""

    line_id: str
    entitlement_id: str
    month: str
    batch_id: str
    case_id: str
    citizen_id: str
    name: str
    benefit: str
    amount_fen: int
    bank_account: str
    status: str
    reason: str
    requeued_from: str
    attempts: int


_LINE_COLUMNS = [payment_lines.c[f] for f in LineRow.__dataclass_fields__]


def recorded_lines(conn: Connection, service: str, line_ids: Sequence[str]) -> dict[str, RecordedLine]:
    """Where each of `line_ids` is, for those recorded at all."""
    c = payment_lines.c
    found: dict[str, RecordedLine] = {}
    for page in in_pages(list(line_ids)):
        for row in conn.execute(select(c.line_id, c.batch_id, c.status, c.amount_fen)
                                .where(c.service == service, c.line_id.in_(page))):
            found[row.line_id] = RecordedLine(row.line_id, row.batch_id, LineStatus(row.status), row.amount_fen)
    return found


def returned_dues(conn: Connection, service: str, batch_id: str, month: str) -> list[Due]:
    """The lines the bank returned from other batches, owed for `month` or before, as dues the run
    of `month` re-queues, by line id."""
    c = payment_lines.c
    rows = conn.execute(select(*_LINE_COLUMNS).where(c.service == service, c.status == LineStatus.RETURNED,
                                                     c.batch_id != batch_id, c.month <= month).order_by(c.line_id))
    return [Due(r.entitlement_id, r.case_id, r.citizen_id, r.name, r.benefit, r.month, r.amount_fen, r.bank_account)
            for r in rows]


def batch_summary(conn: Connection, batch_id: str) -> BatchSummary | None:
    row = conn.execute(select(payment_batches).where(payment_batches.c.batch_id == batch_id)).first()
    if row is None:
        return None
    return BatchSummary(**{k: v for k, v in row._mapping.items() if k in BatchSummary.__dataclass_fields__})


def batches(conn: Connection, *, region: str | None = None, month: str | None = None) -> list[BatchSummary]:
    """The monthly roll: batches by month (optionally of one region or month)."""
    b = payment_batches.c
    query = select(b.batch_id).order_by(b.month, b.batch_id)
    if region:
        query = query.where(b.region == region)
    if month:
        query = query.where(b.month == month)
    return [s for (batch_id,) in conn.execute(query) if (s := batch_summary(conn, batch_id)) is not None]


def batch_lines(conn: Connection, batch_id: str, *, page: int = 5000) -> Iterator[LineRow]:
    """A batch's lines in line-id order, read a page at a time (a roll may hold 100,000)."""
    c = payment_lines.c
    after = ""
    while True:
        rows = conn.execute(select(*_LINE_COLUMNS).where(c.batch_id == batch_id, c.line_id > after)
                            .order_by(c.line_id).limit(page)).all()
        for r in rows:
            yield LineRow(*r)
        if len(rows) < page:
            return
        after = rows[-1].line_id


def line(conn: Connection, service: str, line_id: str) -> LineRow | None:
    c = payment_lines.c
    row = conn.execute(select(*_LINE_COLUMNS).where(c.service == service, c.line_id == line_id)).first()
    return LineRow(*row) if row else None


def history(conn: Connection, citizen_id: str) -> list[LineRow]:
    """A person's payment history: every line owed to them, by month."""
    c = payment_lines.c
    rows = conn.execute(select(*_LINE_COLUMNS).where(c.citizen_id == citizen_id).order_by(c.month, c.line_id))
    return [LineRow(*r) for r in rows]
