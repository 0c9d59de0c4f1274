"""The reaction every region's agent runs for each event of its service's topic: keep the
hand-off messages addressed to this region, reject forged ones, and record this region's side of
each message once (the inbox through `consume`, plus state checks against the stream, so a
redelivery, a republish or a message arriving twice by any route changes nothing)."""

from __future__ import annotations

from datetime import datetime

from services.common.events import Actor, RecordedEvent, decode_payload
from services.common.handoff import adapters
from services.common.handoff import domain as d
from services.common.handoff.application import Provenance, append, load
from services.common.handoff.hooks import HandoffHooks
from services.common.store import StoreTransaction
from services.common.telemetry import current_trace_context

CONSUMER = "handoff"


class HandoffReaction:
    """`handler(tx, event)` for `consume`, with `wants(event)` to filter before any transaction:
    a host calls `wants` first so that messages for other regions leave no trace at all (not even
    an inbox row), and rejected ones only their record as a rejected message.

    Called directly on a forged message, the handler raises RejectedMessage: the transaction,
    inbox row included, rolls back."""

    name = CONSUMER
    event_types = adapters.MESSAGE_TYPES

    def __init__(self, region: str, hooks: HandoffHooks | None = None, *, service: str | None = None) -> None:
        self.region = region
        self.hooks = hooks or HandoffHooks()
        self.service = service  # None: whatever service's store this runs against

    def message_for_us(self, event: RecordedEvent) -> d.HandoffSent | d.Reply | None:
        """The hand-off message `event` carries if it is addressed to this region, else None.
        Raises RejectedMessage when its declared sender is not the region that published it."""
        if event.type not in adapters.MESSAGE_TYPES or event.region == self.region:
            return None  # not a message, or our own event coming back on the shared topic
        if self.service is not None and event.service != self.service:
            return None
        try:
            message = adapters.from_payload(event.type, event.payload)
        except ValueError as exc:
            raise d.RejectedMessage(f"undecodable {event.type}: {exc}") from exc
        assert isinstance(message, d.HandoffSent | d.HandoffAccepted | d.HandoffRefused | d.HandoffOutcome)
        return message if d.check_route(message, envelope_region=event.region, me=self.region) else None

    def wants(self, event: RecordedEvent) -> bool:
        """Whether this region acts on `event`. Raises RejectedMessage for a forged one: the host's
        gate records it as a rejected message, with the reason (invariant 8)."""
        return self.message_for_us(event) is not None

    def __call__(self, tx: StoreTransaction, event: RecordedEvent) -> None:
        message = self.message_for_us(event)
        if message is None:
            return
        if isinstance(message, d.HandoffSent):
            self._receive(tx, event, message)
        else:
            self._record_reply(tx, event, message)

    def _receive(self, tx: StoreTransaction, event: RecordedEvent, sent: d.HandoffSent) -> None:
        loaded = load(tx, sent.handoff_id)
        received = d.receive(loaded[0] if loaded else None, sent, sent_event_id=event.event_id,
                             sent_event_hash=event.hash)
        if received is None:
            return
        handoff = append(tx, None, received, self._provenance(event, sent.sent_at))
        if self.hooks.on_received is not None:
            self.hooks.on_received(tx, handoff)

    def _record_reply(self, tx: StoreTransaction, event: RecordedEvent, reply: d.Reply) -> None:
        loaded = load(tx, reply.handoff_id)
        before = loaded[0] if loaded else None
        mirror = d.record_reply(before, reply, reply_event_id=event.event_id, reply_event_hash=event.hash)
        if mirror is None:
            return
        assert before is not None
        handoff = append(tx, before, mirror, self._provenance(event, _reply_time(reply)))
        hooks = self.hooks
        if isinstance(mirror, d.HandoffAccepted) and hooks.on_accepted is not None:
            hooks.on_accepted(tx, handoff)
        elif isinstance(mirror, d.HandoffRefused) and hooks.on_refused is not None:
            hooks.on_refused(tx, handoff)
        elif isinstance(mirror, d.HandoffOutcomeReceived) and hooks.on_outcome is not None:
            outcome = mirror.outcome.outcome
            hooks.on_outcome(tx, handoff, decode_payload(outcome.type, outcome.data))

    def _provenance(self, event: RecordedEvent, at: datetime) -> Provenance:
        # Inside consume's span, which continues the sender's trace; without a tracing SDK there is
        # no current span, and the sender's own context keeps the journey in one trace.
        trace = current_trace_context()
        return Provenance(actor=Actor.system(self.region, CONSUMER), correlation_id=event.correlation_id,
                          causation_id=event.event_id, occurred_at=at,
                          trace=trace if trace.traceparent else event.trace)


def _reply_time(reply: d.Reply) -> datetime:
    match reply:
        case d.HandoffAccepted():
            return reply.accepted_at
        case d.HandoffRefused():
            return reply.refused_at
        case d.HandoffOutcome():
            return reply.decided_at


def handoff_reaction(region: str, hooks: HandoffHooks | None = None, *, service: str | None = None) -> HandoffReaction:
    """The hand-off reaction of `region` (see HandoffReaction)."""
    return HandoffReaction(region, hooks, service=service)
