"""The payment read models, written in the recording transaction and rebuildable from the log:

- `payment_lines`: one row per line — unique per (service, entitlement_id, month) — with the batch
  that holds it now and its status there. A person's payment history, a batch's roll, and the
  facts a run decides on (which lines are paid, which were returned) all read it.
- `payment_batches`: one row per batch with its state, counts and totals: the monthly roll per region.

Both are declared on this module's own `TABLES`; a paying service passes it with its tables (see
docs/service-kit.md, "Paying people monthly"). The live subscriber and `tongban audit replay` fold
events through the same `apply_event`, so a replay gives the rows the live system wrote."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, UniqueConstraint, insert, update
from sqlalchemy.engine import Connection

from services.common.events import RecordedEvent, to_micros
from services.common.kit import Change, UnitOfWork
from services.common.payments import events as ev
from services.common.payments.batch import STREAM_TYPE
from services.common.payments.codec import CODEC
from services.common.payments.rules import BatchState

TABLES = MetaData()  # this component's own tables (see the module docstring)

payment_lines = Table(
    "payment_lines", TABLES,
    Column("service", String(40), primary_key=True),
    Column("line_id", String(240), primary_key=True),
    Column("entitlement_id", String(200), nullable=False),
    Column("month", String(7), nullable=False),  # the month owed
    Column("batch_id", String(120), nullable=False),  # the batch holding it now
    Column("case_id", String(200), nullable=False),
    Column("citizen_id", String(18), nullable=False),
    Column("name", String(100), nullable=False),
    Column("benefit", String(60), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("bank_account", String(40), nullable=False),
    Column("status", String(12), nullable=False),
    Column("reason", String(500), nullable=False),  # why it was returned or stopped
    Column("requeued_from", String(120), nullable=False),  # the batch that returned it
    Column("attempts", Integer, nullable=False),  # batches it was sent in
    Column("updated_at_us", BigInteger, nullable=False),
    UniqueConstraint("service", "entitlement_id", "month", name="uq_payment_lines_entitlement_month"),
)
Index("ix_payment_lines_batch", payment_lines.c.batch_id, payment_lines.c.line_id)
Index("ix_payment_lines_citizen", payment_lines.c.citizen_id)
Index("ix_payment_lines_status", payment_lines.c.service, payment_lines.c.status)

payment_batches = Table(
    "payment_batches", TABLES,
    Column("batch_id", String(120), primary_key=True),
    Column("service", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("month", String(7), nullable=False),
    Column("state", String(10), nullable=False),
    Column("line_count", BigInteger, nullable=False),
    Column("total_fen", BigInteger, nullable=False),
    Column("confirmed_count", BigInteger, nullable=False),
    Column("confirmed_fen", BigInteger, nullable=False),
    Column("returned_count", BigInteger, nullable=False),
    Column("returned_fen", BigInteger, nullable=False),
    Column("stopped_count", BigInteger, nullable=False),
    Column("stopped_fen", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)
Index("ix_payment_batches_month", payment_batches.c.region, payment_batches.c.month)

_IN_PAGE = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit


def in_pages(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), _IN_PAGE):
        yield ids[start:start + _IN_PAGE]


def apply_event(conn: Connection, event: Any, recorded_at: datetime) -> None:
    """Fold one payment event into both tables (live and on replay)."""
    at = to_micros(recorded_at)
    b = payment_batches.c
    if isinstance(event, ev.PaymentBatchOpened):
        conn.execute(insert(payment_batches).values(
            batch_id=event.batch_id, service=event.service, region=event.region, month=event.month,
            state=BatchState.OPEN, line_count=0, total_fen=0, confirmed_count=0, confirmed_fen=0, returned_count=0,
            returned_fen=0, stopped_count=0, stopped_fen=0, updated_at_us=at))
        return
    batch = update(payment_batches).where(b.batch_id == event.batch_id)
    if isinstance(event, ev.PaymentLinesAdded):
        _add_lines(conn, event, at)
        conn.execute(batch.values(line_count=b.line_count + event.line_count,
                                  total_fen=b.total_fen + event.total_fen, updated_at_us=at))
    elif isinstance(event, ev.PaymentBatchClosed):
        conn.execute(batch.values(state=BatchState.CLOSED, updated_at_us=at))
    elif isinstance(event, ev.PaymentBatchSent):
        conn.execute(update(payment_lines).where(payment_lines.c.batch_id == event.batch_id)
                     .values(status=ev.LineStatus.SENT, attempts=payment_lines.c.attempts + 1, updated_at_us=at))
        conn.execute(batch.values(state=BatchState.SENT, updated_at_us=at))
    elif isinstance(event, ev.PaymentLinesConfirmed):
        for page in in_pages(event.line_ids):
            conn.execute(update(payment_lines).where(payment_lines.c.line_id.in_(page),
                                                     payment_lines.c.batch_id == event.batch_id)
                         .values(status=ev.LineStatus.CONFIRMED, updated_at_us=at))
        conn.execute(batch.values(confirmed_count=b.confirmed_count + len(event.line_ids),
                                  confirmed_fen=b.confirmed_fen + event.total_fen, updated_at_us=at))
    elif isinstance(event, ev.PaymentLineReturned):
        _settle(conn, event.batch_id, event.line_id, ev.LineStatus.RETURNED, event.reason, at)
        conn.execute(batch.values(returned_count=b.returned_count + 1, returned_fen=b.returned_fen + event.amount_fen,
                                  updated_at_us=at))
    elif isinstance(event, ev.PaymentLineStopped):
        _settle(conn, event.batch_id, event.line_id, ev.LineStatus.STOPPED, event.reason, at)
        conn.execute(batch.values(stopped_count=b.stopped_count + 1, stopped_fen=b.stopped_fen + event.amount_fen,
                                  updated_at_us=at))


def _add_lines(conn: Connection, event: ev.PaymentLinesAdded, at: int) -> None:
    service = conn.execute(payment_batches.select().with_only_columns(payment_batches.c.service)
                           .where(payment_batches.c.batch_id == event.batch_id)).scalar_one()
    fresh: list[dict[str, Any]] = []
    for line in event.lines:
        values = dict(batch_id=event.batch_id, case_id=line.case_id, citizen_id=line.citizen_id, name=line.name,
                      benefit=line.benefit, amount_fen=line.amount_fen, bank_account=line.bank_account,
                      status=ev.LineStatus.ADDED, reason="", requeued_from=line.requeued_from, updated_at_us=at)
        if line.requeued_from:  # the row moves to this batch, keeping why the bank returned it
            del values["reason"]
            conn.execute(update(payment_lines).where(payment_lines.c.service == service,
                                                     payment_lines.c.line_id == line.line_id).values(**values))
        else:
            fresh.append(dict(values, service=service, line_id=line.line_id, entitlement_id=line.entitlement_id,
                              month=line.month, attempts=0))
    if fresh:  # a line recorded twice would break the unique key, and with it the whole chunk
        conn.execute(insert(payment_lines), fresh)


def _settle(conn: Connection, batch_id: str, line_id: str, status: str, reason: str, at: int) -> None:
    conn.execute(update(payment_lines).where(payment_lines.c.line_id == line_id, payment_lines.c.batch_id == batch_id)
                 .values(status=status, reason=reason, updated_at_us=at))


def refresh(uow: UnitOfWork, changes: Sequence[Change]) -> None:
    """The commit subscriber: every payment event recorded in this transaction, folded in."""
    for change in changes:
        if change.after.stream_type != STREAM_TYPE:
            continue
        for event, recorded in zip(change.events, change.recorded, strict=True):
            apply_event(uow.tx.connection, event, recorded.recorded_at)


class PaymentsProjection:
    """Both tables as one replayable projection (`tongban audit replay`)."""

    name = "payments"
    tables = (payment_lines, payment_batches)

    def apply(self, connection: Connection, event: RecordedEvent) -> None:
        if event.stream_type == STREAM_TYPE:
            apply_event(connection, CODEC.decode(event), event.recorded_at)

    def rebuild(self, events: Iterable[RecordedEvent], connection: Connection) -> None:
        for event in events:
            self.apply(connection, event)


def register_projections(registry: Any) -> None:
    """Found by `tongban audit replay` (services.common.<part>.projections): any store that pays."""
    registry.register(PaymentsProjection())
