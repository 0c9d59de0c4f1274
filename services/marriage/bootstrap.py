"""The composition root of the marriage service: everything built from (store, clock, region).

Importing this module builds nothing. `bootstrap(store, ...)` wires one region's service over an
open store; `service_definition()` is what the service host (services/common/runtime.py) loads
for `tongban serve --service marriage`, and builds the same wiring once the host has opened its
store.

Importing the handlers (via this module) defines the read-model, deadline and registry tables on
the store's shared metadata, so a store opened afterwards creates them with its schema."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

from services.common.clock import Clock
from services.common.consumer import Headers
from services.common.deadlines import Deadline, DeadlineHandler
from services.common.handoff import HandoffHooks
from services.common.registry import DECISIONS_TOPIC, DecisionHandler, decision_reaction
from services.common.store import EventStore, StoreTransaction
from services.marriage.application import handoffs
from services.marriage.application.reactions import deadline_handlers, when_registry_decides_register_or_refuse
from services.marriage.application.unit import SERVICE, Deps, MarriageSettings
from services.marriage.domain.periods import DEADLINE_KINDS
from services.marriage.entrypoints.grpc_server import marriage_servicer
from services.marriage.projections import read_models

if TYPE_CHECKING:
    from services.common.runtime import ServiceDefinition

__all__ = ["SERVICE", "MarriageService", "bootstrap", "read_models", "service_definition"]


@dataclass(frozen=True)
class MarriageService:
    """One region's marriage service, wired.

    * `servicer`: adder for `create_server(servicers=[...])` (the health service comes with it);
    * `deadline_handlers`: kind → handler, for a DeadlineScheduler over the same store;
    * `on_registry_decision`: the DecisionHandler for registry decisions addressed to it;
    * `on_decision_message(store, raw, headers)`: the whole reaction to one raw message of the
      decisions topic (inbox, registry view, the decision recorded, then `on_registry_decision`);
    * `handoff_hooks`: for `handoff_reaction(region, hooks, service="marriage")`: a reissue asked
      here for another region's record, and this archive's answer to other regions' (handoffs.py)."""

    deps: Deps
    servicer: Callable[[grpc.Server], None]
    deadline_handlers: Mapping[str, DeadlineHandler]
    on_registry_decision: DecisionHandler
    on_decision_message: Callable[[EventStore, bytes, Headers], bool]
    handoff_hooks: HandoffHooks


def bootstrap(store: EventStore, clock: Clock | None = None, region: str | None = None, *,
              settings: MarriageSettings | None = None) -> MarriageService:
    region = region or store.region
    if store.service != SERVICE:
        raise ValueError(f"the marriage service needs a marriage store, not a {store.service!r} one")
    if store.region != region:
        raise ValueError(f"store of region {store.region} given for region {region}")
    deps = Deps(store=store, clock=clock or store.clock, region=region, settings=settings or MarriageSettings())
    on_decision = when_registry_decides_register_or_refuse(deps)
    return MarriageService(
        deps=deps,
        servicer=marriage_servicer(deps),
        deadline_handlers=deadline_handlers(deps),
        on_registry_decision=on_decision,
        on_decision_message=decision_reaction(region, SERVICE, on_decision),
        handoff_hooks=handoffs.reissue_hooks(deps),
    )


# -- the service host's view ------------------------------------------------------------------------


class _PerStore:
    """One wired service per store the host opened (a host opens one; tests may open several)."""

    def __init__(self, settings: MarriageSettings | None) -> None:
        self._settings = settings
        self._services: dict[int, MarriageService] = {}
        self._lock = threading.Lock()

    def __call__(self, store: EventStore) -> MarriageService:
        with self._lock:
            service = self._services.get(id(store))
            if service is None or service.deps.store is not store:
                service = bootstrap(store, settings=self._settings)
                self._services[id(store)] = service
            return service


def service_definition(settings: MarriageSettings | None = None) -> ServiceDefinition:
    """The ServiceDefinition of services/common/runtime.py. Deadline handlers there are given at
    definition time, before any store is open, so they find their service through the store of
    the transaction they run in (the host's store, with the host's clock)."""
    from services.common.runtime import ServiceDefinition  # the host, only when hosting

    wired = _PerStore(settings)

    def on_deadline(kind: str) -> DeadlineHandler:
        def handle(tx: StoreTransaction, deadline: Deadline) -> None:
            wired(tx.store).deadline_handlers[kind](tx, deadline)

        return handle

    def on_decisions(store: EventStore, key: bytes | None, value: bytes, headers: Headers) -> None:
        wired(store).on_decision_message(store, value, headers)

    # Like the deadline handlers, the hooks find their region's service through the transaction's store.
    hooks = HandoffHooks(
        on_received=lambda tx, h: handoffs.when_asked_for_a_record_answer_from_the_archive(wired(tx.store).deps, tx, h),
        on_refused=lambda tx, h: handoffs.when_archive_refuses_close_refused(wired(tx.store).deps, tx, h),
        on_outcome=lambda tx, h, outcome: handoffs.when_archive_answers_issue_here(wired(tx.store).deps, tx, h,
                                                                                   outcome),
    )
    return ServiceDefinition(
        name=SERVICE,
        servicers=[lambda store: wired(store).servicer],
        deadline_handlers={kind: on_deadline(kind) for kind in DEADLINE_KINDS},
        raw_handlers={DECISIONS_TOPIC: on_decisions},
        # Marriage registers at any office and forwards no case, but a reissue asked here for a
        # record another region holds asks that region's archive (REQUEST_WORK).
        handoff_hooks=hooks,
    )
