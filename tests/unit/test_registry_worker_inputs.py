"""The registry worker's per-message work without faust or a broker: which service-topic messages
it forwards, and how a claims-topic message becomes decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from services.common.events import Actor, RecordedEvent, TraceContext
from services.common.hashing import GENESIS, event_hash
from services.common.registry.adapters import decision_from_proto
from services.common.registry.domain import ClaimKind, Outcome, due_expiries, record_from_json
from services.common.registry.worker import GapHealer, decision_message, forward, parse_duration, take
from services.common.relay import HEADER_EVENT_TYPE
from tongban.registry.v1 import registry_pb2

PERSON = "640104199001010018"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TRACEPARENT = f"00-{'c' * 32}-{'d' * 16}-01"


def stored(message: object, *, region: str = "640000", service: str = "marriage") -> RecordedEvent:
    """A claim event as a store would have recorded and the relay sent it (hash included)."""
    draft = RecordedEvent(
        event_id="e-1", stream_id="registry-claim-c1", stream_type="registry.Claim", version=1,
        type=message.DESCRIPTOR.full_name, schema_version=1,  # type: ignore[attr-defined]
        payload=message.SerializeToString(deterministic=True),  # type: ignore[attr-defined]
        occurred_at=NOW, recorded_at=NOW, region=region, service=service,
        actor=Actor.system(region, "test"), correlation_id="corr-1", causation_id="cmd-1",
        trace=TraceContext(TRACEPARENT), prev_hash=GENESIS, hash=b"", position=1, global_hash=b"",
    )
    return replace(draft, hash=event_hash(GENESIS, draft))


def request(region: str = "640000", service: str = "marriage") -> registry_pb2.ClaimRequested:
    return registry_pb2.ClaimRequested(claim_id="c1", citizen_id=PERSON, kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE,
                                       case_id="marriage-1", region=region, service=service)


def test_a_claim_is_forwarded_keyed_by_the_person() -> None:
    event = stored(request())
    out = forward(event.to_bytes(), [(HEADER_EVENT_TYPE, event.type.encode()), ("traceparent", TRACEPARENT.encode())],
                  now=NOW)
    assert out is not None and out.key == PERSON.encode()
    assert ("traceparent", TRACEPARENT.encode()) in out.headers


def test_other_events_and_claims_in_another_regions_name_are_not_forwarded() -> None:
    """docs/cross-region.md: the envelope's region is the sender; a claim declaring another
    claimant is dropped, so no region can claim in another's name."""
    other = stored(registry_pb2.RegistryQueried(citizen_id=PERSON, reason="x"))
    assert forward(other.to_bytes(), [(HEADER_EVENT_TYPE, other.type.encode())], now=NOW) is None
    assert forward(other.to_bytes(), None, now=NOW) is None
    impostor = stored(request(region="510000"))
    assert forward(impostor.to_bytes(), None, now=NOW) is None
    tampered = stored(request()).to_bytes().replace(b"marriage-1", b"marriage-2")
    assert forward(tampered, None, now=NOW) is None


def test_a_claims_topic_message_is_decided_once_and_repeated_after() -> None:
    out = forward(stored(request()).to_bytes(), None, now=NOW)
    assert out is not None
    first = take(None, out.key, out.value, out.headers, claim_ttl=timedelta(hours=1))
    assert first.record is not None and [d.outcome for d in first.decisions] == [Outcome.GRANTED]
    [granted] = first.decisions
    assert granted.kind is ClaimKind.LIVE_MARRIAGE and granted.decided_at == NOW
    assert granted.trace.traceparent.split("-")[1] == "c" * 32, "the decision continues the claim's trace"
    again = take(first.record, out.key, out.value, out.headers, claim_ttl=timedelta(hours=1))
    assert again.record is None and again.decisions == first.decisions
    wire = decision_message(granted)
    assert wire.key == PERSON.encode()
    assert decision_from_proto(registry_pb2.RegistryDecision.FromString(wire.value)) == granted


def test_a_message_keyed_by_another_person_is_not_decided() -> None:
    out = forward(stored(request()).to_bytes(), None, now=NOW)
    assert out is not None
    taken = take(None, b"110101199003070011", out.value, out.headers, claim_ttl=timedelta(hours=1))
    assert taken.record is None and taken.decisions == () and taken.note


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400),
                                               ("7d", 604800), ("250ms", 0.25)])
def test_claim_ttl_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_a_hole_in_the_claims_topic_is_sought_back_over_not_decided_around() -> None:
    """The decider's guard against a consumer that skips messages (worker/__init__.py, crash safety)."""
    now = [100.0]
    healer = GapHealer("claims", monotonic=lambda: now[0])
    assert healer.check(0, 7, expected=None) is None, "no expectation before the first input"
    assert healer.check(0, 7, expected=7) is None and not healer.skipping(0, 7, 7)
    assert healer.check(0, 12, expected=8) == 8, "offsets 8..11 were skipped: seek back to 8"
    assert healer.check(0, 13, expected=8) is None and healer.skipping(0, 13, 8), "fetched before the seek"
    assert healer.check(1, 3, expected=3) is None and not healer.skipping(1, 3, 3), "other partitions go on"
    assert healer.check(0, 8, expected=8) is None and not healer.skipping(0, 8, 8), "the hole is filled"


def test_a_hole_that_never_fills_is_accepted_after_some_seeks() -> None:
    """Records deleted by retention cannot come back: the decider goes on, loudly."""
    now = [0.0]
    healer = GapHealer("claims", monotonic=lambda: now[0])
    seeks = 0
    for _ in range(20):
        if healer.check(2, 50, expected=40) == 40:
            seeks += 1
        elif not healer.skipping(2, 50, 40):
            break
        now[0] += GapHealer.RETRY_AFTER
    assert seeks == GapHealer.MAX_SEEKS
    assert not healer.skipping(2, 50, 40)


def test_a_confirmation_taken_in_after_the_ttl_of_a_claim_still_held_is_confirmed() -> None:
    """LateConfirmationOfAHeldClaimWins (architecture invariant 9): the forwarder stamped the
    confirmation two hours after the request, past the one-hour time-to-live, but no input expired
    the hold first — the worker confirms, and the timer finds nothing due afterwards."""
    ttl = timedelta(hours=1)
    requested = forward(stored(request()).to_bytes(), None, now=NOW)
    assert requested is not None
    first = take(None, requested.key, requested.value, requested.headers, claim_ttl=ttl)
    confirmation = registry_pb2.ClaimConfirmed(claim_id="c1", citizen_id=PERSON,
                                               kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, case_id="marriage-1",
                                               region="640000", service="marriage")
    late = forward(stored(confirmation).to_bytes(), None, now=NOW + 2 * ttl)
    assert late is not None
    confirmed = take(first.record, late.key, late.value, late.headers, claim_ttl=ttl)
    assert [d.outcome for d in confirmed.decisions] == [Outcome.CONFIRMED]
    assert confirmed.record is not None and due_expiries(record_from_json(confirmed.record), NOW + 10 * ttl) == []


def _recorded_at(message: object, at: datetime, *, region: str) -> RecordedEvent:
    draft = replace(stored(message, region=region), recorded_at=at, occurred_at=at, hash=b"")
    return replace(draft, hash=event_hash(GENESIS, draft))


@pytest.mark.parametrize(("recorded_after", "waiter_outcome"), [(5, Outcome.GRANTED), (40, Outcome.PENDING)])
def test_a_release_held_up_on_its_way_counts_from_when_it_was_recorded(recorded_after: int,
                                                                         waiter_outcome: Outcome) -> None:
    """AReleaseCountsFromItsRecording (invariant 9; 民法典 第1042条 holds either way): Ningxia's case
    gave the person up 5 s after Sichuan's claim began to wait (10 s at most), but a broker outage
    brought the release to the registry 40 s later. The waiter is granted — the hold had ended
    within its wait — not refused naming a case that no longer wanted the person. A release
    recorded after the wait ran out comes too late for this claim, which gets PENDING (the holder
    was never confirmed: ARefusalRestsOnASettledHold) and is claimed again by its case."""
    ttl, wait = timedelta(hours=1), timedelta(seconds=10)
    record: dict[str, object] | None = None
    holder = forward(stored(request()).to_bytes(), None, now=NOW)
    waiter_claim = registry_pb2.ClaimRequested(claim_id="c2", citizen_id=PERSON,
                                               kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE, case_id="marriage-7",
                                               region="510000", service="marriage")
    waiter = forward(stored(waiter_claim, region="510000").to_bytes(), None, now=NOW + timedelta(seconds=1))
    release = registry_pb2.ClaimReleased(claim_id="c1", citizen_id=PERSON, kind=registry_pb2.CLAIM_KIND_LIVE_MARRIAGE,
                                         case_id="marriage-1", region="640000", service="marriage",
                                         reason="the marriage application was refused")
    released = forward(_recorded_at(release, NOW + timedelta(seconds=recorded_after), region="640000").to_bytes(),
                       None, now=NOW + timedelta(seconds=41))
    decisions = []
    for out in (holder, waiter, released):
        assert out is not None
        taken = take(record, out.key, out.value, out.headers, claim_ttl=ttl, release_wait=wait)
        record = taken.record or record
        decisions += taken.decisions
    outcomes = {(d.claim_id, d.outcome) for d in decisions}
    assert ("c2", waiter_outcome) in outcomes
    assert ("c1", Outcome.RELEASED) in outcomes
    if waiter_outcome is Outcome.GRANTED:
        [granted] = [d for d in decisions if d.claim_id == "c2" and d.outcome is Outcome.GRANTED]
        assert granted.decided_at == NOW + timedelta(seconds=5)
