"""Reactions: what the service does when the registry decides on one of its claims, and when one of
its deadlines falls due. Each runs inside the transaction that records its cause (the registry
decision through the inbox, the deadline's firing), so the effect commits with it or not at all."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

from services.common.deadlines import Deadline, DeadlineHandler
from services.common.events import Actor
from services.common.registry.domain import RegistryDecision
from services.common.store import StoreTransaction
from services.marriage.application.unit import (
    SERVICE,
    Cause,
    Deps,
    append,
    divorce_deadline_effects,
    issue_certificate_number,
    load_divorce,
    load_marriage,
    marriage_registry_effects,
    refresh_read_models,
)
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain import marriage as marriage_module
from services.marriage.domain.events import DivorceDeemedWithdrawn, MarriageEvent
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import CERTIFICATE_WINDOW_ENDS, COOLING_OFF_ENDS
from services.marriage.domain.values import Document, china_date

log = logging.getLogger(__name__)

_COMPONENT = "marriage"


def when_registry_decides_register_or_refuse(deps: Deps) -> Callable[[StoreTransaction, RegistryDecision], None]:
    """The reaction to a registry decision addressed to this region's marriage service: register
    the marriage when both persons are granted (issuing its certificate number and confirming both
    holds), or refuse it on a denial, naming the holder and giving back the other hold."""

    def react(tx: StoreTransaction, decision: RegistryDecision) -> None:
        if (decision.region, decision.service) != (deps.region, SERVICE):
            return  # addressed to another region or service: only the registry view cares
        stream = tx.read_stream(decision.case_id)
        if not stream or stream[0].stream_type != marriage_module.STREAM_TYPE:
            log.error("registry decision %s names case %s, which is no marriage of region %s; ignored",
                      decision.decision_id, decision.case_id, deps.region)
            return
        marriage = load_marriage(tx, decision.case_id)
        now = deps.clock.now()
        cause = Cause(Actor.system(deps.region, _COMPONENT), marriage.case_id, decision.decision_id, now,
                      decision.trace)
        events = _decide(tx, marriage, decision, cause)
        if not events:
            return
        append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version, events, cause)
        marriage_registry_effects(tx, marriage, events, cause)
        refresh_read_models(tx, marriage.case_id)

    return react


def _decide(tx: StoreTransaction, marriage: Marriage, decision: RegistryDecision,
            cause: Cause) -> list[MarriageEvent]:
    if decision.outcome == "granted":
        events = marriage.record_grant(decision.claim_id, decision.decision_id)
        after = _applied(marriage, events)
        if after.ready_to_register:
            today = china_date(cause.occurred_at)
            number = issue_certificate_number(tx, document=Document.MARRIAGE_CERTIFICATE,
                                              office_code=marriage.office_code, on=today,
                                              case_id=marriage.case_id, cause=cause)
            events = [*events, *after.register(number, today)]
        return events
    if decision.outcome in ("denied", "expired"):
        return marriage.record_loss(decision.claim_id, decision.decision_id, outcome=decision.outcome,
                                    holder_case_id=decision.holder_case_id, holder_region=decision.holder_region,
                                    holder_service=decision.holder_service)
    return []  # confirmed and released only acknowledge what this service asked for


def _applied(marriage: Marriage, events: list[MarriageEvent]) -> Marriage:
    """A copy of the marriage with `events` applied, leaving the loaded one as the base for the
    expected version."""
    after = copy.deepcopy(marriage)
    for event in events:
        after.apply(event)
    return after


# -- deadlines ----------------------------------------------------------------------------------


def when_cooling_off_ends_open_certificate_window(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        divorce = load_divorce(tx, deadline.case_stream_id)
        events = divorce.end_cooling_off(deadline_id=deadline.deadline_id, calendar=deps.settings.calendar)
        if not events:
            return
        cause = _deadline_cause(deps, deadline)
        append(tx, divorce.case_id, divorce_module.STREAM_TYPE, divorce.version, events, cause)
        divorce_deadline_effects(tx, divorce, divorce.case_id, events, cause)
        refresh_read_models(tx, divorce.case_id)

    return react


def when_certificate_window_ends_deem_divorce_withdrawn(deps: Deps) -> DeadlineHandler:
    def react(tx: StoreTransaction, deadline: Deadline) -> None:
        divorce = load_divorce(tx, deadline.case_stream_id)
        assert deadline.fired_at is not None
        events = divorce.end_certificate_window(deadline_id=deadline.deadline_id, calendar=deps.settings.calendar,
                                                today=china_date(deadline.fired_at))
        if not events:
            return
        cause = _deadline_cause(deps, deadline)
        append(tx, divorce.case_id, divorce_module.STREAM_TYPE, divorce.version, events, cause)
        divorce_deadline_effects(tx, divorce, divorce.case_id, events, cause)
        touched = [divorce.case_id]
        if any(isinstance(e, DivorceDeemedWithdrawn) for e in events):
            marriage = load_marriage(tx, divorce.marriage_case_id)
            closed = marriage.close_divorce(divorce.case_id, "deemed_withdrawn")
            if closed:
                append(tx, marriage.case_id, marriage_module.STREAM_TYPE, marriage.version, closed, cause)
            touched.append(marriage.case_id)
        refresh_read_models(tx, *touched)

    return react


def _deadline_cause(deps: Deps, deadline: Deadline) -> Cause:
    assert deadline.fired_at is not None
    return Cause(Actor.system(deps.region, "scheduler"), deadline.correlation_id, deadline.fired_event_id,
                 deadline.fired_at, deadline.trace)


def deadline_handlers(deps: Deps) -> dict[str, DeadlineHandler]:
    """The service's deadline kinds and what fires them, for the DeadlineScheduler."""
    return {
        COOLING_OFF_ENDS: when_cooling_off_ends_open_certificate_window(deps),
        CERTIFICATE_WINDOW_ENDS: when_certificate_window_ends_deem_divorce_withdrawn(deps),
    }
