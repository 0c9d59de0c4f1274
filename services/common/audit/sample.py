"""A synthetic multi-region dataset, made only through the store API, for the audit benchmark and
tests: `DATA/<region>/<service>.db` for several regions and services, cases with several events
each, legal deadlines scheduled, fired and cancelled (so the `deadlines` read model has every
state), and one case that crosses regions the way a hand-off does (one correlation id, events in
both regions' stores, a `handoff-<id>` stream on each side).

Payloads are google.protobuf.StringValue: the audit tools are generic and must not need a
service's protobuf types to verify, replay or trace."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue

from services.common.audit.datadir import StoreRef, store_path
from services.common.clock import FakeClock
from services.common.events import Actor, NewEvent, RecordedEvent, TraceContext
from services.common.kit.provenance import Provenance
from services.common.store import NO_STREAM, EventStore, StoreTransaction, sqlite_url

REGIONS = ("640000", "510000", "610000")
SERVICES = ("marriage", "disability", "relief")
CASE_STREAM_TYPE = "sample.Case"
HANDOFF_STREAM_TYPE = "sample.Handoff"
DEADLINE_KIND = "sample.review_time_limit"

OnAppend = Callable[[StoreTransaction, list[RecordedEvent]], None]


@dataclass
class SampleDataset:
    data_dir: Path
    stores: list[StoreRef] = field(default_factory=list)
    cases: list[str] = field(default_factory=list)
    cross_region_case: str = ""
    events: int = 0


def clerk(region: str, n: int = 1) -> Actor:
    return Actor(kind="clerk", clerk_id=f"clerk-{region}-{n:03d}", office_code=f"{region}-OFFICE-01", region=region,
                 role="window")


def _trace() -> TraceContext:
    return TraceContext(traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")


def _event(text: str, actor: Actor, correlation_id: str, clock: FakeClock, *, causation_id: str = "",
           trace: TraceContext | None = None) -> NewEvent:
    return NewEvent.from_message(StringValue(value=text), event_id=str(uuid.uuid4()), actor=actor,
                                 correlation_id=correlation_id, occurred_at=clock.now(), causation_id=causation_id,
                                 trace=trace or _trace())


def populate(data_dir: Path, *, regions: Sequence[str] = REGIONS, services: Sequence[str] = SERVICES,
             cases_per_store: int = 4, steps: int = 3, clock: FakeClock | None = None,
             on_append: OnAppend | None = None, batch: bool = False) -> SampleDataset:
    """Create (or extend) the stores and fill them. `on_append(tx, recorded)` runs inside every
    case transaction, for a caller's own read model. `batch` appends a case's steps in one
    transaction (fast, for the benchmark) instead of one transaction per step."""
    from services.common.deadlines import TABLES as deadlines_tables
    from services.common.deadlines import DeadlineScheduler, cancel_deadline, schedule_deadline

    clock = clock or FakeClock()
    dataset = SampleDataset(Path(data_dir))
    opened: dict[tuple[str, str], EventStore] = {}
    try:
        for region in regions:
            for service in services:
                path = store_path(data_dir, region, service)
                path.parent.mkdir(parents=True, exist_ok=True)
                store = EventStore.open(sqlite_url(path), region=region, service=service, clock=clock,
                                        tables=[deadlines_tables])
                opened[(region, service)] = store
                dataset.stores.append(StoreRef(region, service, sqlite_url(path)))
        for (region, service), store in opened.items():
            actor = clerk(region)
            for i in range(cases_per_store):
                case_id = f"{service}-{region}-{uuid.uuid4().hex[:8]}-{i:05d}"
                dataset.cases.append(case_id)
                chunks = [list(range(steps))] if batch else [[k] for k in range(steps)]
                version = NO_STREAM
                for chunk in chunks:
                    with store.transaction() as tx:
                        new = [_event(f"{service} case {i} step {k}", actor, case_id, clock) for k in chunk]
                        recorded = tx.append(case_id, CASE_STREAM_TYPE, version, new)
                        version += len(new)
                        if chunk[0] == 0 and i % 2 == 0:
                            cause = Provenance(actor, case_id, recorded[0].event_id, clock.now(), recorded[0].trace)
                            recorded.append(schedule_deadline(
                                tx, deadline_id=f"{case_id}-review", kind=DEADLINE_KIND, case_stream_id=case_id,
                                due_at=clock.now() + timedelta(days=3), rule="审核时限 (sample)", provenance=cause))
                        if on_append is not None:
                            on_append(tx, recorded)
                    clock.advance(timedelta(seconds=30))
                if i % 4 == 2:
                    with store.transaction() as tx:
                        cancel_deadline(tx, f"{case_id}-review", "withdrawn (sample)",
                                        provenance=Provenance(actor=actor, correlation_id="", causation_id=case_id,
                                                              occurred_at=clock.now()))
        # Fire the deadlines still pending: every state (pending for none, fired, cancelled) in the model.
        clock.advance(timedelta(days=4))
        for store in opened.values():
            DeadlineScheduler(store, clock, {DEADLINE_KIND: lambda tx, d: None}, name="sample").fire_due(limit=10_000)
        if len(regions) >= 2:
            dataset.cross_region_case = _cross_region_case(opened, regions[0], regions[1], services[0], clock,
                                                           on_append)
        dataset.events = sum(store.head()[0] for store in opened.values())
    finally:
        for store in opened.values():
            store.close()
    return dataset


def _cross_region_case(opened: dict[tuple[str, str], EventStore], origin: str, target: str, service: str,
                       clock: FakeClock, on_append: OnAppend | None) -> str:
    """A case opened at a window in `origin`, handed to `target`, decided there and the outcome
    mirrored back: one thread (correlation id) and one trace across two stores."""
    here, there = opened[(origin, service)], opened[(target, service)]
    case_id = f"{service}-{origin}-handoff-{uuid.uuid4().hex[:8]}"
    handoff = f"handoff-{uuid.uuid4().hex[:12]}"
    trace = _trace()

    def append(store: EventStore, stream: str, stream_type: str, text: str, actor: Actor,
               causation: str = "") -> RecordedEvent:
        with store.transaction() as tx:
            [recorded] = tx.append(stream, stream_type, None,
                                   [_event(text, actor, case_id, clock, causation_id=causation, trace=trace)])
            if on_append is not None:
                on_append(tx, [recorded])
        clock.advance(timedelta(minutes=5))
        return recorded

    opened_event = append(here, case_id, CASE_STREAM_TYPE, "application received at the window", clerk(origin))
    sent = append(here, handoff, HANDOFF_STREAM_TYPE, f"HandoffSent to {target}", clerk(origin),
                  opened_event.event_id)
    received = append(there, handoff, HANDOFF_STREAM_TYPE, f"HandoffReceived from {origin}",
                      Actor.system(target, "handoff"), sent.event_id)
    decided = append(there, f"{case_id}-decision", CASE_STREAM_TYPE, "approved by the county", clerk(target, 7),
                     received.event_id)
    append(here, handoff, HANDOFF_STREAM_TYPE, "HandoffOutcomeReceived: approved", Actor.system(origin, "handoff"),
           decided.event_id)
    return case_id
