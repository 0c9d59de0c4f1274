"""Reactions: what the service does when the registry decides on one of its claims, and when one of
its deadlines falls due. Each runs inside the transaction that records its cause (the registry
decision through the inbox, the deadline's firing), so the effect commits with it or not at all."""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from services.common.calendars import CALENDAR_PUBLISHED
from services.common.clock import china_date
from services.common.deadlines import PENDING, Deadline, DeadlineHandler
from services.common.deadlines import deadlines as deadlines_table
from services.common.events import Actor
from services.common.kit import Provenance, UnitOfWork
from services.common.registry.domain import Outcome, RegistryDecision
from services.common.registry.retry import REGISTRY_RETRY_DUE
from services.common.store import StoreTransaction
from services.marriage.application.handlers import close_divorce
from services.marriage.application.unit import SERVICE, Deps, issue_certificate_number
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import DivorceDeemedWithdrawn, MarriageEvent
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import CERTIFICATE_WINDOW_ENDS, COOLING_OFF_ENDS, DEADLINE_KINDS
from services.marriage.domain.values import Document

log = logging.getLogger(__name__)

_COMPONENT = "marriage"


def when_registry_decides_register_or_refuse(deps: Deps) -> Callable[[StoreTransaction, RegistryDecision], None]:
    """The reaction to a registry decision addressed to this region's marriage service: register
    the marriage when both persons are granted (issuing its certificate number and confirming both
    holds), or refuse it on a denial, naming the holder and giving back the other hold."""

    def react(tx: StoreTransaction, decision: RegistryDecision) -> None:
        if (decision.region, decision.service) != (deps.region, SERVICE):
            return  # addressed to another region or service: only the registry view cares
        provenance = Provenance(Actor.system(deps.region, _COMPONENT), decision.case_id, decision.decision_id,
                                deps.clock.now(), decision.trace)
        with deps.units.joining(tx, provenance) as uow:
            marriage = uow.find(Marriage, decision.case_id)
            if marriage is None:
                log.error("registry decision %s names case %s, which is no marriage of region %s; ignored",
                          decision.decision_id, decision.case_id, deps.region)
                return
            uow.record(marriage, _decide(uow, marriage, decision))

    return react


def _decide(uow: UnitOfWork, marriage: Marriage, decision: RegistryDecision) -> list[MarriageEvent]:
    if decision.outcome == Outcome.GRANTED:
        events = marriage.record_grant(decision.claim_id, decision.decision_id)
        after = marriage.applied(events)
        if after.ready_to_register:
            today = china_date(uow.provenance.occurred_at)
            number = issue_certificate_number(uow, document=Document.MARRIAGE_CERTIFICATE,
                                              office_code=marriage.office_code, on=today, case_id=marriage.case_id)
            events = [*events, *after.register(number, today)]
        return events
    if decision.outcome in (Outcome.DENIED, Outcome.EXPIRED):
        return marriage.record_loss(decision.claim_id, decision.decision_id, outcome=decision.outcome,
                                    holder_case_id=decision.holder_case_id, holder_region=decision.holder_region,
                                    holder_service=decision.holder_service)
    if decision.outcome == Outcome.PENDING:  # ARefusalRestsOnASettledHold: no refusal, a retry
        return marriage.record_pending(decision.claim_id, decision.decision_id,
                                       holder_case_id=decision.holder_case_id, holder_region=decision.holder_region,
                                       holder_service=decision.holder_service)
    return []  # confirmed and released only acknowledge what this service asked for


# -- deadlines ----------------------------------------------------------------------------------


def when_cooling_off_ends_open_certificate_window(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            divorce = uow.load(Divorce, deadline.case_stream_id)
            uow.record(divorce, divorce.end_cooling_off(deadline_id=deadline.deadline_id,
                                                        calendar=deps.calendar(tx)))

    return react


def when_certificate_window_ends_deem_divorce_withdrawn(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        assert deadline.fired_at is not None
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            divorce = uow.load(Divorce, deadline.case_stream_id)
            events = divorce.end_certificate_window(deadline_id=deadline.deadline_id,
                                                    calendar=deps.calendar(tx))
            if any(isinstance(e, DivorceDeemedWithdrawn) for e in events):
                close_divorce(uow, divorce, events, "deemed_withdrawn")
            else:
                uow.record(divorce, events)

    return react


def when_a_calendar_notice_is_recorded_recompute_divorce_periods(deps: Deps) -> DeadlineHandler:
    """A year's notice was recorded (国务院办公厅 放假安排): every divorce with a pending period
    deadline gets the period's last day on the calendar now in force (民法典 第二百零三条). An end
    that moved — later, or earlier than the provisional day — moves its deadline there; the others
    stay as they are."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        calendar = deps.calendar(tx)
        fired = _fired(deps, deadline)
        pending = tx.connection.execute(
            select(deadlines_table.c.case_stream_id).distinct()
            .where(deadlines_table.c.state == PENDING, deadlines_table.c.kind.in_(DEADLINE_KINDS))
            .order_by(deadlines_table.c.case_stream_id)).scalars().all()
        with deps.units.joining(tx, fired) as uow:
            for case_id in pending:
                divorce = uow.find(Divorce, case_id)
                if divorce is not None:
                    uow.record(divorce, divorce.recompute_period_end(calendar=calendar),
                               provenance=fired.correlated_with(case_id))

    return react


def _fired(deps: Deps, deadline: Deadline) -> Provenance:
    """A deadline's reaction: the scheduler acts, caused by the firing, in the case's trace."""
    assert deadline.fired_at is not None
    return Provenance(Actor.system(deps.region, "scheduler"), deadline.correlation_id, deadline.fired_event_id,
                      deadline.fired_at, deadline.trace)


def when_a_registry_retry_falls_due_claim_again(deps: Deps) -> DeadlineHandler:
    """PendingClaimsAreRetried: the next attempt claims both parties under new claim ids."""

    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        with deps.units.joining(tx, _fired(deps, deadline)) as uow:
            marriage = uow.load(Marriage, deadline.case_stream_id)
            uow.record(marriage, marriage.retry_claims(deadline.deadline_id))

    return react


def deadline_handlers(deps: Deps) -> dict[str, DeadlineHandler]:
    """The service's deadline kinds and what fires them, for the DeadlineScheduler."""
    return {
        COOLING_OFF_ENDS: when_cooling_off_ends_open_certificate_window(deps),
        CERTIFICATE_WINDOW_ENDS: when_certificate_window_ends_deem_divorce_withdrawn(deps),
        CALENDAR_PUBLISHED: when_a_calendar_notice_is_recorded_recompute_divorce_periods(deps),
        REGISTRY_RETRY_DUE: when_a_registry_retry_falls_due_claim_again(deps),
    }
