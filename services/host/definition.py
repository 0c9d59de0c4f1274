"""What a service brings to its host: a name, its tables, and one composition root.

The host opens the infrastructure (store, clock, region, producer), then calls the service's
`wire(infrastructure)` exactly once; what comes back — servicers, reactions, deadline handlers,
raw-topic handlers, hand-off hooks — is bound to that store. Tests call the same function on a
store of their own (style.md, "wire once")."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from sqlalchemy import MetaData

from services.common.clock import Clock
from services.common.consumer import Handler, Headers
from services.common.deadlines import DeadlineHandler
from services.common.events import RecordedEvent
from services.common.handoff import HandoffHooks
from services.common.payments.api import PaymentWiring
from services.common.store import EventStore
from services.common.trust.reads import ReadPolicy, RecordedReads

ServicerAdder = Callable[[grpc.Server], None]
# (key, value, headers) for a topic whose messages are not stored-event envelopes.
RawHandler = Callable[[bytes | None, bytes, Headers], None]


@dataclass(frozen=True)
class Reaction:
    """A service's reaction to stored events of some types, applied once per event through the
    inbox. `name` is the inbox consumer name: unique within the service and never renamed (a new
    name would process every event again). `topic` is a logical topic name (default: the service's
    own events topic). `wants`, if given, filters before any transaction."""

    name: str
    event_types: frozenset[str]
    handle: Handler
    topic: str | None = None
    wants: Callable[[RecordedEvent], bool] | None = None


@dataclass(frozen=True)
class Infrastructure:
    """What the host has opened for one service of one region. `settings` is the service's own
    configuration (None: its national defaults)."""

    store: EventStore
    clock: Clock
    region: str
    settings: Any = None
    # The region's office directory (services/common/trust/offices.py): the host's, else the
    # national defaults of the region.
    offices: Collection[str] | None = None

    @classmethod
    def over(cls, store: EventStore, settings: Any = None) -> Infrastructure:
        """The store's own region and clock (tests, tools)."""
        return cls(store, store.clock, store.region, settings)

    def recorded_reads(self, policy: ReadPolicy | None = None) -> RecordedReads:
        """The gate every read RPC of personal data goes through (authorised, recorded): one line
        in a service's composition root."""
        from services.common.trust.offices import OfficeDirectory

        offices = self.offices if self.offices is not None else OfficeDirectory.national(self.region)
        return RecordedReads(self.store, self.clock, policy or ReadPolicy(), offices)


@dataclass(frozen=True)
class Wiring:
    """Everything a service's composition root returns, bound to one store. `handoff_hooks=None`
    leaves the hand-off API and reaction out (a service that never hands cases between regions);
    `payments` (runs and what the service owes) adds the payment API (services/common/payments/api.py)."""

    servicers: Sequence[ServicerAdder] = ()
    reactions: Sequence[Reaction] = ()
    deadline_handlers: Mapping[str, DeadlineHandler] = field(default_factory=dict)
    raw_handlers: Mapping[str, RawHandler] = field(default_factory=dict)
    handoff_hooks: HandoffHooks | None = field(default_factory=HandoffHooks)
    # A service that pays monthly: the host serves tongban.payments.v1.PaymentService over it.
    payments: PaymentWiring | None = None


def _nothing(infrastructure: Infrastructure) -> Wiring:
    return Wiring()


@dataclass(frozen=True)
class ServiceDefinition:
    """A service as its host sees it. `tables` are the service's own tables (read models,
    registry view, deadlines...), created with the store's; `wire` is its composition root."""

    name: str
    wire: Callable[[Infrastructure], Wiring] = _nothing
    tables: Sequence[MetaData] = ()
