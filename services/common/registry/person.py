"""One person's record in the per-person registry (architecture invariant 5) and the inputs and
decisions the registry's rules (domain.py) work on: plain data, and its JSON form (the worker's
table value). Split from domain.py so the rules read on their own; domain.py re-exports all of it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
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
    # Not a refusal: the claim's deadline passed behind a hold not yet confirmed (ARefusalRestsOnASettledHold).
    PENDING = "pending"


HOLDING = frozenset({Outcome.GRANTED, Outcome.CONFIRMED})

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
    outcome: str  # an Outcome: "granted" | "denied" | "confirmed" | "released" | "expired" | "pending"
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
class Waiter:
    """A claim that met another case's hold and waits, until `until`, for that hold to end
    (ReleaseInFlightIsAwaited in domain.py) rather than being denied at once."""

    claim_key: str
    until: datetime


@dataclass(frozen=True)
class PersonRecord:
    """Everything the registry knows about one person. Treated as immutable: `decide` returns a
    new record."""

    citizen_id: str
    holds: Mapping[ClaimKind, Hold] = field(default_factory=dict)
    claims: Mapping[str, ClaimInfo] = field(default_factory=dict)  # by claim_key
    # Per kind, the claims waiting behind the holder, first come first served.
    waiting: Mapping[ClaimKind, tuple[Waiter, ...]] = field(default_factory=dict)
    # The decisions each input produced, by input_key, so a repeated input repeats them exactly.
    # Only inputs that produced decisions are kept: one that changed nothing changes nothing again.
    decided: Mapping[str, tuple[RegistryDecision, ...]] = field(default_factory=dict)

    def holder(self, kind: ClaimKind) -> Claimant | None:
        hold = self.holds.get(kind)
        return None if hold is None else hold.holder



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
        "waiting": {kind.value: [[w.claim_key, to_micros(w.until)] for w in ws]
                    for kind, ws in record.waiting.items()},
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
        waiting={ClaimKind(kind): tuple(Waiter(key, from_micros(until)) for key, until in ws)
                 for kind, ws in data.get("waiting", {}).items()},  # absent in records kept before
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
