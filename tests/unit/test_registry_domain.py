"""The registry's rules, pure (services/common/registry/domain.py): OneHolderPerPersonAndKind,
SameCaseHoldsAlready, UnconfirmedHoldExpires, DecisionsAreIdempotent — and the property the
worker's crash safety rests on: replaying inputs from an older record gives no new decision."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from services.common.events import TraceContext
from services.common.registry.domain import (
    Claimant,
    ClaimKind,
    ClaimMessage,
    ExpiryCheck,
    Outcome,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    claim_key,
    decide,
    decision_id,
    due_expiries,
    record_from_json,
    record_to_json,
)

PERSON = "640104199001010018"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
NO_WAIT = timedelta(0)  # the rules before ReleaseInFlightIsAwaited: a claim meeting a holder is denied at once
NINGXIA = Claimant("marriage-1", "640000", "marriage")
SICHUAN = Claimant("marriage-7", "510000", "marriage")
SHAANXI = Claimant("marriage-3", "610000", "marriage")


def claim(action: str, claim_id: str, claimant: Claimant, *, kind: ClaimKind = ClaimKind.LIVE_MARRIAGE,
          at: datetime = T0) -> ClaimMessage:
    return ClaimMessage(action=action, claim_id=claim_id, citizen_id=PERSON, kind=kind,  # type: ignore[arg-type]
                        claimant=claimant, correlation_id=f"corr-{claim_id}",
                        trace=TraceContext(f"00-{'a' * 32}-{'b' * 16}-01"), at=at)


def run(inputs: list[RegistryInput], record: PersonRecord | None = None, *, wait: timedelta = NO_WAIT,
        ) -> tuple[PersonRecord | None, list[RegistryDecision]]:
    out: list[RegistryDecision] = []
    for message in inputs:
        result = decide(record, message, claim_ttl=TTL, release_wait=wait)
        record = result.record
        out.extend(result.decisions)
    return record, out


def outcomes(decisions: list[RegistryDecision]) -> list[tuple[str, str]]:
    return [(d.region, str(d.outcome)) for d in decisions]


def test_of_three_regions_claiming_one_person_the_first_is_granted_and_the_others_denied_naming_it() -> None:
    """OneHolderPerPersonAndKind (民法典 第1042条: no bigamy)."""
    _, decisions = run([claim("request", "c1", NINGXIA), claim("request", "c2", SICHUAN),
                        claim("request", "c3", SHAANXI)])
    assert outcomes(decisions) == [("640000", "granted"), ("510000", "denied"), ("610000", "denied")]
    for denied in decisions[1:]:
        assert (denied.holder_case_id, denied.holder_region, denied.holder_service) == ("marriage-1", "640000",
                                                                                          "marriage")
    granted = decisions[0]
    assert granted.decided_at == T0 and granted.correlation_id == "corr-c1" and granted.holding
    assert granted.decision_id == decision_id("640000", "marriage", "c1", "granted")


def test_each_kind_has_its_own_holder() -> None:
    """A live marriage in one place and 低保 in another do not exclude each other."""
    relief = Claimant("relief-9", "510000", "relief")
    _, decisions = run([claim("request", "c1", NINGXIA),
                        claim("request", "d1", relief, kind=ClaimKind.DIBAO),
                        claim("request", "d2", Claimant("relief-2", "640000", "relief"), kind=ClaimKind.DIBAO)])
    assert outcomes(decisions) == [("640000", "granted"), ("510000", "granted"), ("640000", "denied")]
    assert decisions[2].holder_case_id == "relief-9"


def test_a_redelivered_request_repeats_its_decision_and_never_grants_twice() -> None:
    """DecisionsAreIdempotent: even after the hold was released, the old request's redelivery
    repeats the old grant (same id, dropped by the receivers' inboxes), it does not grant anew."""
    record, first = run([claim("request", "c1", NINGXIA), claim("request", "c2", SICHUAN)])
    record, later = run([claim("release", "c1", NINGXIA, at=T0 + timedelta(minutes=1))], record)
    assert outcomes(later) == [("640000", "released")]
    result = decide(record, claim("request", "c1", NINGXIA, at=T0 + timedelta(minutes=2)),
                    claim_ttl=TTL, release_wait=NO_WAIT)
    assert result.repeated and result.decisions == (first[0],) and result.record is record
    result = decide(record, claim("request", "c2", SICHUAN, at=T0 + timedelta(minutes=2)),
                    claim_ttl=TTL, release_wait=NO_WAIT)
    assert result.decisions == (first[1],), "the denial stands; a new claim is needed to try again"


def test_a_new_claim_by_the_case_that_holds_the_person_is_granted_and_the_case_still_holds_once() -> None:
    """SameCaseHoldsAlready: a retry with a fresh claim id (services/common/registry/retry.py).
    AReleaseEndsTheClaimItNames: the older claim's release, overtaken on its way by the newer
    request, ends only the older claim; the case holds the person until its last claim is released."""
    record, decisions = run([claim("request", "c1", NINGXIA), claim("request", "c1b", NINGXIA),
                             claim("request", "c2", SICHUAN)])
    assert outcomes(decisions) == [("640000", "granted"), ("640000", "granted"), ("510000", "denied")]
    assert record is not None and len(record.holds) == 1
    record, released = run([claim("release", "c1", NINGXIA)], record)
    assert [(d.claim_id, d.outcome) for d in released] == [("c1", Outcome.RELEASED)]
    assert record is not None and record.holder(ClaimKind.LIVE_MARRIAGE) == NINGXIA
    _, last = run([claim("release", "c1b", NINGXIA)], record)
    assert [(d.claim_id, d.outcome) for d in last] == [("c1b", Outcome.RELEASED)]


def test_an_unconfirmed_grant_expires_after_the_ttl_and_frees_the_person() -> None:
    """UnconfirmedHoldExpires: not a moment early; decided at the expiry instant."""
    record, _ = run([claim("request", "c1", NINGXIA)])
    assert record is not None
    early = decide(record, ExpiryCheck(claim_key("640000", "marriage", "c1"), PERSON, T0 + TTL - timedelta(seconds=1)),
                   claim_ttl=TTL, release_wait=NO_WAIT)
    assert early.decisions == () and due_expiries(record, T0 + TTL - timedelta(seconds=1)) == []
    assert due_expiries(record, T0 + TTL) == [claim_key("640000", "marriage", "c1")]
    late = decide(record, ExpiryCheck(claim_key("640000", "marriage", "c1"), PERSON, T0 + TTL + timedelta(seconds=9)),
                  claim_ttl=TTL, release_wait=NO_WAIT)
    assert outcomes(list(late.decisions)) == [("640000", "expired")]
    assert late.decisions[0].decided_at == T0 + TTL
    _, after = run([claim("request", "c2", SICHUAN, at=T0 + TTL + timedelta(seconds=10))], late.record)
    assert outcomes(after) == [("510000", "granted")]


def test_a_confirmed_hold_never_expires() -> None:
    record, decisions = run([claim("request", "c1", NINGXIA),
                             claim("confirm", "c1", NINGXIA, at=T0 + TTL - timedelta(seconds=1))])
    assert outcomes(decisions) == [("640000", "granted"), ("640000", "confirmed")]
    assert record is not None and due_expiries(record, T0 + 100 * TTL) == []
    _, later = run([claim("request", "c2", SICHUAN, at=T0 + 100 * TTL)], record)
    assert outcomes(later) == [("510000", "denied")]


def test_a_rival_or_the_timer_taken_in_after_the_expiry_instant_finds_the_hold_expired() -> None:
    """UnconfirmedHoldExpires: a rival's claim at the expiry instant is granted; once the timer's
    check expired the hold, the holder's late confirmation finds nothing to confirm."""
    record, _ = run([claim("request", "c1", NINGXIA)])
    _, rival = run([claim("request", "c2", SICHUAN, at=T0 + TTL)], record)
    assert outcomes(rival) == [("640000", "expired"), ("510000", "granted")]
    _, checked_then_confirmed = run([ExpiryCheck(claim_key("640000", "marriage", "c1"), PERSON, T0 + TTL),
                                     claim("confirm", "c1", NINGXIA, at=T0 + TTL + timedelta(seconds=1))], record)
    assert outcomes(checked_then_confirmed) == [("640000", "expired")]


def test_a_confirmation_after_the_ttl_of_a_claim_still_held_wins() -> None:
    """LateConfirmationOfAHeldClaimWins: nobody was told the person was free (no input expired the
    hold), so the holder's confirmation, however late, confirms (民法典 第1049条: the registration
    made at the window stands)."""
    record, _ = run([claim("request", "c1", NINGXIA)])
    record, late = run([claim("confirm", "c1", NINGXIA, at=T0 + 3 * TTL)], record)
    assert outcomes(late) == [("640000", "confirmed")]
    assert record is not None and due_expiries(record, T0 + 100 * TTL) == []
    _, rival = run([claim("request", "c2", SICHUAN, at=T0 + 4 * TTL)], record)
    assert outcomes(rival) == [("510000", "denied")]


def test_confirming_or_releasing_a_claim_that_holds_nothing_decides_nothing() -> None:
    record, _ = run([claim("request", "c1", NINGXIA), claim("request", "c2", SICHUAN)])
    for message in (claim("confirm", "c2", SICHUAN), claim("release", "c2", SICHUAN),
                    claim("confirm", "never", SICHUAN), claim("release", "c1", SICHUAN)):
        result = decide(record, message, claim_ttl=TTL, release_wait=NO_WAIT)
        assert result.decisions == () and result.note, message


def test_the_same_claim_id_in_two_regions_is_two_claims() -> None:
    """Claim ids are each service's own; the registry qualifies them with region and service."""
    _, decisions = run([claim("request", "c1", NINGXIA), claim("request", "c1", SICHUAN)])
    assert outcomes(decisions) == [("640000", "granted"), ("510000", "denied")]
    assert decisions[0].decision_id != decision_id("510000", "marriage", "c1", "granted")


def test_the_record_survives_its_json_form() -> None:
    record, _ = run([claim("request", "c1", NINGXIA), claim("request", "c2", SICHUAN),
                     claim("request", "d1", SHAANXI, kind=ClaimKind.NURSING_SUBSIDY),
                     claim("confirm", "d1", SHAANXI)])
    assert record is not None
    assert record_from_json(record_to_json(record)) == record


@pytest.mark.parametrize("wait", [NO_WAIT, timedelta(minutes=10)])
@pytest.mark.parametrize("seed", range(20))
def test_replaying_any_inputs_from_any_older_record_decides_nothing_new(seed: int, wait: timedelta) -> None:
    """What a crash does to the worker: the table may be recovered at an older record than the
    decisions already sent, and inputs after the committed offset are processed again (possibly
    with duplicates). Whatever the combination, no decision appears that was not decided before,
    and no person is ever granted twice at once."""
    rng = random.Random(seed)
    claimants = [Claimant(f"case-{i}", region, "marriage") for i, region in enumerate(("640000", "510000", "610000"))]
    plan: list[RegistryInput | ExpiryCheck] = []
    requested: set[str] = set()
    at = T0
    for n in range(30):
        at += timedelta(minutes=rng.choice((1, 5, 20)))
        who = rng.randrange(3)
        claim_id = f"c{who}-{n // 6}"
        roll = rng.random()
        # A claim's stream is one partition of its service topic: its request comes before the rest.
        if claim_id not in requested or roll < 0.4:
            plan.append(claim("request", claim_id, claimants[who], at=at))
            requested.add(claim_id)
        elif roll < 0.65:
            plan.append(claim("confirm", claim_id, claimants[who], at=at))
        elif roll < 0.85:
            plan.append(claim("release", claim_id, claimants[who], at=at))
        else:
            plan.append(ExpiryCheck(claim_key(claimants[who].region, "marriage", claim_id), PERSON, at))
    records: list[PersonRecord | None] = [None]
    sent: list[RegistryDecision] = []
    inputs: list[RegistryInput] = []
    for message in plan:
        due = due_expiries(records[-1], message.at) if records[-1] is not None else []
        if isinstance(message, ExpiryCheck) and due and rng.random() < 0.5:
            message = ExpiryCheck(rng.choice(due), PERSON, message.at)  # what the timer would send
        inputs.append(message)
        result = decide(records[-1], message, claim_ttl=TTL, release_wait=wait)
        records.append(result.record)
        sent.extend(result.decisions)
    first_sent = {d.decision_id: d for d in sent}
    for _ in range(10):
        committed = rng.randrange(len(inputs) + 1)
        recovered = rng.randrange(committed, len(inputs) + 1)  # the changelog is never behind the offset
        replay = list(inputs[committed:])
        replay += rng.sample(inputs, k=3)  # duplicate forwards
        _, again = run(replay, records[recovered], wait=wait)
        for d in again:
            assert first_sent.get(d.decision_id) == d, "a replayed input decided something new"
    holding: set[str] = set()
    for d in first_sent.values():  # what the receivers' inboxes let through, in order
        if d.outcome == Outcome.GRANTED:
            holding.add(d.case_id)
        elif d.outcome in (Outcome.RELEASED, Outcome.EXPIRED):
            holding.discard(d.case_id)
        assert len(holding) <= 1, "two cases held the person at once"


def test_a_release_carries_why_and_when_to_every_region_and_survives_the_json_form() -> None:
    """The national record (婚姻登记条例 第四条): a release says why the marriage ended and on which
    day, so a status query in any region answers "divorced" rather than nothing."""
    release = replace(claim("release", "c1", NINGXIA, at=T0 + timedelta(days=40)), release_reason="divorce",
                      released_on=date(2026, 4, 2))
    record, decisions = run([claim("request", "c1", NINGXIA), claim("confirm", "c1", NINGXIA), release])
    released = decisions[-1]
    assert (released.outcome, released.release_reason, released.released_on) == ("released", "divorce",
                                                                                  date(2026, 4, 2))
    assert record is not None and record_from_json(record_to_json(record)) == record
    _, again = run([release], record)
    assert again == [released], "a redelivered release repeats its reason"


def test_a_decision_kept_before_releases_had_reasons_still_reads() -> None:
    record, _ = run([claim("request", "c1", NINGXIA)])
    assert record is not None
    data = record_to_json(record)
    for decided in data["decided"].values():
        for decision in decided:
            del decision["release"]
    assert record_from_json(data) == record
