"""`tongban bench exchange`, hand-off lines: one region's consumer work on hand-offs as the country grows
(invariant 10; the topics: services/common/handoff/topics.py).

The same national stream of hand-offs (``--handoffs`` a run, 多地联办 requests between regions: each one
sent, accepted and answered, three messages) is spread evenly over 3 and then over 30 simulated regions.
For one region it counts the messages its host reads and times (CPU, not wall clock) what the host does
with them, under two layouts:

- ``broadcast``: the layout before, the service's events topic that every region read: every hand-off
  message of the country (and, not counted here, every other event of the service);
- ``per_region``: the layout now, the region's own hand-off topic: the requests sent to it and the
  answers to its own requests.

The work timed per message is the host's own path (services/host/dispatch.py): the envelope decoded and
its Ed25519 signature checked against the sending region's key, the hand-off reaction's filter, and for
a message addressed to the region the inbox and the hand-off recorded in a real SQLite store (WAL,
synchronous=FULL). The other regions are real stores too, which record and sign their side beforehand
(not timed)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.wrappers_pb2 import StringValue

from services.common import deadlines
from services.common.consumer import MessageGate
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.handoff import (
    accept_handoff,
    complete_handoff,
    handoff_reaction,
    request_work,
)
from services.common.handoff import projections as handoff_projections
from services.common.handoff.adapters import SENT
from services.common.handoff.topics import addressee
from services.common.kafka_settings import events_topic
from services.common.relay import event_headers
from services.common.store import NO_STREAM, EventStore, sqlite_url
from services.common.trust.keys import KeyDirectory, ensure_region_key
from services.common.trust.signing import EnvelopeSigner

DEFAULT_HANDOFFS = 600
QUICK_HANDOFFS = 150
SERVICE = "relief"  # 多地联办: the residence region asks the hukou region for the family economic check
_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # fixed: the bench needs no clock
_LIMIT = timedelta(days=10)
_TABLES = (deadlines.TABLES, handoff_projections.TABLES)


@dataclass(frozen=True)
class Wire:
    """One hand-off message as the relay publishes it: the event, its signed envelope, its headers."""

    event: RecordedEvent
    value: bytes
    headers: list[tuple[str, bytes]]


def partner(handoff: int, origin: int, count: int) -> int:
    """The region (index) hand-off number `handoff` of region `origin` goes to: spread over all the others."""
    return (origin + 1 + (handoff // count) % (count - 1)) % count


def _system(region: str) -> Actor:
    return Actor.system(region, "bench")


class _Country:
    """Every simulated region's store and signer; `measured` is the measured region's own store."""

    def __init__(self, workdir: Path, regions: list[str]) -> None:
        self.workdir = workdir
        self.regions = regions
        self.signers = {r: EnvelopeSigner(ensure_region_key(workdir, r)) for r in regions}
        tag = f"{len(regions)}"
        # The others' stores, and one more for the measured region: its answers to what it is asked
        # (published, so read back in the broadcast layout) are recorded apart from the measured store.
        self.stores = {r: self._open(f"{r}-{tag}-others", r) for r in regions}
        self.measured_path = workdir / f"{regions[0]}-{tag}-measured.db"
        self.measured = self._open(f"{regions[0]}-{tag}-measured", regions[0])

    def _open(self, name: str, region: str) -> EventStore:
        return EventStore.open(sqlite_url(self.workdir / f"{name}.db"), region=region, service=SERVICE,
                               tables=list(_TABLES))

    def wire(self, event: RecordedEvent) -> Wire:
        return Wire(event, self.signers[event.region].sign(event), event_headers(event, event.trace))

    def close(self) -> None:
        for store in [*self.stores.values(), self.measured]:
            store.close()


def national_handoffs(country: _Country, handoffs: int) -> list[Wire]:
    """The country's hand-off messages in publication order: requests, then acceptances, then answers."""
    regions, count = country.regions, len(country.regions)
    planned = [(n, n % count, partner(n, n % count, count)) for n in range(handoffs)]
    for origin in range(count):
        # The measured region's own requests are in its own store: the answers must find them there.
        store = country.measured if origin == 0 else country.stores[regions[origin]]
        with store.transaction() as tx:
            for n, _, to in (p for p in planned if p[1] == origin):
                tx.append(f"case-{n}", "bench.Case", NO_STREAM, [NewEvent.from_message(  # the case asking
                    StringValue(value="申请"), event_id=f"e-case-{n}", actor=_system(regions[origin]),
                    correlation_id=f"case-{n}", occurred_at=_AT)])
                request_work(tx, case_id=f"case-{n}", to_region=regions[to], work="家庭经济状况核对",
                             accept_within=_LIMIT, answer_within=_LIMIT, actor=_system(regions[origin]),
                             handoff_id=f"h-{n}", occurred_at=_AT)
    sent = _sent_events(country)
    replies: list[RecordedEvent] = []
    by_receiver: dict[str, list[RecordedEvent]] = {}
    for event in sent:
        to = addressee(event)
        assert to is not None
        by_receiver.setdefault(to, []).append(event)
    for region, requests in by_receiver.items():
        store = country.stores[region]
        receive = handoff_reaction(region, service=SERVICE)
        with store.transaction() as tx:
            for event in requests:
                receive(tx, event)
                handoff_id = event.stream_id.removeprefix("handoff-")
                accept_handoff(tx, handoff_id, actor=_system(region), occurred_at=_AT)
                complete_handoff(tx, handoff_id, StringValue(value="核对完毕"), actor=_system(region), occurred_at=_AT)
        replies += [e for e in store.iter_log() if e.type != SENT and addressee(e) is not None]
    order = {e.stream_id: i for i, e in enumerate(sent)}
    replies.sort(key=lambda e: (e.type.endswith("HandoffOutcome"), order.get(e.stream_id, 0)))
    return [country.wire(e) for e in [*sent, *replies]]


def _sent_events(country: _Country) -> list[RecordedEvent]:
    found = [e for store in [country.measured, *country.stores.values()] for e in store.iter_log()
             if addressee(e) is not None]
    return sorted(found, key=lambda e: int(e.stream_id.rsplit("-", 1)[1]))


def read_by(wires: list[Wire], region: str, layout: str) -> list[Wire]:
    """What `region`'s host reads of the country's hand-off messages under `layout`."""
    if layout == "broadcast":
        return list(wires)
    return [w for w in wires if addressee(w.event) == region]


def region_handoff_work(workdir: Path, regions: list[str], handoffs: int, layouts: tuple[str, ...]
                        ) -> Iterator[tuple[str, int, float]]:
    """(layout, messages read, CPU seconds) of the first region's host taking the country's hand-offs:
    the same national stream for every layout, each on its own copy of the region's store."""
    import shutil
    import threading
    import time

    from services.host.definition import Reaction
    from services.host.dispatch import Dispatcher

    here = workdir / f"handoffs-{len(regions)}"
    here.mkdir(parents=True, exist_ok=True)
    country = _Country(here, regions)
    try:
        wires = national_handoffs(country, handoffs)
    finally:
        country.close()
    for layout in layouts:
        copy = here / f"measured-{layout}.db"
        for suffix in ("", "-wal"):  # closed, so normally checkpointed; a leftover log goes along
            if Path(f"{country.measured_path}{suffix}").exists():
                shutil.copyfile(f"{country.measured_path}{suffix}", f"{copy}{suffix}")
        store = EventStore.open(sqlite_url(copy), region=regions[0], service=SERVICE, tables=list(_TABLES))
        try:
            mine = read_by(wires, regions[0], layout)
            reaction = handoff_reaction(regions[0], service=SERVICE)
            topic = events_topic(SERVICE)
            dispatcher = Dispatcher(store, [(topic, Reaction(
                name=reaction.name, event_types=reaction.event_types, handle=reaction, wants=reaction.wants))],
                {}, threading.Event(), gate=MessageGate(store, KeyDirectory(here)))
            started = time.process_time()
            for w in mine:
                dispatcher.dispatch(topic, w.event.stream_id.encode(), w.value, w.headers)
            yield layout, len(mine), time.process_time() - started
        finally:
            store.close()
