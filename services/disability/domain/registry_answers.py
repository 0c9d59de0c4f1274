"""What a disability application makes of the per-person registry's answers on its subsidies'
claims (one place per subsidy nationwide, 国发〔2015〕52号), pure, apart from application.py so the
aggregate's module stays about its procedure. Each function takes the application as it stands and
returns new events; Application's methods of the same names call them.

- A grant is recorded (and confirmed at once: subscribers.py); reaching a subsidy no longer asked
  it is given back at once.
- A denial (behind a settled hold) or an expiry refuses the subsidy naming the holder; with nothing
  left the application is refused.
- ARefusalRestsOnASettledHold (architecture invariant 9, issue 11): PENDING — the person is held
  for the subsidy by a case not settled yet — is no refusal. The subsidy is claimed again after a
  backoff under a new claim id (PendingClaimsAreRetried, RetriesBackOffWithJitter:
  services/common/registry/retry.py), and refused naming the holder only when RetriesAreBounded
  gives up. One claim per subsidy, each for the one applicant, confirmed as soon as it is granted:
  a case holds nothing the others wait for while it waits itself, so there is no other hold to
  give back."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from services.common.kit.rules import Rule
from services.common.registry import retry
from services.disability.domain import events as ev
from services.disability.domain.rules import OnePlacePerSubsidy
from services.disability.domain.values import ApplicationState, Stage, StopReason, Subsidy, month_of, next_month

if TYPE_CHECKING:
    from services.disability.domain.application import Application


def _refusal(subsidy: Subsidy, stage: Stage, rule: Rule) -> ev.SubsidyRefused:
    return ev.SubsidyRefused(subsidy.value, stage.value, rule.name, rule.article, rule.message)


def _paid(app: Application, subsidy: Subsidy) -> bool:
    """Claimed again on resume: an entitlement still paid."""
    return subsidy in app.entitlements and not app.entitlements[subsidy].stopped


def record_grant(app: Application, claim_id: str, decision_id: str) -> list[Any]:
    subsidy = app.subsidy_of_claim(claim_id)
    if subsidy is None or subsidy in app.claims_granted or subsidy in app.claims_lost or subsidy in app.claim_retries:
        return []  # not ours (an older attempt's holds nothing: it was answered PENDING), or seen before
    granted = ev.SubsidyClaimGranted(subsidy.value, claim_id, decision_id)
    if _paid(app, subsidy) or (app.state is ApplicationState.UNDER_REVIEW and subsidy in app.still_asked):
        return [granted]
    return [granted, ev.SubsidyClaimReleased(subsidy.value, claim_id, "the subsidy was refused meanwhile")]


def record_loss(app: Application, claim_id: str, decision_id: str, *, outcome: str, holder_case_id: str,
                holder_region: str, holder_service: str, on: date) -> list[Any]:
    subsidy = app.subsidy_of_claim(claim_id)
    if subsidy is None or subsidy in app.claims_lost or subsidy in app.claim_retries:
        return []
    if subsidy in app.claims_granted and outcome != "expired":
        return []  # a request is decided once: a denial after its grant is no decision on it
    events: list[Any] = [ev.SubsidyClaimDenied(subsidy.value, claim_id, decision_id, outcome, holder_case_id,
                                               holder_region, holder_service)]
    if _paid(app, subsidy):  # resumed meanwhile held elsewhere: stops again
        return [*events, ev.EntitlementStopped(subsidy.value, StopReason.HELD_ELSEWHERE.value,
                                               next_month(month_of(on)), on, f"registry: {holder_region}", "")]
    if app.state is not ApplicationState.UNDER_REVIEW or subsidy not in app.still_asked:
        return events
    rule = OnePlacePerSubsidy(subsidy, holder_case_id, holder_region, outcome)
    events.append(_refusal(subsidy, app.stage or Stage.TOWNSHIP_REVIEW, rule))
    if [s for s in app.still_asked if s is not subsidy]:
        return events
    return [*events, ev.ApplicationRefused((app.stage or Stage.TOWNSHIP_REVIEW).value, app.office_code, on,
                                           rule.name, rule.article, rule.message),
            *app._releases("the application was refused")]


def record_pending(app: Application, claim_id: str, decision_id: str, *, holder_case_id: str, holder_region: str,
                   holder_service: str, on: date) -> list[Any]:
    subsidy = app.subsidy_of_claim(claim_id)
    if (subsidy is None or subsidy in app.claims_granted or subsidy in app.claims_lost
            or subsidy in app.claim_retries):
        return []
    if not _paid(app, subsidy) and not (app.state is ApplicationState.UNDER_REVIEW and subsidy in app.still_asked):
        return []  # no longer asked: nothing to retry
    attempt = app.claim_attempts.get(subsidy, 1)
    if retry.gives_up(attempt):
        last = ev.SubsidyClaimPending(subsidy.value, claim_id, decision_id, holder_case_id, holder_region,
                                      holder_service, attempt, "", 0)
        return [last, *record_loss(app, claim_id, decision_id, outcome="denied", holder_case_id=holder_case_id,
                                   holder_region=holder_region, holder_service=holder_service, on=on)]
    return [ev.SubsidyClaimPending(subsidy.value, claim_id, decision_id, holder_case_id, holder_region,
                                   holder_service, attempt, retry.retry_deadline_id(claim_id, attempt),
                                   int(retry.retry_backoff(claim_id, attempt).total_seconds() * 1000))]


def retry_claim(app: Application, subsidy: Subsidy, deadline_id: str) -> list[Any]:
    """PendingClaimsAreRetried: the subsidy's retry deadline fired while it is still asked."""
    if app.claim_retries.get(subsidy) != deadline_id:
        return []
    if not _paid(app, subsidy) and not (app.state is ApplicationState.UNDER_REVIEW and subsidy in app.still_asked):
        return []
    return [ev.SubsidyClaimRetried(subsidy.value, app.claim_attempts.get(subsidy, 1) + 1, deadline_id)]
