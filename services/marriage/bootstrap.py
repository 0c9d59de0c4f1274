"""The composition root of the marriage service: everything built from the opened infrastructure.

Importing this module builds nothing. `bootstrap(infrastructure)` wires one region's service over
an open store, once; the host calls it through `definition()` after opening the store, and tests
call it on stores of their own — the same function either way. It makes sure the store has the
tables of every component the service uses (TABLES)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import grpc

from services.common import deadlines
from services.common.calendars import CalendarInForce
from services.common.consumer import Headers
from services.common.deadlines import DeadlineHandler
from services.common.handoff import HandoffHooks, ensure_owner
from services.common.handoff import projections as handoff_projections
from services.common.kit import UnitsOfWork
from services.common.registry import DECISIONS_TOPIC, DecisionHandler, decision_reaction
from services.common.registry import projection as registry_projection
from services.common.store import EventStore, StoreTransaction
from services.host.definition import Infrastructure, ServiceDefinition, Wiring
from services.marriage.adapters.payloads import CODEC
from services.marriage.application.divorce_elsewhere import marriage_handoff_hooks
from services.marriage.application.reactions import deadline_handlers, when_registry_decides_register_or_refuse
from services.marriage.application.subscribers import marriage_subscribers
from services.marriage.application.unit import SERVICE, Deps, MarriageSettings
from services.marriage.entrypoints.grpc_server import marriage_servicer
from services.marriage.projections import read_models

# The tables of the components the service uses: its read models, the registry's view of the
# persons it claims, its deadlines, and the hand-off tables that record who owns a case.
TABLES = (read_models.TABLES, registry_projection.TABLES, deadlines.TABLES, handoff_projections.TABLES)

__all__ = ["SERVICE", "MarriageService", "bootstrap", "definition", "read_models"]


@dataclass(frozen=True)
class MarriageService:
    """One region's marriage service, wired.

    * `servicer`: adder for `create_server(servicers=[...])` (the health service comes with it);
    * `deadline_handlers`: kind → handler, for a DeadlineScheduler over the same store;
    * `on_registry_decision`: the DecisionHandler for registry decisions addressed to it;
    * `on_decision_message(store, raw, headers)`: the whole reaction to one raw message of the
      decisions topic (inbox, registry view, the decision recorded, then `on_registry_decision`);
    * `handoff_hooks`: a reissue asked here for another region's record, and this archive's answer
      to other regions' (handoffs.py); a divorce received here for another region's marriage,
      and this record's part in other regions' (divorce_elsewhere.py);
    * `wiring`: all of it as the host takes it."""

    deps: Deps
    servicer: Callable[[grpc.Server], None]
    deadline_handlers: Mapping[str, DeadlineHandler]
    on_registry_decision: DecisionHandler
    on_decision_message: Callable[[EventStore, bytes, Headers], bool]
    handoff_hooks: HandoffHooks

    @property
    def wiring(self) -> Wiring:
        store = self.deps.store

        def on_decisions(key: bytes | None, value: bytes, headers: Headers) -> None:
            self.on_decision_message(store, value, headers)

        # Marriage registers at any office and forwards no case, but a reissue or a divorce asked
        # here for a record another region holds asks that region for its part (REQUEST_WORK).
        return Wiring(servicers=[self.servicer], deadline_handlers=self.deadline_handlers,
                      raw_handlers={DECISIONS_TOPIC: on_decisions}, handoff_hooks=self.handoff_hooks)


def bootstrap(infrastructure: Infrastructure) -> MarriageService:
    store, region = infrastructure.store, infrastructure.region
    if store.service != SERVICE:
        raise ValueError(f"the marriage service needs a marriage store, not a {store.service!r} one")
    if store.region != region:
        raise ValueError(f"store of region {store.region} given for region {region}")

    def owner_check(tx: StoreTransaction, stream_id: str) -> None:
        ensure_owner(tx, stream_id, region)

    store.ensure_tables(*TABLES)
    settings = infrastructure.settings or MarriageSettings()
    units = UnitsOfWork(store, CODEC, marriage_subscribers(settings), owner_check=owner_check)
    deps = Deps(units=units, clock=infrastructure.clock, region=region, settings=settings,
                calendar_in_force=CalendarInForce(store, base=settings.calendar))
    on_decision = when_registry_decides_register_or_refuse(deps)
    return MarriageService(
        deps=deps,
        servicer=marriage_servicer(deps, infrastructure.recorded_reads()),
        deadline_handlers=deadline_handlers(deps),
        on_registry_decision=on_decision,
        on_decision_message=decision_reaction(region, SERVICE, on_decision),
        handoff_hooks=marriage_handoff_hooks(deps),
    )


def definition() -> ServiceDefinition:
    """The marriage service as its host (and the catalogue) sees it."""
    return ServiceDefinition(name=SERVICE, wire=lambda infrastructure: bootstrap(infrastructure).wiring,
                             tables=TABLES)
