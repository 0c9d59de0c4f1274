"""The composition root of the disability service: everything built from the opened infrastructure.

Importing this module builds nothing. `bootstrap(infrastructure)` wires one region's service over
an open store, once; the host calls it through `definition()` after opening the store, and tests
call it on stores of their own — the same function either way. It makes sure the store has the
tables of every component the service uses (TABLES)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc

from services.common import deadlines, payments
from services.common.calendars import CalendarInForce
from services.common.consumer import Headers
from services.common.deadlines import DeadlineHandler
from services.common.handoff import HandoffHooks, ensure_owner
from services.common.handoff import projections as handoff_projections
from services.common.kit import UnitsOfWork
from services.common.payments.api import PaymentWiring
from services.common.registry import DECISIONS_TOPIC, DecisionHandler, decision_reaction
from services.common.registry import projection as registry_projection
from services.common.store import EventStore, StoreTransaction
from services.common.trust.reads import RecordedReads
from services.disability.adapters.payloads import CODEC
from services.disability.application.handoffs import forwarding_hooks
from services.disability.application.payments import DisabilityDueSource
from services.disability.application.reactions import (
    deadline_handlers,
    when_registry_decides_hold_or_refuse_the_subsidy,
)
from services.disability.application.reactions_relief import when_relief_records_dibao_act_on_the_living_subsidy
from services.disability.application.subscribers import disability_subscribers
from services.disability.application.unit import SERVICE, Deps, DisabilitySettings
from services.disability.entrypoints.grpc_server import READ_POLICY, disability_servicer
from services.disability.projections import read_models
from services.host.definition import Infrastructure, ServiceDefinition, Wiring

# Its read models, the registry's view of the persons it claims, its deadlines, the hand-off
# tables that record who owns a case, and the monthly payment run's lines and batches.
TABLES = (read_models.TABLES, registry_projection.TABLES, deadlines.TABLES, handoff_projections.TABLES,
          payments.TABLES)

__all__ = ["SERVICE", "DisabilityService", "bootstrap", "definition"]


@dataclass(frozen=True)
class DisabilityService:
    """One region's disability service, wired: the handlers' `deps`, the gRPC `servicer`, the
    `deadline_handlers` for a DeadlineScheduler over the same store, `on_registry_decision` (the
    DecisionHandler for decisions addressed to it) and `on_decision_message(store, raw, headers)`
    (the whole reaction to one message of the decisions topic: inbox, registry view, the decision),
    `handoff_hooks`: 异地代收代办 between a window and the 户籍 region (handoffs.py), and `payments`:
    the monthly runs and what they pay (the host serves the payment API over them)."""

    deps: Deps
    servicer: Callable[[grpc.Server], None]
    deadline_handlers: Mapping[str, DeadlineHandler]
    on_registry_decision: DecisionHandler
    on_decision_message: Callable[[EventStore, bytes, Headers], bool]
    handoff_hooks: HandoffHooks
    payments: PaymentWiring

    @property
    def wiring(self) -> Wiring:
        store = self.deps.store

        def on_decisions(key: bytes | None, value: bytes, headers: Headers) -> None:
            self.on_decision_message(store, value, headers)

        return Wiring(servicers=[self.servicer], deadline_handlers=self.deadline_handlers,
                      raw_handlers={DECISIONS_TOPIC: on_decisions}, handoff_hooks=self.handoff_hooks,
                      payments=self.payments,
                      reactions=[when_relief_records_dibao_act_on_the_living_subsidy(self.deps)])


def bootstrap(infrastructure: Infrastructure) -> DisabilityService:
    store, region = infrastructure.store, infrastructure.region
    if store.service != SERVICE:
        raise ValueError(f"the disability service needs a disability store, not a {store.service!r} one")
    if store.region != region:
        raise ValueError(f"store of region {store.region} given for region {region}")

    def owner_check(tx: StoreTransaction, stream_id: str) -> None:
        ensure_owner(tx, stream_id, region)

    store.ensure_tables(*TABLES)
    units = UnitsOfWork(store, CODEC, disability_subscribers(), owner_check=owner_check)
    settings = infrastructure.settings or DisabilitySettings.of_region(region)
    deps = Deps(units=units, clock=infrastructure.clock, region=region, settings=settings,
                calendar_in_force=CalendarInForce(store, base=settings.calendar))
    on_decision = when_registry_decides_hold_or_refuse_the_subsidy(deps)
    reads = infrastructure.recorded_reads(READ_POLICY)
    servicer = disability_servicer(deps, reads)
    return DisabilityService(deps=deps, servicer=servicer, deadline_handlers=deadline_handlers(deps),
                             on_registry_decision=on_decision,
                             on_decision_message=decision_reaction(region, SERVICE, on_decision),
                             handoff_hooks=forwarding_hooks(deps), payments=payment_wiring(store, region, reads))


def payment_wiring(store: EventStore, region: str, reads: RecordedReads) -> PaymentWiring:
    """The region's monthly runs over its own store (batches hash-chained, audited and relayed with
    its other events), paying what the entitlements owe."""
    runs = payments.PaymentRuns(payments.payment_units(store), region, SERVICE)
    return PaymentWiring(runs, DisabilityDueSource(store), reads)


def definition() -> ServiceDefinition:
    """The disability service as its host (and the catalogue) sees it."""
    return ServiceDefinition(name=SERVICE, wire=lambda infrastructure: bootstrap(infrastructure).wiring,
                             tables=TABLES)
