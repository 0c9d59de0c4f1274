"""The monthly payment run: idempotent, crash-safe, chunked.

    runs = PaymentRuns(payment_units(store), region, "disability")
    result = runs.run("2027-03", source, provenance)          # twice → the same batch, nothing new

How it keeps its guarantees:

* **One batch per month.** Its id is derived from (service, region, month), so every run of a
  month finds the same stream; the first opens it.
* **Each chunk is one transaction.** The chunk's lines are recorded as one `PaymentLinesAdded`
  event and, by the read-model subscriber, as `payment_lines` rows — both or neither. A run
  killed anywhere loses at most the chunk it was building.
* **A rerun continues.** The source is read again from the start, and each chunk is decided on
  the lines already recorded (`payment_lines`, read in the chunk's own transaction): those in this
  batch (recorded before the crash) or in an earlier one are skipped (LinePaidOnce), the rest added.
  Nobody is paid twice, nobody skipped — whatever the order of the source.
* **Closed means done.** The run ends by closing the batch with its counts and total; a run of a
  closed month records nothing. A line owed later for that month (a late decision, a back-pay)
  comes through a later month's run as its own due.
* **Returned payments come back.** Before the source, a run re-queues every line the bank
  returned from an earlier batch and nobody stopped."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import TextIO

from services.common.kit import Provenance, Request, Subscribers, UnitsOfWork
from services.common.payments import bank, export, queries
from services.common.payments.batch import PaymentBatch, batch_id_of
from services.common.payments.codec import CODEC
from services.common.payments.due import Due, DueSource, check_month
from services.common.payments.events import PaymentBatchOpened
from services.common.payments.projections import TABLES, refresh
from services.common.payments.rules import BatchState
from services.common.store import EventStore

DEFAULT_CHUNK = 1000
# A chunk is one event, and the relay publishes every event of the store: at 150 to 250 bytes a
# line (ids, a name, an account), 2,000 lines stay well under Kafka's default 1 MB message limit.
MAX_CHUNK = 2000


def payment_subscribers() -> Subscribers:
    """What runs when payment events are recorded: the read models. A service adds its own
    reactions with `.on(PaymentBatch, …)` before handing them to `payment_units`."""
    return Subscribers().on_commit(refresh)


def payment_units(store: EventStore, subscribers: Subscribers | None = None) -> UnitsOfWork:
    """The payment run's way into a service's store: its own codec and read models, the store's
    transactions. Payment batches belong to the region whose store holds them (never handed off)."""
    store.ensure_tables(TABLES)
    return UnitsOfWork(store, CODEC, subscribers or payment_subscribers())


@dataclass(frozen=True)
class RunResult:
    batch: queries.BatchSummary
    added: int  # lines this call recorded (0 on a rerun of a finished month)
    skipped: int  # dues already in a batch (before a crash, or an earlier month's) or stopped


class PaymentRuns:
    """One service's monthly runs in one region, and the bank's side of its batches."""

    def __init__(self, units: UnitsOfWork, region: str, service: str) -> None:
        # Units that cannot read payment events (a service's own, with its codec) are replaced by
        # payment units over the same store, so either may be passed.
        self.units = units if units.codec.owns(_BATCH_OPENED) else payment_units(units.store)
        self.region = region
        self.service = service

    @property
    def store(self) -> EventStore:
        return self.units.store

    def batch_id(self, month: str) -> str:
        return batch_id_of(self.service, self.region, month)

    # -- the run ---------------------------------------------------------------------------------

    def run(self, month: str, source: DueSource, provenance: Provenance, chunk: int = DEFAULT_CHUNK) -> RunResult:
        """Pay `month`: open (or find) its batch, add every due not paid yet in chunks of `chunk`
        lines, one transaction each, then close it. Safe to call again, after success or a crash."""
        if not 1 <= chunk <= MAX_CHUNK:
            raise ValueError(f"chunk must be 1 to {MAX_CHUNK} lines, not {chunk}")
        batch_id = self.batch_id(check_month(month))
        provenance = provenance.correlated_with(batch_id)
        with self.units.begin(provenance) as uow:
            batch = uow.find(PaymentBatch, batch_id)
            if batch is None:
                uow.start(PaymentBatch, batch_id, PaymentBatch.open(self.service, self.region, month))
            elif batch.state != BatchState.OPEN:
                return RunResult(self._summary(batch_id), 0, 0)
        with self.store.engine.connect() as conn:
            returned = queries.returned_dues(conn, self.service, batch_id, month)
        added = skipped = 0
        for dues in _chunks(_chain(returned, source.due(month)), chunk):
            with self.units.begin(provenance) as uow:
                batch = uow.load(PaymentBatch, batch_id)
                if batch.state != BatchState.OPEN:  # a run beside this one finished the month
                    return RunResult(self._summary(batch_id), added, skipped)
                recorded = queries.recorded_lines(uow.tx.connection, self.service, [d.line_id for d in dues])
                events = batch.add_lines(dues, recorded)
                uow.record(batch, events)
            count = sum(e.line_count for e in events)
            added, skipped = added + count, skipped + len(dues) - count
        with self.units.begin(provenance) as uow:
            batch = uow.load(PaymentBatch, batch_id)
            if batch.state == BatchState.OPEN:
                uow.record(batch, batch.close())
        return RunResult(self._summary(batch_id), added, skipped)

    # -- the bank --------------------------------------------------------------------------------

    # Each step takes the command's client request id (invariant 9), if it has one: a retry of a
    # recorded step records nothing and returns quietly, instead of being refused by its rule.

    def send(self, batch_id: str, provenance: Provenance, request: Request | None = None) -> queries.BatchSummary:
        """The batch goes to the bank, once (BatchSentOnce)."""
        bank.send(self.units, batch_id, provenance, request)
        return self._summary(batch_id)

    def confirm(self, batch_id: str, line_ids: Sequence[str], provenance: Provenance,
                request: Request | None = None) -> None:
        """The bank paid these lines of the batch."""
        bank.confirm(self.units, self.service, batch_id, line_ids, provenance, request)

    def return_(self, line_id: str, reason: str, provenance: Provenance, request: Request | None = None) -> str:
        """The bank returned the line: the next run re-queues it unless it is stopped. Returns the
        id of the batch the line was returned from."""
        return bank.return_(self.units, self.service, line_id, reason, provenance, request)

    def stop(self, line_id: str, reason: str, provenance: Provenance, request: Request | None = None) -> str:
        """A returned line will not be paid again, for `reason`. Returns the id of its batch."""
        return bank.stop(self.units, self.service, line_id, reason, provenance, request)

    # -- reads -----------------------------------------------------------------------------------

    def summary(self, month: str) -> queries.BatchSummary | None:
        with self.store.engine.connect() as conn:
            return queries.batch_summary(conn, self.batch_id(month))

    def batches(self, month: str | None = None) -> list[queries.BatchSummary]:
        """The monthly roll of this region: its batches by month, with counts and totals."""
        with self.store.engine.connect() as conn:
            return [b for b in queries.batches(conn, region=self.region, month=month) if b.service == self.service]

    def roll(self, batch_id: str) -> list[queries.LineRow]:
        """A batch's lines, by line id."""
        with self.store.engine.connect() as conn:
            return list(queries.batch_lines(conn, batch_id))

    def history(self, citizen_id: str) -> list[queries.LineRow]:
        """A person's payment history, by month owed."""
        with self.store.engine.connect() as conn:
            return queries.history(conn, citizen_id)

    def export_csv(self, batch_id: str, out: TextIO, *, mask_accounts: bool = True) -> export.ExportTotals:
        """The roll of a batch as CSV (see export.py); returns the counts and totals written."""
        with self.store.engine.connect() as conn:
            return export.write_csv(conn, batch_id, out, mask_accounts=mask_accounts)

    def _summary(self, batch_id: str) -> queries.BatchSummary:
        with self.store.engine.connect() as conn:
            found = queries.batch_summary(conn, batch_id)
        if found is None:
            raise LookupError(f"no payment batch {batch_id}")
        return found


_BATCH_OPENED = CODEC.type_name(PaymentBatchOpened)


def _chain(first: Iterable[Due], then: Iterable[Due]) -> Iterator[Due]:
    yield from first
    yield from then


def _chunks(dues: Iterator[Due], size: int) -> Iterator[list[Due]]:
    while chunk := list(islice(dues, size)):
        yield chunk
