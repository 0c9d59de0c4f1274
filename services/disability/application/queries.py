"""Reading: an application with its entitlements (folded from the event store itself), and an
office's work queues and overdue list (from the read model)."""

from __future__ import annotations

from services.common.clock import china_date
from services.common.deadline_adherence import OfficeDeadlines, count_deadlines
from services.common.errors import FieldViolation, InvalidArgument, NotFound
from services.common.events import RecordedEvent
from services.disability.adapters.payloads import CODEC
from services.disability.application.subscribers import STAGE_DUE
from services.disability.application.unit import Deps
from services.disability.domain.application import STREAM_TYPE, Application
from services.disability.domain.matching import MATCH_STREAM_TYPE, DataMatch
from services.disability.domain.values import ApplicationState, Stage
from services.disability.projections.read_models import WorkItem, disability_cases, list_work


def get_case(deps: Deps, case_id: str) -> Application:
    if not case_id:
        raise InvalidArgument.single("case_id", "required")
    history = deps.store.read_stream(case_id)
    if not history or history[0].stream_type != STREAM_TYPE:
        raise NotFound("disability application", case_id)
    return Application.fold((CODEC.decode(e), e.recorded_at) for e in history)


def case_history(deps: Deps, case_id: str) -> list[RecordedEvent]:
    """The case's events as recorded here, oldest first (for its history and its thread)."""
    return deps.store.read_stream(case_id)


def office_work(deps: Deps, *, office: str, stage: str = "", overdue_only: bool = False) -> list[WorkItem]:
    """An office's (or a county's) open applications, due first; overdue ones only if asked. A
    stage whose last day has passed counts as overdue even before the scheduler's firing is seen."""
    if not office:
        raise InvalidArgument.single("office_code", "required")
    if stage and stage not in {s.value for s in Stage}:
        raise InvalidArgument([FieldViolation("stage", f"one of {', '.join(s.value for s in Stage)}")])
    today = china_date(deps.clock.now())
    with deps.store.engine.connect() as conn:
        return list_work(conn, office=office, stage=stage, overdue_only=overdue_only, today=today)


def match_affected(deps: Deps, match_id: str) -> list[str]:
    """The applications a recorded finding acted on."""
    history = deps.store.read_stream(match_id)
    if not history or history[0].stream_type != MATCH_STREAM_TYPE:
        raise NotFound("data match", match_id)
    return DataMatch.fold((CODEC.decode(e), e.recorded_at) for e in history).affected


def deadline_adherence(deps: Deps, *, office_prefix: str) -> list[OfficeDeadlines]:
    """Per office: applications decided within their stages' working-day limits (国发〔2015〕52号 三)
    or after one ran out, and the open ones on time or overdue. A stage limit is the only kind."""
    with deps.store.engine.connect() as conn:
        return count_deadlines(conn, disability_cases, office_prefix=office_prefix, limit_kinds=(STAGE_DUE,),
                               decided_states=(ApplicationState.APPROVED.value, ApplicationState.REFUSED.value))
