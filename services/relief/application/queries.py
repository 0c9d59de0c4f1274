"""Reads of relief: a case with its history, an office's work queues, the cases naming a person."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.clock import china_date
from services.common.deadline_adherence import OfficeDeadlines, count_deadlines
from services.common.errors import InvalidArgument, NotFound
from services.common.events import Actor, RecordedEvent
from services.common.identity.case_ids import new_case_id
from services.relief.adapters.payloads import CODEC
from services.relief.application.unit import Deps, command
from services.relief.domain import assistance, dibao_names
from services.relief.domain.assistance import Assistance
from services.relief.domain.dibao import Dibao
from services.relief.domain.reads import HouseholdRead, view_household
from services.relief.projections.read_models import QUEUES, CaseRow, cases_of_person, list_cases, relief_cases

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
    if queue and queue not in ("overdue", "dibao_review_requested") and queue not in QUEUES:
        raise InvalidArgument.single("queue", f"one of overdue, dibao_review_requested, {', '.join(QUEUES)}")
    if page_size < 0 or page_size > MAX_PAGE:
        raise InvalidArgument.single("page_size", f"0 to {MAX_PAGE}")
    with deps.store.engine.connect() as conn:
        return list_cases(conn, office_code=office_code, queue=queue, limit=page_size or 50)


def household(deps: Deps, citizen_id: str, reason: str, actor: Actor) -> list[CaseRow]:
    """The cases naming a person; the read is authorised by the caller's role and recorded with its
    reason, in the transaction that reads (invariant 8)."""
    if not citizen_id:
        raise InvalidArgument.single("citizen_id", "required")
    read_id = new_case_id("household-read", deps.region)
    provenance = command(deps, actor, read_id)
    with deps.units.begin(provenance) as uow:
        rows = cases_of_person(uow.tx.connection, citizen_id)
        uow.start(HouseholdRead, read_id, view_household(
            read_id=read_id, citizen_id=citizen_id, reason=reason, role=actor.role,
            allowed=deps.settings.household_view_roles, cases_shown=len(rows),
            today=china_date(provenance.occurred_at)))
    return rows


# The procedure's limits: a step not done by them makes a case late. A public notice that ends, a
# periodic review coming due and a 渐退期 running out fire by design and are not lateness.
LIMIT_KINDS = (dibao_names.INVESTIGATION_DUE, dibao_names.DECISION_DUE, dibao_names.REFUSAL_NOTICE_DUE,
               assistance.ASSISTANCE_DECISION_DUE, assistance.PROOF_DUE)
DECIDED_STATES = (dibao_names.GRANTED, dibao_names.REFUSED, dibao_names.REFUSAL_NOTIFIED, dibao_names.TAPERING,
                  dibao_names.ENDED, assistance.REFERRED)  # assistance.GRANTED and REFUSED are the same words


def deadline_adherence(deps: Deps, *, office_prefix: str) -> list[OfficeDeadlines]:
    """Per office: 低保 and 临时救助 cases decided within their limits (民发〔2021〕57号, 国发〔2014〕47号)
    or after one ran out, and the open ones on time or overdue."""
    with deps.store.engine.connect() as conn:
        return count_deadlines(conn, relief_cases, office_prefix=office_prefix, limit_kinds=LIMIT_KINDS,
                               decided_states=DECIDED_STATES)
