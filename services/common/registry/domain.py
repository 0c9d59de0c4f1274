"""The per-person registry's rules as pure code (architecture invariant 5): one person's record,
and what each input the registry worker takes in does to it. No I/O, no clock: every input
carries the time it was taken in, so deciding the same inputs again gives the same decisions —
the property the worker's crash safety rests on (see worker/__init__.py).

Rules, named as the decisions cite them:
- OneHolderPerPersonAndKind: for each kind (a live marriage, 低保, the living subsidy, the nursing
  subsidy) at most one case nationwide holds a person. A claim while another case holds the person
  is denied, naming the holder (case, region, service).
- SameCaseHoldsAlready: a new claim by the case that already holds the person is granted again;
  the case still holds the person once.
- AWaiterGivenUpIsAnswered: a claim released while it waits leaves the queue, answered `released`.
- AReleaseEndsTheClaimItNames: a release ends the claim it names; the case's hold ends with its
  last claim. A case's claims travel on different partitions (one stream per claim), so the
  release of an older attempt's claim (retry.py) can reach the registry after the newer attempt's
  request joined the hold — it must not end the claim the case now counts on.
- UnconfirmedHoldExpires: a granted hold that is not confirmed within the claim time-to-live is
  released with an `expired` decision. An input taken in at or after the expiry instant finds the
  hold already expired, whatever order the expiry check and the input reach the worker in.
- DecisionsAreIdempotent: an input decided before (a redelivery, or a re-run after a crash) gives
  the decisions it gave the first time, with the same ids, never new ones. A decision id derives
  from the claim (its id qualified by the claiming region and service) and the outcome.
- ReleaseInFlightIsAwaited (architecture invariant 9: a refusal is final only when the facts it
  rests on are settled): a claim that meets another case's hold is not refused at once. It waits
  behind the hold — long enough for a release already on its way (a divorce just registered, a
  judgment just recorded, a sibling case of the same couple giving up) to arrive. If the hold ends
  meanwhile, the first waiter is granted at that instant. The waiter's deadline is fixed when it
  starts waiting (`release_wait`; see AnUnsettledHolderIsWaitedFor) and only ever shortened, to
  `release_wait` after the hold is confirmed — never extended when another case is promoted to the
  hold (chains of extensions made claims wait minutes under churn). The timer puts the deadline on
  the claims topic like an expiry (an ExpiryCheck of `waiting_check_key(claim, deadline)`), so it
  is an input like any other; the deadline is in the key because it can move, and a check of a
  deadline that moved decides nothing. `release_wait` zero refuses at once (the worker's plumbing
  tests use it).
- ARefusalRestsOnASettledHold (invariant 9; issue 11): what a waiter gets at its deadline depends
  on the hold it waits behind then. A confirmed hold (a registered marriage, an enrolled benefit)
  is settled: the waiter is DENIED, naming the holder. An unconfirmed hold is not (its case may
  still give the person up): the waiter gets PENDING, naming the holder, and leaves the queue
  holding nothing. PENDING is no refusal: the case gives back its other holds of that attempt (so
  a cycle of cases each holding what the next waits for dissolves) and claims again later under
  new claim ids (services/common/registry/retry.py).
- AnUnsettledHolderIsWaitedFor: a waiter whose case outranks an unconfirmed holder's (a fixed rank
  per case, the same in every person's record) waits PATIENCE times longer (a minute by default);
  `release_wait` at most once the hold is confirmed; an outranked waiter waits `release_wait`. So
  when two cases each hold the other's partner (sibling cases of one couple), the lower one gets
  PENDING first, gives back its hold, and the higher one is granted. Every wait has a deadline: a
  holder whose release is lost makes its waiters wait a minute, never for ever.
- AReleaseCountsFromItsRecording (invariant 9; issue 11): a release acts at the instant the
  holder's store recorded it (never later than it was taken in), so a waiter whose deadline fell
  while the release was held up on its way — a broker restarting, a registry worker catching up —
  is granted, not denied naming a case that had already let the person go. (The worker's timer
  checks no deadline until its forwarder has caught up with the service topics: worker/app.py.)
- LateConfirmationOfAHeldClaimWins: the holder's own confirmation or release of a claim that still
  holds acts on it, even after the time-to-live, when no input expired the hold first (nobody was
  told the person was free). A rival's input or the timer's check at or after the expiry instant
  still expires it.

Source of the plain data (the record, inputs, decisions, JSON form): person.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.common.events import TraceContext, to_micros
from services.common.registry.person import (
    HOLDING,
    Action,
    Claimant,
    ClaimInfo,
    ClaimKind,
    ClaimMessage,
    ExpiryCheck,
    Hold,
    Outcome,
    PersonRecord,
    RegistryDecision,
    RegistryInput,
    ReleaseReason,
    Waiter,
    claim_key,
    decision_from_json,
    decision_id,
    decision_to_json,
    input_key,
    record_from_json,
    record_to_json,
)

__all__ = [
    "HOLDING",
    "Action",
    "ClaimInfo",
    "ClaimKind",
    "ClaimMessage",
    "Claimant",
    "Decided",
    "ExpiryCheck",
    "Hold",
    "Outcome",
    "PersonRecord",
    "RegistryDecision",
    "RegistryInput",
    "ReleaseReason",
    "Waiter",
    "case_rank",
    "claim_key",
    "decide",
    "decision_from_json",
    "decision_id",
    "decision_to_json",
    "due_expiries",
    "input_key",
    "next_due",
    "record_from_json",
    "record_to_json",
    "waiting_check_key",
]

ONE_HOLDER_PER_PERSON_AND_KIND = "OneHolderPerPersonAndKind"
SAME_CASE_HOLDS_ALREADY = "SameCaseHoldsAlready"
A_RELEASE_ENDS_THE_CLAIM_IT_NAMES = "AReleaseEndsTheClaimItNames"
A_WAITER_GIVEN_UP_IS_ANSWERED = "AWaiterGivenUpIsAnswered"
UNCONFIRMED_HOLD_EXPIRES = "UnconfirmedHoldExpires"
RELEASE_IN_FLIGHT_IS_AWAITED = "ReleaseInFlightIsAwaited"
AN_UNSETTLED_HOLDER_IS_WAITED_FOR = "AnUnsettledHolderIsWaitedFor"
LATE_CONFIRMATION_OF_A_HELD_CLAIM_WINS = "LateConfirmationOfAHeldClaimWins"
A_RELEASE_COUNTS_FROM_ITS_RECORDING = "AReleaseCountsFromItsRecording"
A_REFUSAL_RESTS_ON_A_SETTLED_HOLD = "ARefusalRestsOnASettledHold"

# How long a claim waits behind another case's hold before it is denied: more than a release takes
# from a service's store to the registry (outbox relay, forwarder, broker), seconds in practice.
DEFAULT_RELEASE_WAIT = timedelta(seconds=10)
# An ExpiryCheck of "waiting:<deadline, µs>:<claim key>" is the timer's check of a waiter's deadline:
# its own input key, never sharing a memory with the same claim's hold expiry or another deadline.
_WAITING_PREFIX = "waiting:"
PATIENCE = 6  # AnUnsettledHolderIsWaitedFor: how many release waits a higher case waits for a lower one


def waiting_check_key(key: str, until: datetime) -> str:
    return f"{_WAITING_PREFIX}{to_micros(until)}:{key}"


@dataclass(frozen=True)
class Decided:
    record: PersonRecord
    decisions: tuple[RegistryDecision, ...]
    repeated: bool = False  # the input was decided before: the same decisions again
    note: str = ""  # why an input changed nothing, for the worker's log
    # Remember the input even without decisions: it met a waiting claim, and deciding it again
    # later (once the claim holds) would decide something else.
    remember: bool = False


def decide(record: PersonRecord | None, message: RegistryInput, *, claim_ttl: timedelta,
           release_wait: timedelta = DEFAULT_RELEASE_WAIT) -> Decided:
    """Decide one input against the person's record (None: a person never claimed before).
    `release_wait` zero denies a claim meeting another holder at once."""
    if claim_ttl <= timedelta(0):
        raise ValueError("claim_ttl must be positive")
    if release_wait < timedelta(0):
        raise ValueError("release_wait must not be negative")
    record = record or PersonRecord(message.citizen_id)
    if message.citizen_id != record.citizen_id:
        raise ValueError("the input is about another person than the record")
    key = input_key(message)
    if key in record.decided:
        return Decided(record, record.decided[key], repeated=True)
    rules = _Rules(claim_ttl, release_wait)
    if isinstance(message, ExpiryCheck):
        result = rules.expiry_check(record, message)
    elif message.action == "request":
        result = rules.request(record, message)
    else:
        result = rules.confirm_or_release(record, message)
    if result.decisions or result.remember:
        decided = {**result.record.decided, key: result.decisions}
        result = replace(result, record=replace(result.record, decided=decided))
    return result


@dataclass(frozen=True)
class _Rules:
    ttl: timedelta
    release_wait: timedelta

    def request(self, record: PersonRecord, m: ClaimMessage) -> Decided:
        if m.key in record.claims:
            # Unreachable through decide (a request is always remembered), kept so a record edited
            # by hand cannot make a claim mean two things.
            return Decided(record, (), note=f"claim {m.key} is already known")
        info = ClaimInfo(m.claim_id, m.kind, m.claimant, m.correlation_id, m.trace)
        record = replace(record, claims={**record.claims, m.key: info})
        record, settled = self.settle(record, m.kind, m.at)
        hold = record.holds.get(m.kind)
        if hold is None:
            new_hold = Hold(m.claimant, (m.key,), confirmed=False, expires_at=m.at + self.ttl)
            record = replace(record, holds={**record.holds, m.kind: new_hold})
            decision = _decision(record, m.key, Outcome.GRANTED, m.at, m.trace)
        elif hold.holder == m.claimant:  # SameCaseHoldsAlready
            joined = replace(hold, claim_keys=(*hold.claim_keys, m.key))
            record = replace(record, holds={**record.holds, m.kind: joined})
            decision = _decision(record, m.key, Outcome.GRANTED, m.at, m.trace)
        elif self.release_wait > timedelta(0):  # ReleaseInFlightIsAwaited
            waiters = (*record.waiting.get(m.kind, ()), Waiter(m.key, self._until(record, m.key, hold, m.at)))
            record = replace(record, waiting={**record.waiting, m.kind: waiters})
            return Decided(record, settled, note=f"claim {m.key} waits for a release", remember=True)
        else:  # OneHolderPerPersonAndKind
            decision = _decision(record, m.key, Outcome.DENIED, m.at, m.trace, holder=hold.holder)
        return Decided(record, (*settled, decision))

    def confirm_or_release(self, record: PersonRecord, m: ClaimMessage) -> Decided:
        problem = _mismatch(record, m)
        if problem:
            return Decided(record, (), note=problem)
        if m.key in _waiting_keys(record, m.kind):
            if m.action == "confirm":
                return Decided(record, (), note=f"claim {m.key} waits: nothing to confirm yet", remember=True)
            # AWaiterGivenUpIsAnswered: the case gave up its claim before the registry decided it
            # (marriage gives back the other party's claim on a PENDING answer). It stops waiting and
            # is answered `released`, so the case's store sees its release answered and stops
            # sending it again (resend.py); a release with no reason means nothing to a status query.
            waiters = tuple(w for w in record.waiting[m.kind] if w.claim_key != m.key)
            record = replace(record, waiting={**record.waiting, m.kind: waiters})
            return Decided(record, (_decision(record, m.key, Outcome.RELEASED, m.at, m.trace, release=m),),
                           note=f"claim {m.key} no longer waits")
        hold = record.holds.get(m.kind)
        if hold is None or m.key not in hold.claim_keys:
            record, settled = self.settle(record, m.kind, m.at)
            return Decided(record, settled, note="" if settled else f"claim {m.key} holds nothing to {m.action}")
        # LateConfirmationOfAHeldClaimWins: the hold is not expired first. Waiters past their
        # deadline were answered while this hold stood (as it stood: ARefusalRestsOnASettledHold).
        record, denied = self._answer_overdue(record, m.kind, m.at, hold)
        if m.action == "confirm":
            confirmed = replace(hold, confirmed=True, expires_at=None)
            record = replace(record, holds={**record.holds, m.kind: confirmed})
            record = self._shorten(record, m.kind, m.at)  # AnUnsettledHolderIsWaitedFor: settled now
            return Decided(record, (*denied, _decision(record, m.key, Outcome.CONFIRMED, m.at, m.trace)))
        released = _decision(record, m.key, Outcome.RELEASED, m.at, m.trace, release=m)
        remaining = tuple(c for c in hold.claim_keys if c != m.key)
        if remaining:  # AReleaseEndsTheClaimItNames: the case still holds the person through another claim
            record = replace(record, holds={**record.holds, m.kind: replace(hold, claim_keys=remaining)})
            return Decided(record, (*denied, released))
        record = replace(record, holds={k: h for k, h in record.holds.items() if k != m.kind})
        record, granted = self._promote(record, m.kind, m.at)
        return Decided(record, (*denied, released, *granted))

    def expiry_check(self, record: PersonRecord, m: ExpiryCheck) -> Decided:
        waiting = m.claim_key.startswith(_WAITING_PREFIX)
        until, _, key = m.claim_key.removeprefix(_WAITING_PREFIX).partition(":") if waiting else ("", "", m.claim_key)
        info = record.claims.get(key)
        if info is None:
            return Decided(record, (), note=f"expiry check for unknown claim {key}")
        hold = record.holds.get(info.kind)
        deadlines = {w.claim_key: w.until for w in record.waiting.get(info.kind, ())}
        if waiting and (key not in deadlines or str(to_micros(deadlines[key])) != until):
            return Decided(record, (), note=f"claim {key} no longer waits until that deadline")
        if not waiting and (hold is None or key not in hold.claim_keys):
            return Decided(record, (), note=f"claim {key} no longer holds")
        record, settled = self.settle(record, info.kind, m.at)
        return Decided(record, settled, note="" if settled else f"claim {key} is confirmed or not due yet")

    def settle(self, record: PersonRecord, kind: ClaimKind,
               at: datetime) -> tuple[PersonRecord, tuple[RegistryDecision, ...]]:
        """What happened to `kind` up to `at`, in time order, judged at the instants it happened
        (so the same whichever input noticed it): UnconfirmedHoldExpires (the first waiter then
        holds), and waiters' deadlines passing (denied or pending: ARefusalRestsOnASettledHold). On
        the same instant the expiry comes first."""
        out: list[RegistryDecision] = []
        while True:
            hold = record.holds.get(kind)
            expiry = hold.expires_at if hold is not None and not hold.confirmed else None
            deadline = min((w.until for w in record.waiting.get(kind, ())), default=None)
            if hold is not None and expiry is not None and expiry <= at and (deadline is None or expiry <= deadline):
                record = replace(record, holds={k: h for k, h in record.holds.items() if k != kind})
                out += [_decision(record, c, Outcome.EXPIRED, expiry, record.claims[c].trace)
                        for c in hold.claim_keys]
                record, granted = self._promote(record, kind, expiry)
                out += granted
            elif hold is not None and deadline is not None and deadline <= at:
                record, answered = self._answer_overdue(record, kind, deadline, hold)
                out += answered
            else:
                return record, tuple(out)

    def _answer_overdue(self, record: PersonRecord, kind: ClaimKind, at: datetime,
                        hold: Hold) -> tuple[PersonRecord, tuple[RegistryDecision, ...]]:
        """Waiters whose deadline passed by `at` behind `hold` leave the queue: DENIED behind a
        confirmed hold, PENDING behind an unconfirmed one (ARefusalRestsOnASettledHold)."""
        waiters = record.waiting.get(kind, ())
        overdue = [w for w in waiters if w.until <= at]
        if not overdue:
            return record, ()
        record = replace(record, waiting={**record.waiting, kind: tuple(w for w in waiters if w not in overdue)})
        outcome = Outcome.DENIED if hold.confirmed else Outcome.PENDING
        return record, tuple(_decision(record, w.claim_key, outcome, w.until,
                                       record.claims[w.claim_key].trace, holder=hold.holder) for w in overdue)

    def _until(self, record: PersonRecord, key: str, hold: Hold, at: datetime) -> datetime:
        """A new waiter's deadline behind `hold`, from `at` on."""
        if not hold.confirmed and case_rank(record.claims[key].claimant) > case_rank(hold.holder):
            return at + PATIENCE * self.release_wait
        return at + self.release_wait

    def _shorten(self, record: PersonRecord, kind: ClaimKind, at: datetime) -> PersonRecord:
        """The hold of `kind` was confirmed at `at`: a waiter waits at most `release_wait` more
        (a release in flight), never longer than it was told before."""
        waiters = tuple(replace(w, until=min(w.until, at + self.release_wait)) for w in record.waiting.get(kind, ()))
        return replace(record, waiting={**record.waiting, kind: waiters}) if waiters else record

    def _promote(self, record: PersonRecord, kind: ClaimKind,
                 at: datetime) -> tuple[PersonRecord, tuple[RegistryDecision, ...]]:
        """The hold of `kind` ended at `at`: the first waiter holds, with the waiters of its case."""
        waiters = record.waiting.get(kind, ())
        if not waiters:
            return record, ()
        first = record.claims[waiters[0].claim_key].claimant
        joining = tuple(w.claim_key for w in waiters if record.claims[w.claim_key].claimant == first)
        hold = Hold(first, joining, confirmed=False, expires_at=at + self.ttl)
        # The others keep their deadlines (ReleaseInFlightIsAwaited: never extended).
        record = replace(record, holds={**record.holds, kind: hold},
                         waiting={**record.waiting, kind: tuple(w for w in waiters if w.claim_key not in joining)})
        return record, tuple(_decision(record, c, Outcome.GRANTED, at, record.claims[c].trace) for c in joining)


def case_rank(claimant: Claimant) -> bytes:
    """A case's rank for AnUnsettledHolderIsWaitedFor: arbitrary but fixed, and the same in every
    person's record and every run (no process-salted hash)."""
    return hashlib.sha256(f"{claimant.region}/{claimant.service}/{claimant.case_id}".encode()).digest()


def _waiting_keys(record: PersonRecord, kind: ClaimKind) -> set[str]:
    return {w.claim_key for w in record.waiting.get(kind, ())}


def _mismatch(record: PersonRecord, m: ClaimMessage) -> str:
    info = record.claims.get(m.key)
    if info is None:
        return f"{m.action} of unknown claim {m.key}"
    if info.kind != m.kind:
        return f"{m.action} of claim {m.key} names another kind than its request"
    if info.claimant != m.claimant:
        return f"{m.action} of claim {m.key} names another case than its request"
    return ""


def _decision(record: PersonRecord, key: str, outcome: Outcome, at: datetime, trace: TraceContext, *,
              holder: Claimant | None = None, release: ClaimMessage | None = None) -> RegistryDecision:
    info = record.claims[key]
    claimant = info.claimant
    return RegistryDecision(
        decision_id=decision_id(claimant.region, claimant.service, info.claim_id, outcome),
        claim_id=info.claim_id, citizen_id=record.citizen_id, kind=info.kind,
        case_id=claimant.case_id, region=claimant.region, service=claimant.service, outcome=outcome,
        holder_case_id=holder.case_id if holder else "", holder_region=holder.region if holder else "",
        holder_service=holder.service if holder else "",
        decided_at=at, correlation_id=info.correlation_id, trace=trace,
        release_reason=release.release_reason if release else "", released_on=release.released_on if release else None,
    )


def due_expiries(record: PersonRecord, now: datetime) -> list[str]:
    """Expiry-check keys due at `now`: one claim per unconfirmed hold past its time-to-live, and one
    `waiting_check_key` per waiter past its deadline."""
    holds = [hold.claim_keys[0] for hold in record.holds.values()
             if not hold.confirmed and hold.expires_at is not None and hold.expires_at <= now]
    return holds + [waiting_check_key(w.claim_key, w.until) for ws in record.waiting.values() for w in ws
                    if w.until <= now]


def next_due(record: PersonRecord) -> datetime | None:
    """The earliest instant `due_expiries` has something for the record (None: nothing pending),
    so a worker's timer need only look at the records due."""
    instants = [hold.expires_at for hold in record.holds.values() if not hold.confirmed and hold.expires_at is not None]
    instants += [w.until for ws in record.waiting.values() for w in ws]
    return min(instants, default=None)
