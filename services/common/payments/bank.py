"""The bank's side of a batch: sent once, then confirmed or returned line by line; a returned
line is re-queued by the next run or stopped with a reason. Each step is one transaction that
loads the batch, reads the facts it decides on from `payment_lines`, and records."""

from __future__ import annotations

from collections.abc import Sequence

from services.common.errors import NotFound
from services.common.kit import Provenance, UnitsOfWork
from services.common.payments import queries
from services.common.payments.batch import PaymentBatch


def send(units: UnitsOfWork, batch_id: str, provenance: Provenance) -> None:
    with units.begin(provenance.correlated_with(batch_id)) as uow:
        batch = uow.load(PaymentBatch, batch_id)
        uow.record(batch, batch.send())


def confirm(units: UnitsOfWork, service: str, batch_id: str, line_ids: Sequence[str], provenance: Provenance) -> None:
    with units.begin(provenance.correlated_with(batch_id)) as uow:
        batch = uow.load(PaymentBatch, batch_id)
        recorded = queries.recorded_lines(uow.tx.connection, service, line_ids)
        uow.record(batch, batch.confirm(line_ids, recorded))


def return_(units: UnitsOfWork, service: str, line_id: str, reason: str, provenance: Provenance) -> None:
    with units.begin(provenance) as uow:
        recorded = queries.recorded_lines(uow.tx.connection, service, [line_id]).get(line_id)
        if recorded is None:
            raise NotFound("payment line", line_id)
        batch = uow.load(PaymentBatch, recorded.batch_id)
        uow.record(batch, batch.return_(line_id, reason, recorded),
                   provenance=provenance.correlated_with(batch.batch_id))


def stop(units: UnitsOfWork, service: str, line_id: str, reason: str, provenance: Provenance) -> None:
    with units.begin(provenance) as uow:
        recorded = queries.recorded_lines(uow.tx.connection, service, [line_id]).get(line_id)
        if recorded is None:
            raise NotFound("payment line", line_id)
        batch = uow.load(PaymentBatch, recorded.batch_id)
        uow.record(batch, batch.stop(line_id, reason, recorded),
                   provenance=provenance.correlated_with(batch.batch_id))
