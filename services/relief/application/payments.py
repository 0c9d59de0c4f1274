"""What relief owes each month, as the shared monthly payment run takes it (the payments contract:
services/common/payments/due.py, `Due` and `DueSource`). The run itself is the core's; this is only
relief's side: one line per granted household and month, in a stable order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select

from services.common.payments import Due
from services.common.store import EventStore
from services.relief.adapters.payloads import CODEC
from services.relief.domain import dibao as d
from services.relief.domain import dibao_names as case_names
from services.relief.projections.read_models import relief_cases

BENEFIT = "relief.dibao"



class DibaoDues:
    """The DueSource of one region's relief store: every granted (or tapering) household owed for
    the month, from the month after the decision, through the last month of its 渐退期."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def due(self, month: str) -> Iterable[Due]:
        return sorted(self._lines(month), key=lambda line: line.entitlement_id)

    def _lines(self, month: str) -> Iterator[Due]:
        with self.store.engine.connect() as conn:
            case_ids = conn.execute(select(relief_cases.c.case_id).where(
                relief_cases.c.case_type == "dibao",
                relief_cases.c.state.in_((case_names.GRANTED, case_names.TAPERING)))
                .order_by(relief_cases.c.case_id)).scalars().all()
        for case_id in case_ids:
            history = self.store.read_stream(case_id)
            case = d.Dibao.fold((CODEC.decode(e), e.recorded_at) for e in history)
            amount = case.amount_for(month)
            if amount > 0:
                yield Due(entitlement_id=f"{case_id}/dibao", case_id=case_id, citizen_id=case.applicant_citizen_id,
                          name=case.applicant_name, benefit=BENEFIT, month=month, amount_fen=amount,
                          bank_account=case.bank_account)
