"""Claims whose answer never came are sent to the registry again, from the store (architecture
invariants 1 and 9; issue 11).

The store is the truth: a claim event recorded there is the service's question to the registry, and
the registry's answer, once it comes, is recorded in the same claim stream. Everything in between is
at-least-once messaging over a broker — and a message can still go missing: a broker restarted empty
before a consumer read it, a consumer that skipped a message after a restart (faust-streaming
0.15.3, on which the services ran until issue 15, was seen to), a registry worker killed at the
wrong moment. Rather than prove each hop lossless, the end that cares checks the whole path: a
service that has waited `resend_after` for an answer publishes the claim events again, unchanged
(same event id, same signature rules). The registry treats a repeat as an input seen before and
repeats its decisions with their original ids (registry/domain.py, DecisionsAreIdempotent); the
service's inbox drops what it already recorded. A claim that legitimately waits behind another
case's hold (ReleaseInFlightIsAwaited) is asked again now and then and answered later: harmless.

What needs an answer (`awaiting_answer`, pure, from the claim stream alone):
- a request, until the registry decided it (granted, denied, expired);
- a confirmation of a granted claim, until it is confirmed (or expired first);
- a release of a claim the registry had granted or confirmed, until it is released — and a
  release made before the request was decided, together with that request, so the registry,
  taking them in order, never keeps a person held for a case that gave up.

A claim is sent again after `resend_after`, then after twice that, four times, up to sixteen
times (a claim waiting its turn behind a hold is asked a few times, not a storm), and at most
MAX_PER_SWEEP events go per sweep, the oldest first: after an outage the registry is not buried
under every claim at once while it catches up.

Cost: each sweep reads the claim streams touched since the oldest claim still waiting (a low-water
position kept in memory; the first sweep after a start reads those touched within
`give_up_after`), on the relay's thread, whose producer it uses. A claim unanswered for
`give_up_after` is no longer sent, and logged: an input the registry cannot take (it says why in
its own log) must not be sent for ever."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

from sqlalchemy import select

from services.common.events import RecordedEvent, from_micros, to_micros
from services.common.registry.adapters import outcome_from_proto
from services.common.registry.claims import STREAM_TYPE
from services.common.registry.domain import HOLDING, Outcome
from services.common.store import EventStore
from services.common.store.schema import events as events_table
from tongban.registry.v1 import registry_pb2

log = logging.getLogger(__name__)

DEFAULT_RESEND_AFTER = timedelta(seconds=20)
DEFAULT_GIVE_UP_AFTER = timedelta(days=2)
MAX_PER_SWEEP = 200
_MAX_BACKOFF = 4  # the wait doubles up to 2**4 resend_after

_REQUESTED = registry_pb2.ClaimRequested.DESCRIPTOR.full_name
_CONFIRMED = registry_pb2.ClaimConfirmed.DESCRIPTOR.full_name
_RELEASED = registry_pb2.ClaimReleased.DESCRIPTOR.full_name
_DECISION = registry_pb2.RegistryDecisionRecorded.DESCRIPTOR.full_name


class _Event(Protocol):
    event_id: str
    position: int
    type: str
    payload: bytes
    recorded_at: datetime


@dataclass(frozen=True)
class _Row:
    """What a sweep reads of a claim event: enough to tell whether it waits for an answer."""

    event_id: str
    position: int
    type: str
    payload: bytes
    recorded_at: datetime


E = TypeVar("E", bound=_Event)


def awaiting_answer(stream: Sequence[E]) -> list[E]:
    """The claim events of one claim stream (in version order) still waiting for the registry's
    answer, in the order to send them; empty when the registry has answered all it will."""
    request: E | None = None
    last_claim: E | None = None
    outcome: Outcome | None = None  # the latest decision recorded
    for event in stream:
        if event.type == _DECISION:
            decision = registry_pb2.RegistryDecisionRecorded.FromString(event.payload).decision
            outcome = outcome_from_proto(decision.outcome)
        elif event.type in (_REQUESTED, _CONFIRMED, _RELEASED):
            request = event if event.type == _REQUESTED else request
            last_claim = event
    if last_claim is None or request is None:
        return []
    if last_claim.type == _REQUESTED:
        # Any decision answers a request — PENDING too: the claim left the registry's queue, and
        # its case claims again under a new claim id (retry.py), never by re-sending this one.
        return [] if outcome is not None else [request]
    if last_claim.type == _CONFIRMED:
        # Answered by "confirmed", or by an expiry the registry decided first.
        return [last_claim] if outcome is Outcome.GRANTED else []
    # A release: answered by "released" while the claim holds or waits (AWaiterGivenUpIsAnswered);
    # nothing to answer once it does not.
    if outcome is None:
        return [request, last_claim]
    return [last_claim] if outcome in HOLDING else []


class ClaimResender:
    """Sends the claims of one store again when their answer is overdue; `sweep()` from the
    relay's thread (it publishes through the relay's producer)."""

    def __init__(self, store: EventStore, publish: Callable[[list[RecordedEvent]], None], *,
                 resend_after: timedelta = DEFAULT_RESEND_AFTER, give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.publish = publish
        self.resend_after = resend_after
        self.give_up_after = give_up_after
        self._monotonic = monotonic
        self._low_water = 0  # every claim stream whose events all lie at or below it is answered
        self._sent: dict[str, tuple[float, int]] = {}  # event id → (when last sent again, how often)
        self.resent = 0

    def sweep(self) -> int:
        """Send the overdue claims again; returns how many events were sent."""
        now = self.store.clock.now()
        head = self.store.head()[0]  # before the query: what commits meanwhile is read next time
        touched = (select(events_table.c.stream_id)
                   .where(events_table.c.position > self._low_water, events_table.c.stream_type == STREAM_TYPE,
                          # Never sent again once this old: no need to read them.
                          events_table.c.recorded_at_us >= to_micros(now - self.give_up_after))
                   .distinct())
        t = events_table.c
        with self.store.engine.connect() as conn:  # one query: the touched streams' events, light
            rows = conn.execute(select(t.stream_id, t.event_id, t.position, t.type, t.payload, t.recorded_at_us)
                                .where(t.stream_id.in_(touched)).order_by(t.stream_id, t.version)).all()
        if not rows:
            self._low_water = max(self._low_water, head)  # a store without claims reads nothing twice
            return 0
        low_water = max(head, max(row.position for row in rows))
        streams: dict[str, list[_Row]] = {}
        for row in rows:
            streams.setdefault(row.stream_id, []).append(_Row(row.event_id, row.position, row.type, row.payload,
                                                              from_micros(row.recorded_at_us)))
        wanted: dict[str, list[str]] = {}  # stream → ids of its overdue events, in order
        for stream_id, stream in streams.items():
            waiting = awaiting_answer(stream)
            if not waiting:
                continue
            low_water = min(low_water, stream[0].position - 1)
            due = [e.event_id for e in waiting if self._due(e, now)]
            if due:
                wanted[stream_id] = due
        overdue: list[RecordedEvent] = []
        for stream_id, ids in wanted.items():  # full events (to sign and send) for these only
            by_id = {e.event_id: e for e in self.store.read_stream(stream_id)}
            overdue += [by_id[i] for i in ids]
        self._low_water = low_water
        overdue = sorted(overdue, key=lambda e: e.position)[:MAX_PER_SWEEP]
        if overdue:
            self.publish(overdue)
            tick = self._monotonic()
            self._sent.update({e.event_id: (tick, self._sent.get(e.event_id, (0.0, 0))[1] + 1) for e in overdue})
            self.resent += len(overdue)
            log.warning("sent %d claim events again whose answer from the registry is overdue", len(overdue))
        return len(overdue)

    def _due(self, event: _Event, now: datetime) -> bool:
        age = to_micros(now) - to_micros(event.recorded_at)
        if age < self.resend_after / timedelta(microseconds=1):
            return False
        if age > self.give_up_after / timedelta(microseconds=1):
            if self._sent.get(event.event_id, (0.0, 0))[0] != float("inf"):
                log.error("claim event %s (%s) has had no answer from the registry for %s; not sent again",
                          event.event_id, event.stream_id, self.give_up_after)
                self._sent[event.event_id] = (float("inf"), 0)
            return False
        last = self._sent.get(event.event_id)
        if last is None:
            return True
        wait = self.resend_after.total_seconds() * 2 ** min(last[1] - 1, _MAX_BACKOFF)
        return self._monotonic() - last[0] >= wait
