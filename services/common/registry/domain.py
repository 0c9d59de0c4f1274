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
- UnconfirmedHoldExpires: a granted hold that is not confirmed within the claim time-to-live is
  released with an `expired` decision. An input taken in at or after the expiry instant finds the
  hold already expired, whatever order the expiry check and the input reach the worker in.
- DecisionsAreIdempotent: an input decided before (a redelivery, or a re-run after a crash) gives
  the decisions it gave the first time, with the same ids, never new ones. A decision id derives
  from the claim (its id qualified by the claiming region and service) and the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from services.common.events import TraceContext, from_micros, to_micros


class ClaimKind(StrEnum):
    LIVE_MARRIAGE = "live_marriage"  # 民法典 第1042条: no bigamy
    DIBAO = "dibao"  # 最低生活保障: one household enjoys it in one place only
    LIVING_SUBSIDY = "living_subsidy"  # 困难残疾人生活补贴: one place only
    NURSING_SUBSIDY = "nursing_subsidy"  # 重度残疾人护理补贴: one place only


class ReleaseReason(StrEnum):
    """Why a live-marriage hold ended, when that changes the person's status on the national record."""

    DIVORCE = "divorce"
    VOID = "void"  # 民法典 第1051条
    ANNULLED = "annulled"  # 第1052-1053条
    DEATH = "death"


class Outcome(StrEnum):
    GRANTED = "granted"
    DENIED = "denied"
    CONFIRMED = "confirmed"
    RELEASED = "released"
    EXPIRED = "expired"


HOLDING = frozenset({Outcome.GRANTED, Outcome.CONFIRMED})

ONE_HOLDER_PER_PERSON_AND_KIND = "OneHolderPerPersonAndKind"
SAME_CASE_HOLDS_ALREADY = "SameCaseHoldsAlready"
UNCONFIRMED_HOLD_EXPIRES = "UnconfirmedHoldExpires"

# Fixed for ever: changing it would give a re-sent decision a new id and defeat the receivers' inboxes.
_DECISION_NAMESPACE = uuid.UUID("6f1c8d1e-9a7b-5c3e-8f0a-2b4d6e8f0a1c")


def claim_key(region: str, service: str, claim_id: str) -> str:
    """A claim's name in the registry. Claim ids are chosen by each service in each region, so two
    regions may pick the same one; qualified, they never meet."""
    return f"{region}/{service}/{claim_id}"


def decision_id(region: str, service: str, claim_id: str, outcome: str) -> str:
    """The id of the decision `outcome` on a claim: the same whenever and wherever it is made."""
    return str(uuid.uuid5(_DECISION_NAMESPACE, f"{claim_key(region, service, claim_id)}/{Outcome(outcome).value}"))


@dataclass(frozen=True)
class RegistryDecision:
    """A decision of the registry on one claim, addressed to the claimant (region, service)."""

    decision_id: str
    claim_id: str
    citizen_id: str
    kind: ClaimKind
    case_id: str
    region: str
    service: str
    outcome: str  # an Outcome: "granted" | "denied" | "confirmed" | "released" | "expired"
    holder_case_id: str  # the current holder, for "denied"; empty otherwise
    holder_region: str
    holder_service: str
    decided_at: datetime
    correlation_id: str
    trace: TraceContext
    # On "released": why the hold ended (ReleaseReason, "" when the case merely ended) and the day
    # it took effect, so every region can answer a status query from the national record.
    release_reason: str = ""
    released_on: date | None = None

    @property
    def holding(self) -> bool:
        """Whether the claim holds the person after this decision."""
        return self.outcome in HOLDING


@dataclass(frozen=True)
class Claimant:
    """Who claims: a case of a service in a region."""

    case_id: str
    region: str
    service: str


# --- inputs ----------------------------------------------------------------------------------

Action = Literal["request", "confirm", "release"]


@dataclass(frozen=True)
class ClaimMessage:
    """A ClaimRequested, ClaimConfirmed or ClaimReleased event as the worker took it in. `trace`
    is the context the decisions it causes carry (the worker's span under the event's trace)."""

    action: Action
    claim_id: str
    citizen_id: str
    kind: ClaimKind
    claimant: Claimant
    correlation_id: str
    trace: TraceContext
    at: datetime  # when the worker took it in
    release_reason: str = ""  # on "release": see RegistryDecision
    released_on: date | None = None

    @property
    def key(self) -> str:
        return claim_key(self.claimant.region, self.claimant.service, self.claim_id)


@dataclass(frozen=True)
class ExpiryCheck:
    """The worker's timer saw the hold of the claim `claim_key` due at `at`."""

    claim_key: str
    citizen_id: str
    at: datetime


RegistryInput = ClaimMessage | ExpiryCheck


def input_key(message: RegistryInput) -> str:
    """What makes two inputs the same input (a redelivery)."""
    if isinstance(message, ExpiryCheck):
        return f"expire:{message.claim_key}"
    return f"{message.action}:{message.key}"


# --- one person's record -------------------------------------------------------------------


@dataclass(frozen=True)
class Hold:
    """The case holding the person for one kind."""

    holder: Claimant
    claim_keys: tuple[str, ...]  # its claims: more than one only by SameCaseHoldsAlready
    confirmed: bool
    expires_at: datetime | None  # None once confirmed


@dataclass(frozen=True)
class ClaimInfo:
    claim_id: str
    kind: ClaimKind
    claimant: Claimant
    correlation_id: str
    trace: TraceContext  # of the request: expiry decisions continue the claim's journey


@dataclass(frozen=True)
class PersonRecord:
    """Everything the registry knows about one person. Treated as immutable: `decide` returns a
    new record."""

    citizen_id: str
    holds: Mapping[ClaimKind, Hold] = field(default_factory=dict)
    claims: Mapping[str, ClaimInfo] = field(default_factory=dict)  # by claim_key
    # The decisions each input produced, by input_key, so a repeated input repeats them exactly.
    # Only inputs that produced decisions are kept: one that changed nothing changes nothing again.
    decided: Mapping[str, tuple[RegistryDecision, ...]] = field(default_factory=dict)

    def holder(self, kind: ClaimKind) -> Claimant | None:
        hold = self.holds.get(kind)
        return None if hold is None else hold.holder


@dataclass(frozen=True)
class Decided:
    record: PersonRecord
    decisions: tuple[RegistryDecision, ...]
    repeated: bool = False  # the input was decided before: the same decisions again
    note: str = ""  # why an input changed nothing, for the worker's log


def decide(record: PersonRecord | None, message: RegistryInput, *, claim_ttl: timedelta) -> Decided:
    """Decide one input against the person's record (None: a person never claimed before)."""
    if claim_ttl <= timedelta(0):
        raise ValueError("claim_ttl must be positive")
    record = record or PersonRecord(message.citizen_id)
    if message.citizen_id != record.citizen_id:
        raise ValueError("the input is about another person than the record")
    key = input_key(message)
    if key in record.decided:
        return Decided(record, record.decided[key], repeated=True)
    if isinstance(message, ExpiryCheck):
        result = _expiry_check(record, message)
    elif message.action == "request":
        result = _request(record, message, claim_ttl)
    elif message.action == "confirm":
        result = _confirm(record, message)
    else:
        result = _release(record, message)
    if result.decisions:
        decided = {**result.record.decided, key: result.decisions}
        result = replace(result, record=replace(result.record, decided=decided))
    return result


def _request(record: PersonRecord, m: ClaimMessage, ttl: timedelta) -> Decided:
    if m.key in record.claims:
        # Unreachable through decide (a request is always decided, hence remembered), kept so a
        # record edited by hand cannot make a claim mean two things.
        return Decided(record, (), note=f"claim {m.key} is already known")
    info = ClaimInfo(m.claim_id, m.kind, m.claimant, m.correlation_id, m.trace)
    record = replace(record, claims={**record.claims, m.key: info})
    record, expired = _expire_if_due(record, m.kind, m.at)
    hold = record.holds.get(m.kind)
    if hold is None:
        new_hold = Hold(m.claimant, (m.key,), confirmed=False, expires_at=m.at + ttl)
        record = replace(record, holds={**record.holds, m.kind: new_hold})
        decision = _decision(record, m.key, Outcome.GRANTED, m.at, m.trace)
    elif hold.holder == m.claimant:  # SameCaseHoldsAlready
        joined = replace(hold, claim_keys=(*hold.claim_keys, m.key))
        record = replace(record, holds={**record.holds, m.kind: joined})
        decision = _decision(record, m.key, Outcome.GRANTED, m.at, m.trace)
    else:  # OneHolderPerPersonAndKind
        decision = _decision(record, m.key, Outcome.DENIED, m.at, m.trace, holder=hold.holder)
    return Decided(record, (*expired, decision))


def _confirm(record: PersonRecord, m: ClaimMessage) -> Decided:
    problem = _mismatch(record, m)
    if problem:
        return Decided(record, (), note=problem)
    record, expired = _expire_if_due(record, m.kind, m.at)  # UnconfirmedHoldExpires: too late
    hold = record.holds.get(m.kind)
    if hold is None or m.key not in hold.claim_keys:
        return Decided(record, expired, note="" if expired else f"claim {m.key} holds nothing to confirm")
    confirmed = replace(hold, confirmed=True, expires_at=None)
    record = replace(record, holds={**record.holds, m.kind: confirmed})
    return Decided(record, (_decision(record, m.key, Outcome.CONFIRMED, m.at, m.trace),))


def _release(record: PersonRecord, m: ClaimMessage) -> Decided:
    problem = _mismatch(record, m)
    if problem:
        return Decided(record, (), note=problem)
    hold = record.holds.get(m.kind)
    if hold is None or m.key not in hold.claim_keys:
        return Decided(record, (), note=f"claim {m.key} holds nothing to release")
    # The hold is the case's: releasing it through any of the case's claims ends all of them.
    record = replace(record, holds={k: h for k, h in record.holds.items() if k != m.kind})
    return Decided(record, tuple(_decision(record, c, Outcome.RELEASED, m.at, m.trace, release=m)
                                 for c in hold.claim_keys))


def _expiry_check(record: PersonRecord, m: ExpiryCheck) -> Decided:
    info = record.claims.get(m.claim_key)
    if info is None:
        return Decided(record, (), note=f"expiry check for unknown claim {m.claim_key}")
    hold = record.holds.get(info.kind)
    if hold is None or m.claim_key not in hold.claim_keys:
        return Decided(record, (), note=f"claim {m.claim_key} no longer holds")
    record, expired = _expire_if_due(record, info.kind, m.at)
    return Decided(record, expired, note="" if expired else f"claim {m.claim_key} is confirmed or not due yet")


def _expire_if_due(record: PersonRecord, kind: ClaimKind,
                   at: datetime) -> tuple[PersonRecord, tuple[RegistryDecision, ...]]:
    """UnconfirmedHoldExpires, judged at the input's own time."""
    hold = record.holds.get(kind)
    if hold is None or hold.confirmed or hold.expires_at is None or at < hold.expires_at:
        return record, ()
    record = replace(record, holds={k: h for k, h in record.holds.items() if k != kind})
    # Decided at the expiry instant, not when an input noticed it: the same whichever input did.
    expired = tuple(
        _decision(record, c, Outcome.EXPIRED, hold.expires_at, record.claims[c].trace) for c in hold.claim_keys
    )
    return record, expired


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
    """Claim keys (one per hold) whose unconfirmed hold is due to expire at `now`."""
    return [
        hold.claim_keys[0] for hold in record.holds.values()
        if not hold.confirmed and hold.expires_at is not None and hold.expires_at <= now
    ]


# --- the record as JSON (the worker's table value) ------------------------------------------


def record_to_json(record: PersonRecord) -> dict[str, Any]:
    return {
        "citizen_id": record.citizen_id,
        "holds": {
            kind.value: {
                "holder": _claimant_to_json(h.holder), "claim_keys": list(h.claim_keys), "confirmed": h.confirmed,
                "expires_at_us": None if h.expires_at is None else to_micros(h.expires_at),
            }
            for kind, h in record.holds.items()
        },
        "claims": {
            key: {
                "claim_id": c.claim_id, "kind": c.kind.value, "claimant": _claimant_to_json(c.claimant),
                "correlation_id": c.correlation_id, "trace": [c.trace.traceparent, c.trace.tracestate],
            }
            for key, c in record.claims.items()
        },
        "decided": {key: [decision_to_json(d) for d in ds] for key, ds in record.decided.items()},
    }


def record_from_json(data: Mapping[str, Any]) -> PersonRecord:
    return PersonRecord(
        citizen_id=data["citizen_id"],
        holds={
            ClaimKind(kind): Hold(
                holder=_claimant_from_json(h["holder"]), claim_keys=tuple(h["claim_keys"]), confirmed=h["confirmed"],
                expires_at=None if h["expires_at_us"] is None else from_micros(h["expires_at_us"]),
            )
            for kind, h in data["holds"].items()
        },
        claims={
            key: ClaimInfo(
                claim_id=c["claim_id"], kind=ClaimKind(c["kind"]), claimant=_claimant_from_json(c["claimant"]),
                correlation_id=c["correlation_id"], trace=TraceContext(*c["trace"]),
            )
            for key, c in data["claims"].items()
        },
        decided={key: tuple(decision_from_json(d) for d in ds) for key, ds in data["decided"].items()},
    )


def decision_to_json(d: RegistryDecision) -> dict[str, Any]:
    return {
        "decision_id": d.decision_id, "claim_id": d.claim_id, "citizen_id": d.citizen_id, "kind": d.kind.value,
        "case_id": d.case_id, "region": d.region, "service": d.service, "outcome": Outcome(d.outcome).value,
        "holder": [d.holder_case_id, d.holder_region, d.holder_service],
        "decided_at_us": to_micros(d.decided_at), "correlation_id": d.correlation_id,
        "trace": [d.trace.traceparent, d.trace.tracestate],
        "release": [d.release_reason, d.released_on.isoformat() if d.released_on else None],
    }


def decision_from_json(data: Mapping[str, Any]) -> RegistryDecision:
    holder_case_id, holder_region, holder_service = data["holder"]
    release_reason, released_on = data.get("release", ["", None])  # absent in records kept before
    return RegistryDecision(
        decision_id=data["decision_id"], claim_id=data["claim_id"], citizen_id=data["citizen_id"],
        kind=ClaimKind(data["kind"]), case_id=data["case_id"], region=data["region"], service=data["service"],
        outcome=Outcome(data["outcome"]), holder_case_id=holder_case_id, holder_region=holder_region,
        holder_service=holder_service, decided_at=from_micros(data["decided_at_us"]),
        correlation_id=data["correlation_id"], trace=TraceContext(*data["trace"]),
        release_reason=release_reason, released_on=date.fromisoformat(released_on) if released_on else None,
    )


def _claimant_to_json(c: Claimant) -> list[str]:
    return [c.case_id, c.region, c.service]


def _claimant_from_json(data: list[str]) -> Claimant:
    return Claimant(*data)
