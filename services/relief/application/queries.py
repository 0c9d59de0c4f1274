"""Reads of relief: a case with its history, an office's work queues, the cases naming a person."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import InvalidArgument, NotFound
from services.common.events import RecordedEvent
from services.relief.adapters.payloads import CODEC
from services.relief.application.unit import Deps
from services.relief.domain.assistance import Assistance
from services.relief.domain.dibao import Dibao
from services.relief.projections.read_models import QUEUES, CaseRow, cases_of_person, list_cases

MAX_PAGE = 500


@dataclass(frozen=True)
class CaseWithHistory:
    case: Dibao | Assistance
    history: list[RecordedEvent]


def get_case(deps: Deps, case_id: str) -> CaseWithHistory:
    if not case_id:
        raise InvalidArgument.single("case_id", "required")
    history = deps.store.read_stream(case_id)
    kinds = {Dibao.stream_type: Dibao, Assistance.stream_type: Assistance}
    if not history or history[0].stream_type not in kinds:
        raise NotFound("case", case_id)
    cls = kinds[history[0].stream_type]
    return CaseWithHistory(cls.fold((CODEC.decode(e), e.recorded_at) for e in history), history)


def office_queue(deps: Deps, *, office_code: str, queue: str = "", page_size: int = 0) -> list[CaseRow]:
    if queue and queue != "overdue" and queue not in QUEUES:
        raise InvalidArgument.single("queue", f"one of overdue, {', '.join(QUEUES)}")
    if page_size < 0 or page_size > MAX_PAGE:
        raise InvalidArgument.single("page_size", f"0 to {MAX_PAGE}")
    with deps.store.engine.connect() as conn:
        return list_cases(conn, office_code=office_code, queue=queue, limit=page_size or 50)


def household(deps: Deps, citizen_id: str) -> list[CaseRow]:
    if not citizen_id:
        raise InvalidArgument.single("citizen_id", "required")
    with deps.store.engine.connect() as conn:
        return cases_of_person(conn, citizen_id)
