"""A 低保 case's members' places in the per-person registry (claim kind DIBAO): what the case makes
of the registry's answers, and the retries after a PENDING answer. Pure, as dibao.py; apart so the
aggregate's module stays about its procedure.

- An answer for a claim no longer waited for (the case was decided meanwhile, an older attempt's
  claim, a redelivery, a member whose retry is scheduled) changes nothing.
- ARefusalRestsOnASettledHold (architecture invariant 9, issue 11): PENDING — the member is held
  by a case that is not settled yet — is no refusal. The place is claimed again after a backoff
  under a new claim id (PendingClaimsAreRetried, RetriesBackOffWithJitter:
  services/common/registry/retry.py), and denied naming the holder only when RetriesAreBounded
  gives up. Each member is retried on its own: the case gives back no other member's place, so
  two households each holding a member the other waits for settle only when one of them is
  decided (or the retries are spent) — a cycle the marriage service dissolves by giving back, and
  which households sharing members make rare."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.common.registry import retry
from services.relief.domain import events as ev
from services.relief.domain.dibao_names import PLACE_REQUESTED, retry_deadline_id

if TYPE_CHECKING:
    from services.relief.domain.dibao import Dibao


def record_answer(case: Dibao, citizen_id: str, claim_id: str, decision_id: str, *, outcome: str,
                  holder_case_id: str, holder_region: str) -> list[Any]:
    if (case.places.get(citizen_id) != PLACE_REQUESTED or claim_id != case.place_claim_id(citizen_id)
            or citizen_id in case.place_retries):
        return []
    if outcome == "granted":
        return [ev.MemberPlaceGranted(citizen_id=citizen_id, claim_id=claim_id, decision_id=decision_id)]
    denied = ev.MemberPlaceDenied(citizen_id=citizen_id, claim_id=claim_id, decision_id=decision_id,
                                  holder_case_id=holder_case_id, holder_region=holder_region)
    if outcome != "pending":
        return [denied]
    attempt = case.place_attempts.get(citizen_id, 1)
    if retry.gives_up(attempt):
        return [ev.MemberPlacePending(citizen_id, claim_id, decision_id, holder_case_id, holder_region, attempt,
                                      "", 0), denied]
    return [ev.MemberPlacePending(citizen_id, claim_id, decision_id, holder_case_id, holder_region, attempt,
                                  retry_deadline_id(case.case_id, citizen_id, attempt),
                                  int(retry.retry_backoff(claim_id, attempt).total_seconds() * 1000))]


def retry_place(case: Dibao, citizen_id: str, deadline_id: str) -> list[Any]:
    """PendingClaimsAreRetried: the member's retry deadline fired while the place is still asked."""
    if case.places.get(citizen_id) != PLACE_REQUESTED or case.place_retries.get(citizen_id) != deadline_id:
        return []
    return [ev.MemberPlaceRetried(citizen_id, case.place_attempts.get(citizen_id, 1) + 1, deadline_id)]
