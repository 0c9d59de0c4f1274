"""A PENDING answer is no refusal (ARefusalRestsOnASettledHold, architecture invariant 9, issue 11):
the marriage gives back its other hold, retries under new claim ids (PendingClaimsAreRetried) and
registers once both are granted; decisions on older attempts never count; the retries are bounded
(RetriesAreBounded). Pure domain: no store."""

from __future__ import annotations

from datetime import timedelta

from services.common.registry import retry
from services.marriage.domain.events import (
    MarriageEvent,
    MarriageRefused,
    MarriageRegistered,
    PartyClaimGranted,
    PartyClaimPending,
    PartyClaimReleased,
    PartyClaimsRetried,
)
from services.marriage.domain.marriage import Marriage, MarriageState
from tests.unit.marriage.test_marriage_rules import TODAY, _waiting

HOLDER = {"holder_case_id": "marriage-640000-other", "holder_region": "640000", "holder_service": "marriage"}


def _apply(marriage: Marriage, events: list[MarriageEvent]) -> list[MarriageEvent]:
    for event in events:
        marriage.apply(event)
    return events


def _pending_then_retried(marriage: Marriage) -> None:
    a, b = marriage.parties
    _apply(marriage, marriage.record_grant(marriage.current_claim_id(b), "g-b"))
    pending, released = _apply(marriage, marriage.record_pending(marriage.current_claim_id(a), "p-a", **HOLDER))
    assert isinstance(pending, PartyClaimPending) and isinstance(released, PartyClaimReleased)
    _apply(marriage, marriage.retry_claims(pending.retry_deadline_id))


def test_pending_is_no_refusal_the_other_hold_is_given_back_and_a_retry_is_scheduled() -> None:
    marriage = _waiting()
    a, b = marriage.parties
    _apply(marriage, marriage.record_grant(b.claim_id, "g-b"))
    pending, released = _apply(marriage, marriage.record_pending(a.claim_id, "p-a", **HOLDER))
    assert isinstance(pending, PartyClaimPending)
    assert pending.holder.case_id == "marriage-640000-other" and pending.attempt == 1
    assert pending.retry_deadline_id == retry.retry_deadline_id("marriage-1", 1)
    assert timedelta(seconds=2) <= timedelta(milliseconds=pending.retry_after_ms) <= timedelta(seconds=3)
    assert isinstance(released, PartyClaimReleased) and released.claim_id == b.claim_id, \
        "the granted hold of the same attempt is given back, so a cycle of cases dissolves"
    assert marriage.state is MarriageState.AWAITING_REGISTRY and marriage.refusal is None
    assert not marriage.ready_to_register
    assert marriage.record_pending(a.claim_id, "p-a", **HOLDER) == [], "a redelivered PENDING changes nothing"


def test_a_second_pending_of_the_same_attempt_schedules_no_second_retry() -> None:
    marriage = _waiting()
    a, b = marriage.parties
    _apply(marriage, marriage.record_pending(a.claim_id, "p-a", **HOLDER))  # releases b's waiting claim
    [second] = marriage.record_pending(b.claim_id, "p-b", **HOLDER)
    assert isinstance(second, PartyClaimPending) and second.retry_deadline_id == ""


def test_pending_then_retry_then_both_granted_registers_民法典_1049() -> None:
    """民法典 第1049条: registration once both persons are free; the retry claims them as attempt 2."""
    marriage = _waiting()
    a, b = marriage.parties
    _pending_then_retried(marriage)
    assert marriage.attempt == 2
    assert [marriage.current_claim_id(p) for p in (a, b)] == [f"{a.claim_id}-r2", f"{b.claim_id}-r2"]
    assert marriage.retry_claims(retry.retry_deadline_id("marriage-1", 1)) == [], "a deadline fires once"
    for party, decision in ((a, "g2-a"), (b, "g2-b")):
        _apply(marriage, marriage.record_grant(marriage.current_claim_id(party), decision))
    assert marriage.ready_to_register
    [registered] = marriage.register("J640104-MRO-01-2026-000001", TODAY)
    assert isinstance(registered, MarriageRegistered)


def test_decisions_on_an_older_attempt_never_count() -> None:
    """PendingClaimsAreRetried: a late grant of attempt 1 is given back at once (never counted),
    a late denial or PENDING of attempt 1 refuses nothing."""
    marriage = _waiting()
    a, b = marriage.parties
    _pending_then_retried(marriage)
    assert marriage.record_grant(b.claim_id, "g-b") == [], "already granted and given back"
    assert marriage.record_loss(a.claim_id, "d-a", outcome="denied", **HOLDER) == []
    assert marriage.record_pending(a.claim_id, "p-a", **HOLDER) == []
    marriage.released.discard(b.claim_id)
    marriage.granted.pop(b.claim_id)
    granted, released = marriage.record_grant(b.claim_id, "late")
    assert isinstance(granted, PartyClaimGranted) and isinstance(released, PartyClaimReleased)
    assert released.claim_id == b.claim_id
    _apply(marriage, [granted, released])
    _apply(marriage, marriage.record_grant(marriage.current_claim_id(a), "g2-a"))
    assert not marriage.ready_to_register, "the old attempt's grant does not stand in for b's new claim"


def test_a_denial_behind_a_settled_hold_in_a_later_attempt_refuses_naming_it_民法典_1042() -> None:
    marriage = _waiting()
    a, _ = marriage.parties
    _pending_then_retried(marriage)
    events = _apply(marriage, marriage.record_loss(marriage.current_claim_id(a), "d2-a", outcome="denied",
                                                   **HOLDER))
    refused = [e for e in events if isinstance(e, MarriageRefused)]
    assert [r.rule for r in refused] == ["NoExistingMarriage"] and refused[0].holder_case_id == HOLDER["holder_case_id"]


def test_retries_are_bounded_and_the_last_pending_refuses_under_its_own_rule() -> None:
    """RetriesAreBounded: after MAX_ATTEMPTS pending answers the case is refused, naming the holder
    it kept meeting — not as an existing marriage."""
    marriage = _waiting()
    a, _ = marriage.parties
    for _ in range(retry.MAX_ATTEMPTS - 1):
        [pending, *_] = _apply(marriage, marriage.record_pending(marriage.current_claim_id(a), "p", **HOLDER))
        assert isinstance(pending, PartyClaimPending)
        [retried] = _apply(marriage, marriage.retry_claims(pending.retry_deadline_id))
        assert isinstance(retried, PartyClaimsRetried)
    events = _apply(marriage, marriage.record_pending(marriage.current_claim_id(a), "p", **HOLDER))
    [last, refused, _released] = events
    assert isinstance(last, PartyClaimPending) and last.retry_deadline_id == ""
    assert isinstance(refused, MarriageRefused) and refused.rule == retry.RETRIES_ARE_BOUNDED
    assert refused.holder_case_id == HOLDER["holder_case_id"] and marriage.state is MarriageState.REFUSED


def test_the_backoff_doubles_to_a_cap_with_a_jitter_fixed_by_the_case() -> None:
    """RetriesBackOffWithJitter: two colliding cases do not retry in lock-step; replay gives the same."""
    assert retry.retry_backoff("m-1", 1) == retry.retry_backoff("m-1", 1)
    assert retry.retry_backoff("m-1", 1) != retry.retry_backoff("m-2", 1)
    assert timedelta(seconds=4) <= retry.retry_backoff("m-1", 2) < timedelta(seconds=6)
    assert timedelta(seconds=60) <= retry.retry_backoff("m-1", 20) < timedelta(seconds=90)
    assert retry.attempt_of("c-a", "c-a-r3") == 3 and retry.attempt_of("c-a", "c-a") == 1
    assert retry.attempt_of("c-a", "c-a-r03") is None and retry.attempt_of("c-a", "c-b") is None
