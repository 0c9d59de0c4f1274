"""A PENDING answer on a subsidy's claim is no refusal (ARefusalRestsOnASettledHold, architecture
invariant 9, issue 11): the subsidy is claimed again under a new claim id when its retry falls due
(PendingClaimsAreRetried), an older attempt's answers count for nothing, and the retries are
bounded (RetriesAreBounded) — then it is refused naming the holder (国发〔2015〕52号: one place only)."""

from __future__ import annotations

from datetime import date

from services.common.registry import retry
from services.disability.domain import events as ev
from services.disability.domain.application import Application, claim_id_for
from services.disability.domain.values import ApplicationState, Subsidy
from tests.unit.disability.people import folded, received

ON = date(2026, 3, 11)
HOLDER = {"holder_case_id": "disability-510000-abc", "holder_region": "510000", "holder_service": "disability"}


def _pending(app: Application, subsidy: Subsidy) -> tuple[Application, ev.SubsidyClaimPending]:
    [pending] = app.record_pending(app.claim_id(subsidy), "p", on=ON, **HOLDER)
    assert isinstance(pending, ev.SubsidyClaimPending)
    return app.applied([pending]), pending


def test_pending_then_retry_then_granted_is_no_refusal() -> None:
    app = folded(received())
    first = claim_id_for(app.case_id, Subsidy.NURSING)
    app, pending = _pending(app, Subsidy.NURSING)
    assert pending.retry_deadline_id and pending.retry_after_ms >= 2000 and pending.holder_case_id == HOLDER[
        "holder_case_id"]
    assert Subsidy.NURSING not in app.refused and app.state is ApplicationState.UNDER_REVIEW
    assert app.record_pending(first, "p", on=ON, **HOLDER) == [], "a redelivery"
    [retried] = app.retry_claim(Subsidy.NURSING, pending.retry_deadline_id)
    app = app.applied([retried])
    assert app.retry_claim(Subsidy.NURSING, pending.retry_deadline_id) == [], "a deadline fires once"
    assert app.claim_id(Subsidy.NURSING) == retry.claim_id_of_attempt(first, 2)
    assert app.record_loss(first, "d-old", outcome="denied", on=ON, **HOLDER) == [], "an older attempt's"
    [granted] = app.record_grant(app.claim_id(Subsidy.NURSING), "g-2")
    assert isinstance(granted, ev.SubsidyClaimGranted) and granted.claim_id.endswith("-r2")


def test_retries_are_bounded_and_the_last_pending_refuses_naming_the_holder_52hao() -> None:
    app = folded(received(living=False))
    for _ in range(retry.MAX_ATTEMPTS - 1):
        app, pending = _pending(app, Subsidy.NURSING)
        app = app.applied(app.retry_claim(Subsidy.NURSING, pending.retry_deadline_id))
    events = app.record_pending(app.claim_id(Subsidy.NURSING), "p", on=ON, **HOLDER)
    assert isinstance(events[0], ev.SubsidyClaimPending) and events[0].retry_deadline_id == ""
    app = app.applied(events)
    assert app.state is ApplicationState.REFUSED and app.refusal is not None
    assert "disability-510000-abc" in app.refusal.reason
