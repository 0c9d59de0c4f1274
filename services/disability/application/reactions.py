"""Reactions: what the service does when the registry decides on one of its claims, and when one of
its deadlines falls due. Each runs inside the transaction that records its cause (the decision
through the inbox, the deadline's firing), so its effect commits with it or not at all."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from services.common.calendars import CALENDAR_PUBLISHED
from services.common.clock import china_date
from services.common.deadlines import PENDING, Deadline, DeadlineHandler
from services.common.deadlines import deadlines as deadlines_table
from services.common.events import Actor
from services.common.kit import Provenance
from services.common.registry.domain import Outcome, RegistryDecision
from services.common.registry.retry import REGISTRY_RETRY_DUE
from services.common.store import StoreTransaction
from services.disability.application.subscribers import STAGE_DUE
from services.disability.application.unit import SERVICE, Deps
from services.disability.domain.application import Application
from services.disability.domain.values import Subsidy

log = logging.getLogger(__name__)


def when_registry_decides_hold_or_refuse_the_subsidy(deps: Deps) -> Callable[[StoreTransaction, RegistryDecision],
                                                                              None]:
    """A registry decision addressed to this region's disability service: a grant is recorded (and
    confirmed, subscribers.py); a denial refuses that subsidy naming where the person enjoys it."""

    def react(tx: StoreTransaction, decision: RegistryDecision) -> None:
        if (decision.region, decision.service) != (deps.region, SERVICE):
            return  # addressed to another region or service: only the registry view cares
        provenance = Provenance(Actor.system(deps.region, "disability"), decision.case_id, decision.decision_id,
                                deps.clock.now(), decision.trace)
        with deps.units.joining(tx, provenance) as uow:
            app = uow.find(Application, decision.case_id)
            if app is None:
                log.error("registry decision %s names case %s, which is no disability application of region %s",
                          decision.decision_id, decision.case_id, deps.region)
                return
            if decision.outcome == Outcome.GRANTED:
                events = app.record_grant(decision.claim_id, decision.decision_id)
            elif decision.outcome in (Outcome.DENIED, Outcome.EXPIRED):
                events = app.record_loss(decision.claim_id, decision.decision_id, outcome=decision.outcome,
                                         holder_case_id=decision.holder_case_id,
                                         holder_region=decision.holder_region,
                                         holder_service=decision.holder_service,
                                         on=china_date(provenance.occurred_at))
            elif decision.outcome == Outcome.PENDING:  # ARefusalRestsOnASettledHold: no refusal, a retry
                events = app.record_pending(decision.claim_id, decision.decision_id,
                                            holder_case_id=decision.holder_case_id,
                                            holder_region=decision.holder_region,
                                            holder_service=decision.holder_service,
                                            on=china_date(provenance.occurred_at))
            else:
                events = []  # confirmed and released only acknowledge what this service asked for
            uow.record(app, events)

    return react


def when_a_stage_runs_out_mark_it_overdue(deps: Deps) -> DeadlineHandler:
    """A stage's working-day limit passed with the stage still open: recorded, so the office's
    overdue list shows it (and an auditor sees when)."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            application = uow.find(Application, deadline.case_stream_id, for_write=False)
            if application is not None:
                uow.record(application, application.mark_overdue(deadline.deadline_id))

    return react


def when_a_calendar_notice_is_recorded_recompute_stage_limits(deps: Deps) -> DeadlineHandler:
    """A year's holiday notice was recorded (国务院办公厅 放假安排): every application with a pending
    stage deadline gets its stage's last working day on the calendar now in force."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        calendar = deps.calendar(tx)
        fired = _fired(deps, deadline)
        pending = tx.connection.execute(
            select(deadlines_table.c.case_stream_id).distinct()
            .where(deadlines_table.c.state == PENDING, deadlines_table.c.kind == STAGE_DUE)
            .order_by(deadlines_table.c.case_stream_id)).scalars().all()
        with deps.units.joining(tx, fired) as uow:
            for case_id in pending:
                app = uow.find(Application, case_id, for_write=False)
                if app is not None:
                    uow.record(app, app.recompute_stage_due(calendar), provenance=fired.correlated_with(case_id))

    return react


def _fired(deps: Deps, deadline: Deadline) -> Provenance:
    """A deadline's reaction: the scheduler acts, caused by the firing, in the case's trace."""
    assert deadline.fired_at is not None
    return Provenance(Actor.system(deps.region, "scheduler"), deadline.correlation_id, deadline.fired_event_id,
                      deadline.fired_at, deadline.trace)


def when_a_claim_retry_falls_due_claim_again(deps: Deps) -> DeadlineHandler:
    """PendingClaimsAreRetried (services/common/registry/retry.py): the subsidy named in the
    deadline's data is claimed again under the next attempt's claim id."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            app = uow.load(Application, deadline.case_stream_id)
            uow.record(app, app.retry_claim(Subsidy(deadline.data.decode()), deadline.deadline_id))

    return react


def deadline_handlers(deps: Deps) -> dict[str, DeadlineHandler]:
    """The service's deadline kinds and what fires them, for the DeadlineScheduler."""
    return {STAGE_DUE: when_a_stage_runs_out_mark_it_overdue(deps),
            CALENDAR_PUBLISHED: when_a_calendar_notice_is_recorded_recompute_stage_limits(deps),
            REGISTRY_RETRY_DUE: when_a_claim_retry_falls_due_claim_again(deps)}
