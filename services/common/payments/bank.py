"""The bank's side of a batch: sent once, then confirmed or returned line by line; a returned
line is re-queued by the next run or stopped with a reason. Each step is one transaction that
loads the batch, reads the facts it decides on from `payment_lines`, and records. With a client
request id (invariant 9), a retry of a recorded step records nothing: its answer is the batch id."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import NotFound
from services.common.kit import Provenance, Request, UnitOfWork, UnitsOfWork
from services.common.payments import queries
from services.common.payments.batch import PaymentBatch
from services.common.payments.events import RecordedLine


def send(units: UnitsOfWork, batch_id: str, provenance: Provenance, request: Request | None = None) -> str:
    with units.begin(provenance.correlated_with(batch_id), request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        batch = uow.load(PaymentBatch, batch_id)
        uow.record(batch, batch.send())
        return uow.answer(batch_id)


def confirm(units: UnitsOfWork, service: str, batch_id: str, line_ids: Sequence[str], provenance: Provenance,
            request: Request | None = None) -> str:
    with units.begin(provenance.correlated_with(batch_id), request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        batch = uow.load(PaymentBatch, batch_id)
        recorded = queries.recorded_lines(uow.tx.connection, service, line_ids)
        uow.record(batch, batch.confirm(line_ids, recorded))
        return uow.answer(batch_id)


def return_(units: UnitsOfWork, service: str, line_id: str, reason: str, provenance: Provenance,
            request: Request | None = None) -> str:
    with units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        batch, recorded = _batch_of_line(uow, service, line_id)
        uow.record(batch, batch.return_(line_id, reason, recorded),
                   provenance=provenance.correlated_with(batch.batch_id))
        return uow.answer(batch.batch_id)


def stop(units: UnitsOfWork, service: str, line_id: str, reason: str, provenance: Provenance,
         request: Request | None = None) -> str:
    with units.begin(provenance, request=request) as uow:
        if uow.first_answer:
            return uow.first_answer
        batch, recorded = _batch_of_line(uow, service, line_id)
        uow.record(batch, batch.stop(line_id, reason, recorded),
                   provenance=provenance.correlated_with(batch.batch_id))
        return uow.answer(batch.batch_id)


def _batch_of_line(uow: UnitOfWork, service: str, line_id: str) -> tuple[PaymentBatch, RecordedLine]:
    """The batch holding the line now, and where the line is."""
    recorded = queries.recorded_lines(uow.tx.connection, service, [line_id]).get(line_id)
    if recorded is None:
        raise NotFound("payment line", line_id)
    return uow.load(PaymentBatch, recorded.batch_id), recorded
