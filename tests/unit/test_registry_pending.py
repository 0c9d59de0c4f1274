"""ARefusalRestsOnASettledHold (architecture invariant 9, issue 11): a claim whose wait runs out
behind a hold that is not confirmed gets PENDING — no refusal — and leaves the queue; a refusal
(DENIED) is given only behind a confirmed hold. Pure: the registry's rules, driven by a small model
of the services (services/common/registry/retry.py: give back the attempt's other holds, retry
under new claim ids), with a simulated clock."""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from services.common.registry import retry
from services.common.registry.domain import (
    Claimant,
    ClaimKind,
    ExpiryCheck,
    Outcome,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    case_rank,
    decide,
    due_expiries,
    next_due,
)
from tests.unit.test_registry_domain import NINGXIA, PERSON, SICHUAN, T0, TTL, claim
from tests.unit.test_registry_release_wait import WAIT, run

SECOND = timedelta(seconds=1)
LATENCY = SECOND  # from a decision to the service's next claim event reaching the registry


def test_pending_leaves_the_queue_holding_nothing_and_names_the_unconfirmed_holder() -> None:
    record, _ = run([claim("request", "held", NINGXIA), claim("request", "waits", SICHUAN, at=T0 + SECOND)])
    assert record is not None
    [due] = due_expiries(record, T0 + 60 * SECOND)
    record, pending = run([ExpiryCheck(due, PERSON, T0 + 60 * SECOND)], record)
    assert [(d.case_id, d.outcome) for d in pending] == [(SICHUAN.case_id, Outcome.PENDING)]
    assert pending[0].holder_case_id == NINGXIA.case_id and not pending[0].holding
    assert record is not None and not record.waiting.get(ClaimKind.LIVE_MARRIAGE), "no longer waits"
    record, released = run([claim("release", "held", NINGXIA, at=T0 + 70 * SECOND)], record)
    assert [d.outcome for d in released] == [Outcome.RELEASED], "nobody is granted: the pending claim left"
    assert record is not None and next_due(record) is None
    _, again = run([claim("release", "waits", SICHUAN, at=T0 + 71 * SECOND)], record)
    assert again == [], "giving back a pending claim changes nothing"


# -- a model of the services: what retry.py asks of each ------------------------------------------


@dataclass
class Case:
    claimant: Claimant
    persons: tuple[str, ...]
    attempt: int = 1
    state: str = "waiting"  # "registered" | "refused"
    granted: set[str] = field(default_factory=set)
    released: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)
    retry_scheduled: bool = False
    decided_at: datetime | None = None
    refusal: RegistryDecision | None = None

    def claim_id(self, person: str, attempt: int | None = None) -> str:
        return retry.claim_id_of_attempt(f"{self.claimant.case_id}-{self.persons.index(person)}",
                                         attempt or self.attempt)

    def current(self) -> dict[str, str]:
        return {self.claim_id(p): p for p in self.persons}


@dataclass
class World:
    cases: dict[str, Case]
    records: dict[str, PersonRecord] = field(default_factory=dict)
    inbox: list[tuple[datetime, int, object]] = field(default_factory=list)
    now: datetime = T0
    _seq: itertools.count = field(default_factory=itertools.count)

    def send(self, at: datetime, item: object) -> None:
        heapq.heappush(self.inbox, (at, next(self._seq), item))

    def message(self, case: Case, action: str, person: str, claim_id: str, at: datetime) -> None:
        self.send(at, replace(claim(action, claim_id, case.claimant, at=at), citizen_id=person))

    def request_all(self, case: Case, at: datetime) -> None:
        for person in case.persons:
            self.message(case, "request", person, case.claim_id(person), at)

    def run(self, until: datetime) -> None:
        while self.now < until:
            timer = min((t for r in self.records.values() if (t := next_due(r)) is not None), default=None)
            queued = self.inbox[0][0] if self.inbox else None
            if queued is None and timer is None:
                return
            if queued is not None and (timer is None or queued <= timer):
                self.now, _, item = heapq.heappop(self.inbox)
                if isinstance(item, tuple):  # a retry deadline of a case
                    self.retry(self.cases[item[0]])
                    continue
                assert isinstance(item, RegistryInput)
                self.take(item)
            else:
                assert timer is not None
                self.now = timer
                for person, record in list(self.records.items()):
                    for key in due_expiries(record, timer):
                        self.take(ExpiryCheck(key, person, timer))

    def take(self, message: RegistryInput) -> None:
        result = decide(self.records.get(message.citizen_id, PersonRecord(message.citizen_id)), message,
                        claim_ttl=TTL, release_wait=WAIT)
        self.records[message.citizen_id] = result.record
        for decision in result.decisions:
            self.react(self.cases[decision.case_id], decision)

    def react(self, case: Case, d: RegistryDecision) -> None:
        at = max(self.now, d.decided_at) + LATENCY
        current = case.current()
        if d.claim_id not in current:  # an older attempt's: a grant is given back at once
            if d.outcome == Outcome.GRANTED and d.claim_id not in case.released:
                case.released.add(d.claim_id)
                self.message(case, "release", d.citizen_id, d.claim_id, at)
            return
        if d.outcome == Outcome.GRANTED:
            case.granted.add(d.claim_id)
            if case.state != "waiting":
                case.released.add(d.claim_id)
                self.message(case, "release", d.citizen_id, d.claim_id, at)
            elif set(current) <= case.granted and not case.retry_scheduled:
                case.state, case.decided_at = "registered", at
                for claim_id, person in current.items():
                    self.message(case, "confirm", person, claim_id, at)
        elif d.outcome in (Outcome.DENIED, Outcome.EXPIRED) and case.state == "waiting":
            case.state, case.decided_at, case.refusal = "refused", self.now, d
            self.give_back(case, current, at, but=d.claim_id)
        elif d.outcome == Outcome.PENDING and case.state == "waiting":
            case.pending.add(d.claim_id)
            if not case.retry_scheduled:
                case.retry_scheduled = True
                self.send(self.now + retry.retry_backoff(case.claimant.case_id, case.attempt), (case.claimant.case_id,))
            self.give_back(case, current, at, but=d.claim_id)

    def give_back(self, case: Case, current: dict[str, str], at: datetime, *, but: str) -> None:
        for claim_id, person in current.items():
            if claim_id != but and claim_id not in case.released | case.pending:
                case.released.add(claim_id)
                self.message(case, "release", person, claim_id, at)

    def retry(self, case: Case) -> None:
        if case.state == "waiting" and case.retry_scheduled:
            case.attempt += 1
            case.retry_scheduled = False
            self.request_all(case, self.now)


def _outcomes(world: World) -> dict[str, str]:
    return {case_id: case.state for case_id, case in world.cases.items()}


def _assert_every_refusal_rests_on_a_registered_case(world: World) -> None:
    for case in world.cases.values():
        if case.state == "refused":
            assert case.refusal is not None and case.refusal.outcome == Outcome.DENIED
            holder = world.cases[case.refusal.holder_case_id]
            assert holder.state == "registered", f"{case.claimant.case_id} refused naming an unsettled case"
            assert holder.decided_at is not None and case.refusal.decided_at >= holder.decided_at, \
                "refused only once the holder was confirmed"


def test_sibling_cases_of_one_couple_end_one_registered_and_the_other_refused_after_its_confirmation() -> None:
    """民法典 第1042条 and invariant 9: a retry at the window opened a second case for the same
    couple; each case got one person and waits for the other. The lower-ranked gets PENDING, gives
    its person back, the other registers; the retry is then denied behind the confirmed marriage."""
    groom, bride = PERSON, "510104199202020023"
    one, two = NINGXIA, replace(NINGXIA, case_id="marriage-2")
    world = World({c.case_id: Case(c, (groom, bride)) for c in (one, two)})
    world.message(world.cases[one.case_id], "request", groom, world.cases[one.case_id].claim_id(groom), T0)
    world.message(world.cases[two.case_id], "request", bride, world.cases[two.case_id].claim_id(bride), T0)
    world.message(world.cases[one.case_id], "request", bride, world.cases[one.case_id].claim_id(bride), T0 + SECOND)
    world.message(world.cases[two.case_id], "request", groom, world.cases[two.case_id].claim_id(groom), T0 + SECOND)
    world.run(T0 + 10 * 60 * SECOND)
    assert sorted(_outcomes(world).values()) == ["refused", "registered"]
    high = max((one, two), key=case_rank)
    assert world.cases[high.case_id].state == "registered", "the case that outranks waits longer and wins"
    _assert_every_refusal_rests_on_a_registered_case(world)


def test_a_cycle_of_four_cases_each_holding_what_the_next_waits_for_dissolves() -> None:
    """A deadlock cycle (case i holds person i and waits for person i+1, held by case i+1) ends
    with every case decided: two registered, two refused each naming a registered case, none
    refused behind an unsettled hold."""
    persons = [f"64010419900101{n:04d}" for n in range(4)]
    claimants = [Claimant(f"marriage-{n}", "640000", "marriage") for n in range(4)]
    world = World({c.case_id: Case(c, (persons[n], persons[(n + 1) % 4])) for n, c in enumerate(claimants)})
    for n, c in enumerate(claimants):
        case = world.cases[c.case_id]
        world.message(case, "request", persons[n], case.claim_id(persons[n]), T0)
        world.message(case, "request", persons[(n + 1) % 4], case.claim_id(persons[(n + 1) % 4]), T0 + SECOND)
    world.run(T0 + 30 * 60 * SECOND)
    states = _outcomes(world)
    assert "waiting" not in states.values(), states
    assert sorted(states.values()) == ["refused", "refused", "registered", "registered"]
    registered = [case for case in world.cases.values() if case.state == "registered"]
    assert not set(registered[0].persons) & set(registered[1].persons), "one live marriage per person"
    _assert_every_refusal_rests_on_a_registered_case(world)
