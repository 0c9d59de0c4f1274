"""The disability service's side of the shared monthly payment run: a `DueSource` over the
entitlements read model (the payment contract, services/common/payments/due.py).

`due(month)` gives every line the run of `month` should pay in this region: each entitlement's
month itself, and back-pay months as their own lines (domain/entitlements.py says which), in a
stable order (entitlement id, then month). The run pays each (entitlement, month) once, so a line
offered by two runs is paid by the first."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from services.common.payments import Due
from services.common.store import EventStore
from services.disability.domain.values import is_month
from services.disability.projections.read_models import disability_entitlements, entitlement_of

BENEFITS = {"living": "disability.living", "nursing": "disability.nursing"}
_PAGE = 2000



class DisabilityDueSource:
    """The lines owed in one region's disability store, read page by page (a region may hold
    hundreds of thousands of entitlements)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def due(self, month: str) -> Iterator[Due]:
        if not is_month(month):
            raise ValueError(f"a month reads YYYY-MM, not {month!r}")
        table = disability_entitlements
        after = ""
        while True:
            with self.store.engine.connect() as conn:
                page = conn.execute(select(table).where(table.c.entitlement_id > after,
                                                        table.c.start_month <= month)
                                    .order_by(table.c.entitlement_id).limit(_PAGE)).all()
            for row in page:
                for owed in entitlement_of(row).owed_in_run(month):
                    yield Due(row.entitlement_id, row.case_id, row.citizen_id, row.name, BENEFITS[row.subsidy],
                              owed.month, owed.amount_fen, row.bank_account)
            if len(page) < _PAGE:
                return
            after = page[-1].entitlement_id
