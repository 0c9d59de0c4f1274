"""Provenance: what every appended event records besides its payload (architecture invariant 2).

One type for every writer — a clerk's command, a reaction to a Kafka message, a deadline firing,
a hand-off step, a registry claim — so no layer invents its own bundle of the same five fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from google.protobuf.message import Message

from services.common.events import Actor, NewEvent, TraceContext
from services.common.telemetry import current_trace_context


@dataclass(frozen=True)
class Provenance:
    """Who (actor), which thread of work (correlation: the case's journey across regions and
    services), what caused it (causation: a command, a message, a deadline), when it happened,
    and the W3C trace it belongs to."""

    actor: Actor
    correlation_id: str
    causation_id: str
    occurred_at: datetime
    trace: TraceContext = field(default_factory=TraceContext)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")

    @classmethod
    def of_command(cls, actor: Actor, correlation_id: str, occurred_at: datetime) -> Provenance:
        """A command from the front door: a fresh causation id (the command itself), and the trace
        of the call being served."""
        return cls(actor=actor, correlation_id=correlation_id, causation_id=f"command-{uuid.uuid4()}",
                   occurred_at=occurred_at, trace=current_trace_context())

    def caused_by(self, causation_id: str) -> Provenance:
        """The same work, one step further: events caused by an event this work recorded."""
        return replace(self, causation_id=causation_id)

    def correlated_with(self, correlation_id: str) -> Provenance:
        return replace(self, correlation_id=correlation_id)

    def new_event(self, message: Message, *, schema_version: int = 1, event_id: str | None = None) -> NewEvent:
        return NewEvent.from_message(message, event_id=event_id or str(uuid.uuid4()), actor=self.actor,
                                     correlation_id=self.correlation_id, occurred_at=self.occurred_at,
                                     causation_id=self.causation_id, schema_version=schema_version,
                                     trace=self.trace)
