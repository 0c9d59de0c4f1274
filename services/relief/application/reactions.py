"""Reactions to the per-person registry's decisions on the members' 低保 places, and to relief's
deadlines, each inside the transaction that fires the deadline: the public
notice ends on its own; any other limit that falls due with its step not done is noted on the case
as overrun (TimeLimitOverrun), so the office's "overdue" queue lists it until the step is done."""

from __future__ import annotations

import logging
from datetime import date

from services.common.clock import china_date
from services.common.deadlines import Deadline, DeadlineHandler
from services.common.events import Actor
from services.common.kit import Provenance
from services.common.registry import DecisionHandler
from services.common.registry.domain import Outcome, RegistryDecision
from services.common.registry.retry import REGISTRY_RETRY_DUE
from services.common.store import StoreTransaction
from services.relief.application.unit import SERVICE, Deps
from services.relief.domain import assistance as a
from services.relief.domain import dibao as d
from services.relief.domain import dibao_names as case_names

log = logging.getLogger(__name__)

# deadline kind → (the aggregate it concerns, the limit's name on the case)
LIMITS: dict[str, tuple[type[d.Dibao] | type[a.Assistance], str]] = {
    case_names.INVESTIGATION_DUE: (d.Dibao, "investigation"),
    case_names.DECISION_DUE: (d.Dibao, "decision"),
    case_names.REFUSAL_NOTICE_DUE: (d.Dibao, "refusal_notice"),
    case_names.REVIEW_DUE: (d.Dibao, "review"),
    a.ASSISTANCE_DECISION_DUE: (a.Assistance, "decision"),
    a.PROOF_DUE: (a.Assistance, "proof"),
}


def _fired(deps: Deps, deadline: Deadline) -> Provenance:
    """The scheduler acts, caused by the firing, in the case's trace."""
    assert deadline.fired_at is not None
    return Provenance(Actor.system(deps.region, "scheduler"), deadline.correlation_id, deadline.fired_event_id,
                      deadline.fired_at, deadline.trace)


def when_the_notice_period_ends_await_the_decision(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        fired = _fired(deps, deadline)
        with deps.units.joining(tx, fired) as uow:
            case = uow.load(d.Dibao, deadline.case_stream_id)
            uow.record(case, case.end_public_notice(china_date(fired.occurred_at)))
    return react


def when_the_taper_off_runs_out_end_the_dibao(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        fired = _fired(deps, deadline)
        with deps.units.joining(tx, fired) as uow:
            case = uow.load(d.Dibao, deadline.case_stream_id)
            uow.record(case, case.end(china_date(fired.occurred_at)))
    return react


def when_a_limit_falls_due_note_the_overrun(deps: Deps, kind: str) -> DeadlineHandler:
    cls, limit = LIMITS[kind]

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        fired = _fired(deps, deadline)
        due_on = date.fromisoformat(deadline.data.decode())
        with deps.units.joining(tx, fired) as uow:
            case = uow.load(cls, deadline.case_stream_id)
            uow.record(case, case.note_overrun(china_date(fired.occurred_at), limit, due_on))
    return react


def when_registry_decides_note_the_members_place(deps: Deps) -> DecisionHandler:
    """A decision on a member's DIBAO claim, addressed to this region's relief service: recorded on
    the case (granted, or denied naming the holder; pending: claimed again later), which the
    county's decision then rests on."""

    def react(tx: StoreTransaction, decision: RegistryDecision) -> None:
        if (decision.region, decision.service) != (deps.region, SERVICE):
            return
        if decision.outcome not in (Outcome.GRANTED, Outcome.DENIED, Outcome.EXPIRED, Outcome.PENDING):
            return  # confirmed and released only acknowledge what this service asked for
        provenance = Provenance(Actor.system(deps.region, "relief"), decision.case_id, decision.decision_id,
                                deps.clock.now(), decision.trace)
        with deps.units.joining(tx, provenance) as uow:
            case = uow.find(d.Dibao, decision.case_id)
            if case is None:
                log.error("registry decision %s names %s, no 低保 case of region %s; ignored",
                          decision.decision_id, decision.case_id, deps.region)
                return
            uow.record(case, case.record_registry_decision(
                decision.citizen_id, decision.claim_id, decision.decision_id,
                outcome=Outcome(decision.outcome).value, holder_case_id=decision.holder_case_id,
                holder_region=decision.holder_region))
    return react


def when_a_place_retry_falls_due_claim_it_again(deps: Deps) -> DeadlineHandler:
    """PendingClaimsAreRetried (services/common/registry/retry.py): the member named in the
    deadline's data is claimed again under the next attempt's claim id."""
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            case = uow.load(d.Dibao, deadline.case_stream_id)
            uow.record(case, case.retry_place(deadline.data.decode(), deadline.deadline_id))
    return react


def deadline_handlers(deps: Deps) -> dict[str, DeadlineHandler]:
    handlers = {kind: when_a_limit_falls_due_note_the_overrun(deps, kind) for kind in LIMITS}
    handlers[case_names.NOTICE_ENDS] = when_the_notice_period_ends_await_the_decision(deps)
    handlers[case_names.TAPER_ENDS] = when_the_taper_off_runs_out_end_the_dibao(deps)
    handlers[REGISTRY_RETRY_DUE] = when_a_place_retry_falls_due_claim_it_again(deps)
    return handlers
