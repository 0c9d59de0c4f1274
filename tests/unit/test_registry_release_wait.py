"""ReleaseInFlightIsAwaited (architecture invariant 9): a claim that meets another case's hold waits
for a release already on its way instead of being denied at once; a refusal is final only once the
wait is over (services/common/registry/domain.py). Pure: inputs carry their own instants."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from services.common.registry.domain import (
    PATIENCE,
    Claimant,
    ClaimKind,
    ClaimMessage,
    ExpiryCheck,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    case_rank,
    claim_key,
    decide,
    due_expiries,
    record_from_json,
    record_to_json,
    waiting_check_key,
)
from tests.unit.test_registry_domain import NINGXIA, PERSON, SHAANXI, SICHUAN, T0, TTL, claim, outcomes

WAIT = timedelta(seconds=10)
SECOND = timedelta(seconds=1)


def run(inputs: list[RegistryInput], record: PersonRecord | None = None,
        ) -> tuple[PersonRecord | None, list[RegistryDecision]]:
    out: list[RegistryDecision] = []
    for message in inputs:
        result = decide(record, message, claim_ttl=TTL, release_wait=WAIT)
        record = result.record
        out.extend(result.decisions)
    return record, out


def married() -> PersonRecord:
    record, _ = run([claim("request", "c1", NINGXIA), claim("confirm", "c1", NINGXIA)])
    assert record is not None
    return record


def test_a_claim_a_moment_before_the_divorce_reaches_the_registry_is_granted_when_it_does() -> None:
    """民法典 第1080条: once the divorce is registered the person may marry again. The new claim
    (Sichuan) reaches the registry 2 s before the divorce's release (Ningxia): it waits, and is
    granted at the release instant — not refused."""
    record = married()
    record, early = run([claim("request", "c2", SICHUAN, at=T0 + 60 * SECOND)], record)
    assert early == []
    divorce = replace(claim("release", "c1", NINGXIA, at=T0 + 62 * SECOND), release_reason="divorce",
                      released_on=date(2026, 3, 2))
    record, after = run([divorce], record)
    assert outcomes(after) == [("640000", "released"), ("510000", "granted")]
    assert after[1].decided_at == T0 + 62 * SECOND
    assert record is not None and record.holder(ClaimKind.LIVE_MARRIAGE) == SICHUAN


def test_a_claim_meeting_a_hold_that_stays_is_denied_at_its_deadline_naming_the_holder() -> None:
    """OneHolderPerPersonAndKind still holds (民法典 第1042条): no release came within the wait."""
    record = married()
    record, _ = run([claim("request", "c2", SICHUAN, at=T0 + 60 * SECOND)], record)
    assert record is not None
    assert due_expiries(record, T0 + 69 * SECOND) == []
    due = due_expiries(record, T0 + 70 * SECOND)
    assert due == [waiting_check_key(claim_key("510000", "marriage", "c2"), T0 + 70 * SECOND)]
    record, denied = run([ExpiryCheck(due[0], PERSON, T0 + 71 * SECOND)], record)
    assert outcomes(denied) == [("510000", "denied")]
    assert denied[0].holder_case_id == "marriage-1" and denied[0].decided_at == T0 + 70 * SECOND
    _, later_release = run([claim("release", "c1", NINGXIA, at=T0 + 80 * SECOND)], record)
    assert outcomes(later_release) == [("640000", "released")]  # the denial was final


def test_whichever_input_notices_a_passed_deadline_denies_at_the_deadline_instant() -> None:
    """The same decision whether the timer's check or a later rival input comes first."""
    record = married()
    record, _ = run([claim("request", "c2", SICHUAN, at=T0 + 60 * SECOND)], record)
    _, by_rival = run([claim("request", "c3", SHAANXI, at=T0 + 75 * SECOND)], record)
    _, by_release = run([claim("release", "c1", NINGXIA, at=T0 + 75 * SECOND)], record)
    assert outcomes(by_rival)[0] == ("510000", "denied") and outcomes(by_release)[0] == ("510000", "denied")
    assert by_rival[0] == by_release[0]
    assert outcomes(by_release)[1:] == [("640000", "released")]


def test_waiters_are_served_first_come_first_served_and_an_unconfirmed_hold_expiring_frees_the_first() -> None:
    """UnconfirmedHoldExpires while two claims wait: the first is granted at the expiry instant and
    the second waits behind it, then is denied at its own deadline."""
    late = T0 + TTL - 5 * SECOND
    record, decisions = run([claim("request", "c1", NINGXIA), claim("request", "c2", SICHUAN, at=late),
                             claim("request", "c3", SHAANXI, at=late + SECOND),
                             ExpiryCheck(claim_key("640000", "marriage", "c1"), PERSON, T0 + TTL)])
    assert outcomes(decisions) == [("640000", "granted"), ("640000", "expired"), ("510000", "granted")]
    assert decisions[2].decided_at == T0 + TTL
    record, confirmed = run([claim("confirm", "c2", SICHUAN, at=T0 + TTL + SECOND)], record)
    assert outcomes(confirmed) == [("510000", "confirmed")]
    assert record is not None
    [due] = due_expiries(record, T0 + TTL + SECOND + WAIT)
    record, third = run([ExpiryCheck(due, PERSON, T0 + TTL + SECOND + WAIT)], record)
    assert outcomes(third) == [("610000", "denied")] and third[0].holder_region == "510000"


def test_sibling_cases_of_one_couple_end_with_one_case_holding_both_not_two_refusals() -> None:
    """AnUnsettledHolderIsWaitedFor and ARefusalRestsOnASettledHold (invariant 9, issue 11): a retry
    opened a second case for the same couple; one case got the groom, the other the bride, each
    waiting for the other person. The higher-ranked case waits PATIENCE times longer; the lower one
    gets PENDING at its deadline (no refusal: the groom's holder is unconfirmed), its service gives
    back its hold, and the higher one — the registration that can stand — holds both, though the
    lower one's release took 49 s to arrive."""
    groom, bride = PERSON, "510104199202020023"
    one, two = NINGXIA, replace(NINGXIA, case_id="marriage-2")
    high, low = (one, two) if case_rank(one) > case_rank(two) else (two, one)

    def on(person: str, action: str, claim_id: str, who: Claimant, seconds: int) -> ClaimMessage:
        return replace(claim(action, claim_id, who, at=T0 + seconds * SECOND), citizen_id=person)

    groom_record, _ = run([on(groom, "request", "high-groom", high, 0), on(groom, "request", "low-groom", low, 1)])
    bride_record, _ = run([on(bride, "request", "low-bride", low, 0), on(bride, "request", "high-bride", high, 1)],
                          PersonRecord(bride))
    assert bride_record is not None and groom_record is not None
    assert due_expiries(bride_record, T0 + SECOND + PATIENCE * WAIT - SECOND) == [], "the higher case waits longer"
    [low_due] = due_expiries(groom_record, T0 + 11 * SECOND)
    groom_record, low_refused = run([ExpiryCheck(low_due, groom, T0 + 11 * SECOND)], groom_record)
    assert [(d.case_id, d.outcome) for d in low_refused] == [(low.case_id, "pending")]
    assert low_refused[0].holder_case_id == high.case_id
    bride_record, high_granted = run([on(bride, "release", "low-bride", low, 60)], bride_record)
    assert [(d.case_id, d.outcome) for d in high_granted] == [(low.case_id, "released"), (high.case_id, "granted")]


def test_a_waiter_outranking_an_unconfirmed_holder_waits_longer_and_release_wait_once_it_is_confirmed() -> None:
    """AnUnsettledHolderIsWaitedFor, then ReleaseInFlightIsAwaited from the confirmation on."""
    one, two = NINGXIA, SICHUAN
    high, low = (one, two) if case_rank(one) > case_rank(two) else (two, one)
    record, _ = run([claim("request", "held", low), claim("request", "waits", high, at=T0 + SECOND)])
    assert record is not None and due_expiries(record, T0 + PATIENCE * WAIT) == []
    record, _ = run([claim("confirm", "held", low, at=T0 + 30 * SECOND)], record)
    assert record is not None
    deadline = T0 + 30 * SECOND + WAIT
    check = waiting_check_key(claim_key(high.region, "marriage", "waits"), deadline)
    assert due_expiries(record, deadline) == [check]
    _, denied = run([ExpiryCheck(check, PERSON, deadline)], record)
    assert [(d.case_id, d.outcome) for d in denied] == [(high.case_id, "denied")]
    assert denied[0].decided_at == deadline


def test_a_case_that_gives_up_while_waiting_stops_waiting_answered_released_and_the_record_survives_json() -> None:
    """AWaiterGivenUpIsAnswered: the release is answered, so the case stops sending it again."""
    record = married()
    record, _ = run([claim("request", "c2", SICHUAN, at=T0 + 60 * SECOND)], record)
    assert record is not None and record_from_json(record_to_json(record)) == record
    record, gave_up = run([claim("confirm", "c2", SICHUAN, at=T0 + 61 * SECOND),
                           claim("release", "c2", SICHUAN, at=T0 + 62 * SECOND)], record)
    assert [(d.claim_id, d.outcome) for d in gave_up] == [("c2", "released")]
    assert record is not None and not record.waiting.get(ClaimKind.LIVE_MARRIAGE)
    _, released = run([claim("release", "c1", NINGXIA, at=T0 + 63 * SECOND)], record)
    assert outcomes(released) == [("640000", "released")]


def test_a_deadline_is_never_extended_when_another_case_is_promoted_and_a_stale_check_decides_nothing() -> None:
    """ReleaseInFlightIsAwaited: a waiter's deadline is fixed when it starts waiting and only ever
    shortened (once the hold is confirmed). A promotion of another case does not extend it; the
    timer's check of a deadline that was shortened, arriving late, decides nothing."""
    cases = sorted((replace(SICHUAN, case_id=f"marriage-{n}") for n in range(10, 14)), key=case_rank)
    low, high = cases[0], cases[-1]
    record = married()  # c1 (Ningxia) holds, confirmed
    record, _ = run([claim("request", "v", low, at=T0 + SECOND), claim("request", "w", high, at=T0 + 2 * SECOND)],
                    record)
    assert record is not None
    record, promoted = run([claim("release", "c1", NINGXIA, at=T0 + 3 * SECOND)], record)
    assert outcomes(promoted) == [("640000", "released"), ("510000", "granted")] and promoted[1].case_id == low.case_id
    assert record is not None
    [check] = due_expiries(record, T0 + 2 * SECOND + WAIT)
    assert check == waiting_check_key(claim_key(high.region, "marriage", "w"), T0 + 2 * SECOND + WAIT), \
        "w keeps the deadline it started waiting with"
    _, pending = run([ExpiryCheck(check, PERSON, T0 + 2 * SECOND + WAIT)], record)
    assert [(d.case_id, d.outcome) for d in pending] == [(high.case_id, "pending")], "v is not confirmed yet"

    # A waiter outranking an unconfirmed holder: PATIENCE × release_wait, shortened by the confirmation.
    record, _ = run([claim("request", "held", low), claim("request", "waits", high, at=T0 + SECOND)])
    assert record is not None
    [long_check] = due_expiries(record, T0 + SECOND + PATIENCE * WAIT)
    record, _ = run([claim("confirm", "held", low, at=T0 + 20 * SECOND)], record)
    assert record is not None
    [short_check] = due_expiries(record, T0 + 20 * SECOND + WAIT)
    assert short_check != long_check
    record, denied = run([ExpiryCheck(short_check, PERSON, T0 + 20 * SECOND + WAIT)], record)
    assert [(d.case_id, d.outcome) for d in denied] == [(high.case_id, "denied")]
    _, stale = run([ExpiryCheck(long_check, PERSON, T0 + SECOND + PATIENCE * WAIT)], record)
    assert stale == []
