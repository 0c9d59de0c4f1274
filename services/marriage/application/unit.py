"""What every handler of the service shares: its dependencies, the provenance of what it appends,
loading aggregates inside a transaction, certificate numbers, and the side effects some events
carry inside the same transaction (registry claims, deadlines, read models)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select

from services.common.clock import Clock
from services.common.deadlines import cancel_deadline, schedule_deadline
from services.common.errors import NotFound
from services.common.events import Actor, NewEvent, RecordedEvent, TraceContext
from services.common.registry.claims import confirm_claim, release_claim, request_claim
from services.common.registry.domain import ClaimKind
from services.common.store import EventStore, StoreTransaction
from services.common.store.schema import store_head
from services.common.working_days import NATIONAL, Calendar
from services.marriage.adapters.cases import fold_divorce, fold_marriage
from services.marriage.adapters.payloads import to_message
from services.marriage.domain import divorce as divorce_module
from services.marriage.domain import marriage as marriage_module
from services.marriage.domain.divorce import Divorce
from services.marriage.domain.events import (
    CertificateNumberIssued,
    CoolingOffEnded,
    DivorceApplicationReceived,
    DivorceCertificateRequested,
    DivorceEvent,
    DivorcePeriodEndRescheduled,
    DivorceTerminated,
    DivorceWithdrawn,
    DomainEvent,
    MarriageEvent,
    MarriageRegistered,
    PartyClaimReleased,
)
from services.marriage.domain.marriage import Marriage
from services.marriage.domain.periods import (
    CERTIFICATE_WINDOW_ENDS,
    COOLING_OFF,
    COOLING_OFF_ENDS,
    DIVORCE_PERIOD_RULE,
    period_runs_out_at,
)
from services.marriage.domain.values import Document, start_of_china_day
from services.marriage.projections.read_models import refresh

SERVICE = "marriage"
COUNTER_STREAM_TYPE = "marriage.CertificateNumbers"

# Who may look up a person's marital status (a per-region setting; these are the national bodies
# that need it for their duties: registrars, courts, public security, auditors).
DEFAULT_STATUS_QUERY_ROLES = frozenset({"registrar", "court", "public_security", "auditor"})


@dataclass(frozen=True)
class MarriageSettings:
    """Per-region configuration, with the national values as defaults."""

    calendar: Calendar = NATIONAL  # a region may add its own days off (working_days.Calendar)
    status_query_roles: frozenset[str] = DEFAULT_STATUS_QUERY_ROLES
    max_wait_seconds: float = 60.0  # RegisterMarriage (and a reissue elsewhere) waits at most this long
    # A reissue asked here for another region's record: that region's archive answers by machine,
    # so these limits only catch a region that is down (the hand-off then shows as overdue).
    reissue_accept_within: timedelta = timedelta(days=1)
    reissue_answer_within: timedelta = timedelta(days=2)


@dataclass(frozen=True)
class Deps:
    """The service's dependencies, built by bootstrap.py."""

    store: EventStore
    clock: Clock
    region: str
    settings: MarriageSettings = field(default_factory=MarriageSettings)


@dataclass(frozen=True)
class Cause:
    """The provenance every event of one command or reaction shares (architecture invariant 2)."""

    actor: Actor
    correlation_id: str
    causation_id: str
    occurred_at: datetime
    trace: TraceContext


def new_case_id(kind: str, region: str) -> str:
    return f"{kind}-{region}-{uuid.uuid4().hex[:16]}"


def append(tx: StoreTransaction, stream_id: str, stream_type: str, expected_version: int,
           events: Sequence[DomainEvent], cause: Cause) -> list[RecordedEvent]:
    new = [
        NewEvent.from_message(to_message(e), event_id=str(uuid.uuid4()), actor=cause.actor,
                              correlation_id=cause.correlation_id, occurred_at=cause.occurred_at,
                              causation_id=cause.causation_id, trace=cause.trace)
        for e in events
    ]
    return tx.append(stream_id, stream_type, expected_version, new)


# -- loading ------------------------------------------------------------------------------------


def load_marriage(tx: StoreTransaction, case_id: str) -> Marriage:
    stream = tx.read_stream(case_id)
    if not stream or stream[0].stream_type != marriage_module.STREAM_TYPE:
        raise NotFound("marriage", case_id)
    return fold_marriage(stream)


def load_divorce(tx: StoreTransaction, case_id: str) -> Divorce:
    stream = tx.read_stream(case_id)
    if not stream or stream[0].stream_type != divorce_module.STREAM_TYPE:
        raise NotFound("divorce", case_id)
    return fold_divorce(stream)


# -- certificate numbers ------------------------------------------------------------------------


def issue_certificate_number(tx: StoreTransaction, *, document: Document, office_code: str, on: date,
                             case_id: str, cause: Cause) -> str:
    """The next number of the office's year: one counter stream per office and year, appended
    with its expected version, so two offices' numbers never collide and one office never gives
    the same number twice."""
    _lock_store_head(tx)
    stream_id = f"certificate-numbers-{office_code}-{on.year}"
    version = tx.stream_version(stream_id)  # read under the head lock: no writer can be in between
    number = f"{document.number_prefix}{office_code}-{on.year}-{version + 1:06d}"
    issued = CertificateNumberIssued(number, office_code, on.year, version + 1, document.value, case_id)
    append(tx, stream_id, COUNTER_STREAM_TYPE, version, [issued], cause)
    return number


def _lock_store_head(tx: StoreTransaction) -> None:
    """Take the store head lock now (an append would take it anyway), so the counter is read after
    every earlier number committed: on PostgreSQL a read before the lock could be stale and the
    append would then fail on a taken version instead of simply following it."""
    if tx.store.dialect == "sqlite":
        return  # BEGIN IMMEDIATE already serialises writers
    tx.connection.execute(select(store_head.c.position).where(store_head.c.id == 1).with_for_update()).one()


# -- effects that travel with events ------------------------------------------------------------


def marriage_registry_effects(tx: StoreTransaction, marriage: Marriage, events: Sequence[MarriageEvent],
                              cause: Cause) -> None:
    """Registry claims follow the marriage: confirmed once registered, released when the marriage
    no longer needs the person (refused, dissolved, declared void)."""
    for event in events:
        if isinstance(event, MarriageRegistered):
            for party in marriage.parties:
                confirm_claim(tx, claim_id=party.claim_id, citizen_id=party.citizen_id, kind=ClaimKind.LIVE_MARRIAGE,
                              case_id=marriage.case_id, actor=cause.actor, correlation_id=marriage.case_id,
                              causation_id=cause.causation_id, occurred_at=cause.occurred_at, trace=cause.trace)
        elif isinstance(event, PartyClaimReleased):
            release_claim(tx, claim_id=event.claim_id, citizen_id=event.citizen_id, kind=ClaimKind.LIVE_MARRIAGE,
                          case_id=marriage.case_id, reason=event.reason, actor=cause.actor,
                          correlation_id=marriage.case_id, causation_id=cause.causation_id,
                          occurred_at=cause.occurred_at, trace=cause.trace)


def request_claims(tx: StoreTransaction, marriage_case_id: str, parties: Sequence[tuple[str, str]],
                   cause: Cause) -> None:
    """Ask the registry for each (claim id, citizen id)."""
    for claim_id, citizen_id in parties:
        request_claim(tx, claim_id=claim_id, citizen_id=citizen_id, kind=ClaimKind.LIVE_MARRIAGE,
                      case_id=marriage_case_id, actor=cause.actor, correlation_id=marriage_case_id,
                      causation_id=cause.causation_id, occurred_at=cause.occurred_at, trace=cause.trace)


def divorce_deadline_effects(tx: StoreTransaction, before: Divorce, case_id: str, events: Sequence[DivorceEvent],
                             cause: Cause) -> None:
    """The divorce's periods as deadlines: scheduled when a period starts, cancelled when the case
    leaves the state that was waiting for it."""
    for event in events:
        match event:
            case DivorceApplicationReceived():
                _schedule(tx, event.cooling_off_deadline_id, COOLING_OFF_ENDS, case_id,
                          period_runs_out_at(event.cooling_off_last_day), cause)
            case CoolingOffEnded():
                _schedule(tx, event.window_deadline_id, CERTIFICATE_WINDOW_ENDS, case_id,
                          period_runs_out_at(event.window_last_day), cause)
            case DivorcePeriodEndRescheduled():
                kind = COOLING_OFF_ENDS if event.period == COOLING_OFF else CERTIFICATE_WINDOW_ENDS
                _schedule(tx, event.deadline_id, kind, case_id, start_of_china_day(event.due_on), cause)
            case DivorceWithdrawn() | DivorceCertificateRequested() | DivorceTerminated():
                if before.pending_deadline_id:
                    cancel_deadline(tx, before.pending_deadline_id, type(event).__name__, actor=cause.actor,
                                    causation_id=cause.causation_id, occurred_at=cause.occurred_at,
                                    correlation_id=cause.correlation_id, trace=cause.trace)
            case _:
                pass


def _schedule(tx: StoreTransaction, deadline_id: str, kind: str, case_id: str, due_at: datetime,
              cause: Cause) -> None:
    schedule_deadline(tx, deadline_id=deadline_id, kind=kind, case_stream_id=case_id, due_at=due_at,
                      rule=DIVORCE_PERIOD_RULE, actor=cause.actor, correlation_id=cause.correlation_id,
                      causation_id=cause.causation_id, occurred_at=cause.occurred_at, trace=cause.trace)


def refresh_read_models(tx: StoreTransaction, *stream_ids: str) -> None:
    refresh(tx, stream_ids)
