"""Claims whose answer from the registry never came are sent again from the store (architecture
invariants 1 and 9; issue 11: a registry worker or a broker killed under load left cases awaiting
the registry for ever). On the region's store, SQLite and PostgreSQL, without a broker: what is
sent is what a relay would publish again."""

from __future__ import annotations

from datetime import timedelta

from services.common.clock import FakeClock
from services.common.events import Actor, RecordedEvent
from services.common.kit.provenance import Provenance
from services.common.registry import ClaimKind, confirm_claim, decision_reaction, release_claim
from services.common.registry.resend import ClaimResender
from services.common.store import EventStore
from tests.integration.test_registry_region import NOW, claim, decision, person, wire

AFTER = timedelta(seconds=20)


class Sent:
    """What the resender published, and a monotonic clock the test moves."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.tick = 0.0

    def publish(self, events: list[RecordedEvent]) -> None:
        self.batches.append([f"{e.type.rsplit('.', 1)[-1]} {e.stream_id.rsplit('-', 1)[-1]}" for e in events])


def resender(store: EventStore, sent: Sent) -> ClaimResender:
    return ClaimResender(store, sent.publish, resend_after=AFTER, give_up_after=timedelta(hours=1),
                         monotonic=lambda: sent.tick)


def later(clock: FakeClock, sent: Sent, seconds: float) -> None:
    clock.advance(timedelta(seconds=seconds))
    sent.tick += seconds


def _system(correlation_id: str) -> Provenance:
    return Provenance(actor=Actor.system("640000", "marriage"), correlation_id=correlation_id,
                      causation_id="test", occurred_at=NOW)


def test_a_request_whose_decision_never_came_is_sent_again_when_overdue_until_it_is_decided(
        store: EventStore, clock: FakeClock) -> None:
    """A case awaiting the registry is never stuck (invariant 9): its request goes out again after
    20 s without an answer, again after another 20 s, then after 40 s (backing off: it may only be
    waiting its turn behind a hold), and no more once the decision is recorded."""
    sent = Sent()
    resend = resender(store, sent)
    citizen = person(3)
    claim(store, "c-1", citizen)
    assert resend.sweep() == 0, "not overdue yet: the first send is still on its way"
    later(clock, sent, 21)
    assert resend.sweep() == 1
    later(clock, sent, 5)
    assert resend.sweep() == 0, "sent a moment ago"
    later(clock, sent, 20)
    assert resend.sweep() == 1
    later(clock, sent, 25)
    assert resend.sweep() == 0, "backing off: 40 s now"
    later(clock, sent, 15)
    assert resend.sweep() == 1
    assert sent.batches == [["ClaimRequested 1"]] * 3
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    assert react(store, wire(decision("c-1", citizen, "granted")), None)
    later(clock, sent, 60)
    assert resend.sweep() == 0
    assert resend.resent == 3


def test_a_confirmation_and_a_release_are_sent_again_while_the_registry_has_not_answered_them(
        store: EventStore, clock: FakeClock) -> None:
    """民法典 第1042条 rests on both: a registered marriage's hold must be confirmed (or it expires and
    frees a married person), a divorce's release must arrive (or the person stays held)."""
    sent = Sent()
    resend = resender(store, sent)
    citizen = person(4)
    claim(store, "c-2", citizen)
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    react(store, wire(decision("c-2", citizen, "granted")), None)
    with store.transaction() as tx:
        confirm_claim(tx, claim_id="c-2", citizen_id=citizen, kind=ClaimKind.LIVE_MARRIAGE, case_id="marriage-1",
                      provenance=_system("marriage-1"))
    later(clock, sent, 21)
    assert resend.sweep() == 1 and sent.batches[-1] == ["ClaimConfirmed 2"]
    react(store, wire(decision("c-2", citizen, "confirmed")), None)
    with store.transaction() as tx:
        release_claim(tx, claim_id="c-2", citizen_id=citizen, kind=ClaimKind.LIVE_MARRIAGE, case_id="marriage-1",
                      reason="the divorce was registered", provenance=_system("marriage-1"))
    later(clock, sent, 21)
    assert resend.sweep() == 1 and sent.batches[-1] == ["ClaimReleased 2"]
    react(store, wire(decision("c-2", citizen, "released")), None)
    later(clock, sent, 21)
    assert resend.sweep() == 0


def test_a_release_before_the_decision_goes_again_with_its_request_and_a_denied_claim_needs_nothing(
        store: EventStore, clock: FakeClock) -> None:
    """A case that gave up before the registry decided (refused on its other party) sends request
    and release together, in that order, so the registry never keeps the person held for it; a
    denied claim's release needs no answer (nothing holds)."""
    sent = Sent()
    resend = resender(store, sent)
    first, second = person(5), person(6)
    claim(store, "c-3", first)
    claim(store, "c-4", second, case_id="marriage-2")
    react = decision_reaction("640000", "marriage", lambda tx, d: None)
    react(store, wire(decision("c-4", second, "denied", case_id="marriage-2",
                               holder=("marriage-9", "510000", "marriage"))), None)
    with store.transaction() as tx:
        for claim_id, citizen, case_id in (("c-3", first, "marriage-1"), ("c-4", second, "marriage-2")):
            release_claim(tx, claim_id=claim_id, citizen_id=citizen, kind=ClaimKind.LIVE_MARRIAGE, case_id=case_id,
                          reason="the marriage application was refused", provenance=_system(case_id))
    later(clock, sent, 21)
    assert resend.sweep() == 2
    assert sent.batches == [["ClaimRequested 3", "ClaimReleased 3"]]


def test_a_claim_the_registry_never_answers_is_given_up_after_a_while_and_logged(
        store: EventStore, clock: FakeClock) -> None:
    sent = Sent()
    resend = resender(store, sent)
    claim(store, "c-5", person(7))
    later(clock, sent, 2 * 3600)
    assert resend.sweep() == 0
    assert sent.batches == []
