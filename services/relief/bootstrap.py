"""The composition root of the relief service: everything built from the opened infrastructure.

Importing this module builds nothing. `bootstrap(infrastructure)` wires one region's service over an
open store, once; the host calls it through `definition()`, and tests call it on stores of their
own — the same function either way. It makes sure the store has the tables of every component the
service uses (TABLES)."""

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
from services.host.definition import Infrastructure, ServiceDefinition, Wiring
from services.relief.adapters.payloads import CODEC
from services.relief.application import marriage_reactions
from services.relief.application.handoffs import economic_check_hooks
from services.relief.application.payments import DibaoDues
from services.relief.application.reactions import deadline_handlers, when_registry_decides_note_the_members_place
from services.relief.application.reactions_disability import when_a_disability_subsidy_changes_leave_the_income_alone
from services.relief.application.subscribers import relief_subscribers
from services.relief.application.unit import SERVICE, Deps
from services.relief.domain.settings import ReliefSettings
from services.relief.entrypoints.grpc_server import READ_POLICY, relief_servicer
from services.relief.projections import read_models

# Its read models, the registry's view of the persons it claims, its deadlines, the hand-off
# tables that record who owns a case, and the monthly payment run's lines and batches.
TABLES = (read_models.TABLES, marriage_reactions.TABLES, registry_projection.TABLES, deadlines.TABLES,
          handoff_projections.TABLES, payments.TABLES)

__all__ = ["SERVICE", "ReliefService", "bootstrap", "definition"]


@dataclass(frozen=True)
class ReliefService:
    """One region's relief service, wired: `servicer` for create_server, `deadline_handlers` for a
    DeadlineScheduler over the same store, `on_registry_decision` and `on_decision_message(store,
    raw, headers)` for the registry's decisions on the members' places, `handoff_hooks` for the family
    economic checks asked of and by other regions (handoffs.py), `payments` (the monthly runs, served
    by the host's payment API), `wiring` as the host takes it."""

    deps: Deps
    servicer: Callable[[grpc.Server], None]
    deadline_handlers: Mapping[str, DeadlineHandler]
    on_registry_decision: DecisionHandler
    on_decision_message: Callable[[EventStore, bytes, Headers], bool]
    handoff_hooks: HandoffHooks
    payments: PaymentWiring
    on_marriage_event: Callable[[bytes | None, bytes, Headers], None]

    @property
    def wiring(self) -> Wiring:
        store = self.deps.store

        def on_decisions(key: bytes | None, value: bytes, headers: Headers) -> None:
            self.on_decision_message(store, value, headers)

        return Wiring(servicers=[self.servicer], deadline_handlers=self.deadline_handlers,
                      raw_handlers={DECISIONS_TOPIC: on_decisions},
                      handoff_hooks=self.handoff_hooks, payments=self.payments,
                      reactions=[marriage_reactions.marriage_reaction(self.deps),  # signed events, verified
                                 when_a_disability_subsidy_changes_leave_the_income_alone()])


def bootstrap(infrastructure: Infrastructure) -> ReliefService:
    store, region = infrastructure.store, infrastructure.region
    if store.service != SERVICE:
        raise ValueError(f"the relief service needs a relief store, not a {store.service!r} one")
    if store.region != region:
        raise ValueError(f"store of region {store.region} given for region {region}")

    def owner_check(tx: StoreTransaction, stream_id: str) -> None:
        ensure_owner(tx, stream_id, region)

    store.ensure_tables(*TABLES)
    settings = infrastructure.settings or ReliefSettings()
    units = UnitsOfWork(store, CODEC, relief_subscribers(settings), owner_check=owner_check)
    deps = Deps(units=units, clock=infrastructure.clock, region=region, settings=settings,
                calendar_in_force=CalendarInForce(store, base=settings.calendar))
    on_decision = when_registry_decides_note_the_members_place(deps)
    reads = infrastructure.recorded_reads(READ_POLICY)
    servicer = relief_servicer(deps, reads)
    return ReliefService(deps=deps, servicer=servicer, deadline_handlers=deadline_handlers(deps),
                         on_registry_decision=on_decision,
                         on_decision_message=decision_reaction(region, SERVICE, on_decision),
                         handoff_hooks=economic_check_hooks(deps),
                         on_marriage_event=marriage_reactions.when_a_member_marries_or_divorces_review_the_household(deps),
                         payments=payment_wiring(store, region, reads))


def payment_wiring(store: EventStore, region: str, reads: RecordedReads) -> PaymentWiring:
    """The region's monthly 低保 runs over its own store, paying every granted (or tapering)
    household (the same run, batches and export as disability's)."""
    runs = payments.PaymentRuns(payments.payment_units(store), region, SERVICE)
    return PaymentWiring(runs, DibaoDues(store), reads)


def definition() -> ServiceDefinition:
    """The relief service as its host (and the catalogue) sees it."""
    return ServiceDefinition(name=SERVICE, wire=lambda infrastructure: bootstrap(infrastructure).wiring,
                             tables=TABLES)
