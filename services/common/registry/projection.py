"""Every region's view of the registry: the `registry_entries` read model, and the recorded query.

Each region's service keeps one row per claim it hears of (`decision_reaction` calls `apply_decision`
for every decision it reads): its own region's claims, from its decisions topic, and every region's
confirmed and released holds, from the national record (registry/topics.py; invariant 10), so a
window can see who holds a person without asking another region. A row shows the latest decision
on its claim.

Decisions of one person arrive in order on each topic (both are keyed by citizen id), though not
across the two: a copy on the national record may be read before the region's own. Redeliveries and
the second copy are dropped by the inbox before they get here; as a second guard an older kind of
decision never overwrites a later one (granted/denied < confirmed < released/expired), so even a
stray re-sent decision cannot bring a released hold back to life in the view.

Rebuilding: the rows for this region's own claims can be re-derived from its log
(RegistryDecisionRecorded); the rows for other regions' claims exist only on the national record,
so this read model is rebuilt by replaying the region's decisions topic and the national record
into an empty table with a fresh inbox.

The table is declared on this module's own `TABLES` metadata, which the store creates when given
it: a claiming service's composition root passes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table

from services.common.errors import FieldViolation, InvalidArgument
from services.common.events import Actor, NewEvent, from_micros, to_micros
from services.common.identity import CitizenId
from services.common.registry.domain import HOLDING, ClaimKind, Outcome, RegistryDecision
from services.common.store import ANY_VERSION, EventStore, StoreTransaction, driver, prepared
from services.common.telemetry import current_trace_context
from tongban.registry.v1 import registry_pb2

QUERY_STREAM_TYPE = "registry.PersonQueries"
QUERY_STREAM_PREFIX = "registry-queries-"
MAX_REASON = 500

TABLES = MetaData()  # this component's own tables (see the module docstring)

registry_entries = Table(
    "registry_entries",
    TABLES,
    Column("region", String(12), primary_key=True),
    Column("service", String(40), primary_key=True),
    Column("claim_id", String(150), primary_key=True),
    Column("citizen_id", String(18), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("case_id", String(150), nullable=False),
    Column("status", String(16), nullable=False),
    Column("status_rank", Integer, nullable=False),
    Column("holder_case_id", String(150), nullable=False),
    Column("holder_region", String(12), nullable=False),
    Column("holder_service", String(40), nullable=False),
    Column("decided_at_us", BigInteger, nullable=False),
    Column("decision_id", String(64), nullable=False),
    Column("correlation_id", String(200), nullable=False),
    # On "released": why, and the day it took effect (RegistryDecision.release_reason).
    Column("release_reason", String(16), nullable=False, server_default=""),
    Column("released_on", String(10), nullable=True),  # ISO date
)
Index("ix_registry_entries_citizen", registry_entries.c.citizen_id)

# How far along its life a claim is: a row only moves forwards.
_RANK = {
    Outcome.GRANTED: 1, Outcome.DENIED: 1, Outcome.CONFIRMED: 2, Outcome.RELEASED: 3, Outcome.EXPIRED: 3,
    Outcome.PENDING: 1,  # the claim left the queue holding nothing; its case retries under a new claim id
}


@dataclass(frozen=True)
class RegistryEntry:
    """One claim on a person, as the registry last decided it."""

    citizen_id: str
    kind: ClaimKind
    claim_id: str
    case_id: str
    region: str
    service: str
    status: Outcome  # the latest decision on the claim
    holder_case_id: str  # on "denied": who held the person then
    holder_region: str
    holder_service: str
    decided_at: datetime  # of the latest decision
    release_reason: str = ""
    released_on: date | None = None

    @property
    def holding(self) -> bool:
        """The claim holds the person now (granted or confirmed)."""
        return self.status in HOLDING


def apply_decision(tx: StoreTransaction, decision: RegistryDecision) -> None:
    """Bring the claim's row up to `decision` (any region's), in the caller's transaction."""
    outcome = Outcome(decision.outcome)
    values: dict[str, Any] = {
        "region": decision.region, "service": decision.service, "claim_id": decision.claim_id,
        "citizen_id": decision.citizen_id, "kind": ClaimKind(decision.kind).value, "case_id": decision.case_id,
        "status": outcome.value, "status_rank": _RANK[outcome],
        "holder_case_id": decision.holder_case_id, "holder_region": decision.holder_region,
        "holder_service": decision.holder_service, "decided_at_us": to_micros(decision.decided_at),
        "decision_id": decision.decision_id, "correlation_id": decision.correlation_id,
        "release_reason": decision.release_reason,
        "released_on": decision.released_on.isoformat() if decision.released_on else None,
    }
    # A later decision never goes back: the row moves only to an equal or higher rank.
    prepared.upsert(tx.connection, registry_entries, values, ("region", "service", "claim_id"),
                    where="registry_entries.status_rank <= excluded.status_rank")


_ENTRY_COLUMNS = ("citizen_id", "kind", "claim_id", "case_id", "region", "service", "status", "holder_case_id",
                  "holder_region", "holder_service", "decided_at_us", "release_reason", "released_on")
# Prepared driver SQL, not a Core select built per call: every registration reads both persons'
# entries, and building and compiling the select was most of the national lookup (issue 15's
# profile of RegisterMarriage: 11% of the call).
_ENTRIES_SQL = {
    dialect: (f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM registry_entries WHERE citizen_id = {p} "
              "ORDER BY kind, decided_at_us, region, service, claim_id")
    for dialect, p in (("sqlite", "?"), ("postgresql", "%s"))
}


def entries_of(tx: StoreTransaction, citizen_id: str) -> list[RegistryEntry]:
    rows = driver.fetch_all(tx.connection, _ENTRIES_SQL[tx.store.dialect], (citizen_id,))
    return [
        RegistryEntry(
            citizen_id=citizen, kind=ClaimKind(kind), claim_id=claim_id, case_id=case_id, region=region,
            service=service, status=Outcome(status), holder_case_id=holder_case_id, holder_region=holder_region,
            holder_service=holder_service, decided_at=from_micros(int(decided_at_us)),
            release_reason=release_reason, released_on=date.fromisoformat(released_on) if released_on else None,
        )
        for (citizen, kind, claim_id, case_id, region, service, status, holder_case_id, holder_region,
             holder_service, decided_at_us, release_reason, released_on) in rows
    ]


def query_person(store: EventStore, citizen_id: str, *, actor: Actor, reason: str) -> list[RegistryEntry]:
    """A person's registry entries, every claim anyone made on them as last decided. The query
    itself is recorded first (RegistryQueried: who asked, why), in the same transaction that reads
    the answer: no answer without its record. Raises InvalidArgument naming the field for a bad
    citizen id or a missing reason (a look at personal data must state its purpose)."""
    violations: list[FieldViolation] = []
    citizen: CitizenId | None = None
    try:
        citizen = CitizenId.parse(citizen_id, today=store.clock.now().date())
    except InvalidArgument as exc:
        violations.extend(exc.violations)
    if not reason.strip():
        violations.append(FieldViolation("reason", "a query must say why the person is looked up"))
    elif len(reason) > MAX_REASON:
        violations.append(FieldViolation("reason", f"must have at most {MAX_REASON} characters"))
    if violations:
        raise InvalidArgument(violations)
    assert citizen is not None  # no violations means it parsed
    event = NewEvent.from_message(
        registry_pb2.RegistryQueried(citizen_id=citizen.value, reason=reason),
        event_id=str(uuid.uuid4()), actor=actor, correlation_id=f"registry-query-{uuid.uuid4()}",
        occurred_at=store.clock.now(), trace=current_trace_context(),
    )
    with store.transaction() as tx:
        tx.append(f"{QUERY_STREAM_PREFIX}{citizen.value}", QUERY_STREAM_TYPE, ANY_VERSION, [event])
        return entries_of(tx, citizen.value)
