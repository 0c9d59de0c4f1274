"""Reactions: what the service does when one of its deadlines falls due. Each runs inside the
transaction that records the firing, so its effect commits with it or not at all."""

from __future__ import annotations

from services.common.deadlines import Deadline, DeadlineHandler
from services.common.events import Actor
from services.common.kit import Provenance
from services.common.store import StoreTransaction
from services.disability.application.subscribers import STAGE_DUE
from services.disability.application.unit import Deps
from services.disability.domain.application import Application


def when_a_stage_runs_out_mark_it_overdue(deps: Deps) -> DeadlineHandler:
    """A stage's working-day limit passed with the stage still open: recorded, so the office's
    overdue list shows it (and an auditor sees when)."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            application = uow.find(Application, deadline.case_stream_id, for_write=False)
            if application is not None:
                uow.record(application, application.mark_overdue(deadline.deadline_id))

    return react


def _fired(deps: Deps, deadline: Deadline) -> Provenance:
    """A deadline's reaction: the scheduler acts, caused by the firing, in the case's trace."""
    assert deadline.fired_at is not None
    return Provenance(Actor.system(deps.region, "scheduler"), deadline.correlation_id, deadline.fired_event_id,
                      deadline.fired_at, deadline.trace)


def deadline_handlers(deps: Deps) -> dict[str, DeadlineHandler]:
    """The service's deadline kinds and what fires them, for the DeadlineScheduler."""
    return {STAGE_DUE: when_a_stage_runs_out_mark_it_overdue(deps)}
