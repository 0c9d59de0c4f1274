"""`tongban audit verify`: every store's chains, the Kafka topics against the stores, and every
store against the checkpoints the regions hold. The per-store check is the store's own
`verify_events` (services/common/store/verify.py); this module adds what only an auditor with
many stores can see: a store holding another region's events, time running backwards along the
log, topics that disagree with the stores, and consistent rewrites that only other regions'
checkpoints reveal."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from services.common.audit.checkpoints import (
    CheckpointReport,
    HeldCheckpoint,
    check_checkpoints,
    held_checkpoints,
)
from services.common.audit.datadir import NotAStore, StoreRef, live_snapshot, open_store
from services.common.audit.decisions_log import DECISIONS, check_decisions_topic
from services.common.audit.handoff_log import check_handoff_topics
from services.common.audit.kafka_log import (
    DEFAULT_IDLE,
    TopicReport,
    cross_check_topic,
    default_topic_for,
    read_topic,
    topics_named,
)
from services.common.events import RecordedEvent
from services.common.kit.snapshots import SnapshotFinding, SnapshotReport
from services.common.registry.topics import DECISIONS_TOPIC, is_region_decisions_topic
from services.common.store import ChainProblem, EventStore, verify_events
from services.common.store.schema import events, store_head
from services.common.trust.keys import KeyDirectory, KeyRing, trusted_keyring


@dataclass(frozen=True)
class StoreVerdict:
    ref: StoreRef
    events: int = 0
    streams: int = 0
    head_position: int = 0
    problem: ChainProblem | None = None
    error: str = ""  # the store could not be read at all
    snapshots: SnapshotReport = field(default_factory=SnapshotReport)

    @property
    def ok(self) -> bool:
        return self.problem is None and not self.error and not self.snapshots.bad


@dataclass
class AuditReport:
    stores: list[StoreVerdict] = field(default_factory=list)
    topics: list[TopicReport] = field(default_factory=list)
    checkpoints: CheckpointReport | None = None

    @property
    def ok(self) -> bool:
        return (all(s.ok for s in self.stores) and all(t.ok for t in self.topics)
                and (self.checkpoints is None or self.checkpoints.ok))

    @property
    def events(self) -> int:
        return sum(s.events for s in self.stores)


def verify_one(ref: StoreRef, store: EventStore) -> StoreVerdict:
    """The store's chains (first bad event), plus: every event belongs to this store's region
    and service, and recorded_at never goes backwards along the log."""
    extra: list[ChainProblem] = []

    def watched(log: Iterator[RecordedEvent]) -> Iterator[RecordedEvent]:
        last_recorded = None
        for e in log:
            if not extra:
                if (e.region, e.service) != (ref.region, ref.service):
                    extra.append(ChainProblem(e.position, e.stream_id, e.version, e.event_id,
                                              f"event of {e.region}/{e.service} in the store of {ref.label}"))
                elif last_recorded is not None and e.recorded_at < last_recorded:
                    extra.append(ChainProblem(e.position, e.stream_id, e.version, e.event_id,
                                              f"recorded_at {e.recorded_at.isoformat()} is earlier than the "
                                              f"previous position's {last_recorded.isoformat()}: log out of order"))
            last_recorded = e.recorded_at
            yield e

    # The head first, and the log only up to it: appends committed while a live store is being
    # verified are after the head, and must not look like a log longer than its head says.
    head = store.head()
    log = itertools.takewhile(lambda e: e.position <= head[0], store.iter_log())
    report = verify_events(watched(log), head=head)
    beyond = _beyond_head(store)
    if beyond is not None:
        extra.append(beyond)
    problems = [p for p in (report.problem, *extra) if p is not None]
    # The checks walk the same log; the earlier position is the first bad event. A problem with
    # the head itself (no stream) sorts after every event: an event-level finding says more.
    first = min(problems, key=lambda p: (not p.stream_id, p.position)) if problems else None
    return StoreVerdict(ref, report.events_checked, report.streams, report.head_position, first)


def check_snapshots(store: EventStore) -> SnapshotReport:
    """Every snapshot of the store against a replay of its stream (a snapshot is a cache of the log:
    one that says otherwise is a finding), with the aggregates and codecs of every catalogued
    service."""
    from services.common.kit import PayloadCodec
    from services.common.kit.snapshots import verify_snapshots

    load_catalogue()
    try:
        return verify_snapshots(store, PayloadCodec.loaded())
    except Exception as exc:  # a stream that no longer decodes: say so, do not crash the audit
        return SnapshotReport(findings=[SnapshotFinding("", 0, f"could not be checked: {exc}", bad=True)])


def load_catalogue() -> None:
    """Import every catalogued service's composition root: its aggregates and codec with it."""
    import importlib

    from services.catalogue import SERVICES

    for entry in SERVICES:
        importlib.import_module(f"{entry.package}.bootstrap")


def _beyond_head(store: EventStore) -> ChainProblem | None:
    """An event past the store head (read now, after any append that was in flight): written
    around the store, since every append moves the head in its own transaction."""
    with live_snapshot(store) as conn:
        head = conn.execute(select(store_head.c.position)).scalar_one()
        row = conn.execute(select(events).where(events.c.position > head).order_by(events.c.position).limit(1)).first()
    if row is None:
        return None
    return ChainProblem(int(row.position), row.stream_id, int(row.version), row.event_id,
                        f"after the store head (position {head}): written around the store")


@dataclass(frozen=True)
class KafkaSource:
    bootstrap: str
    topic_for: Callable[[str], str] = default_topic_for
    idle: float = DEFAULT_IDLE
    # Whose signatures every record must carry (None: signatures are not checked, and the report
    # says so); and the registry's decisions topic, checked for the registry's signature.
    keys: KeyDirectory | None = None
    decisions_topic: str | None = DECISIONS_TOPIC


@dataclass(frozen=True)
class KeyPolicy:
    """Which keys verify held checkpoints: the auditor's own directory of trusted keys when given,
    else the keys the holding region trusts (those it accepted the checkpoint with)."""

    data_dir: Path | None = None
    trusted: KeyRing | None = None

    def keyring_for(self, held: HeldCheckpoint) -> KeyRing | None:
        if self.trusted is not None:
            return self.trusted
        if self.data_dir is not None:
            return trusted_keyring(self.data_dir, held.holder)
        return None


def audit_verify(refs: Sequence[StoreRef], *, kafka: KafkaSource | None = None,
                 keys: KeyPolicy | None = None, check_checkpoints_held: bool = True,
                 complete_regions: Iterable[str] = ()) -> AuditReport:
    """Verify every store; cross-check the topics when `kafka` is given; compare every store with
    the checkpoints the audit stores among `refs` hold. `complete_regions`: regions all of whose
    stores are in `refs` (a data directory), so a store missing from them is a finding."""
    report = AuditReport()
    with contextlib.ExitStack() as stack:
        opened: dict[StoreRef, EventStore] = {}
        for ref in refs:
            try:
                store = open_store(ref)
            except NotAStore as exc:
                report.stores.append(StoreVerdict(ref, error=str(exc)))
                continue
            stack.callback(store.close)
            opened[ref] = store
            try:
                verdict = verify_one(ref, store)
            except Exception as exc:  # a row that does not even parse is a finding, not a crash
                report.stores.append(StoreVerdict(ref, error=f"unreadable log: {exc}"))
                continue
            report.stores.append(dataclasses.replace(verdict, snapshots=check_snapshots(store)))
        if kafka is not None:
            by_topic: dict[str, dict[StoreRef, EventStore]] = defaultdict(dict)
            for ref, store in opened.items():
                by_topic[kafka.topic_for(ref.service)][ref] = store
            for topic, stores in sorted(by_topic.items()):
                records = read_topic(kafka.bootstrap, topic, idle=kafka.idle)
                report.topics.append(cross_check_topic(topic, records, stores, kafka.keys))
            # Each region's hand-off topics: the only copy of a hand-off its addressee reads.
            report.topics.extend(check_handoff_topics(kafka.bootstrap, opened, topic_for=kafka.topic_for,
                                                      idle=kafka.idle, keys=kafka.keys))
            if kafka.decisions_topic and kafka.keys is not None:
                # The national record and every region's own decisions topic (registry/topics.py).
                national = kafka.decisions_topic
                regional = topics_named(kafka.bootstrap, lambda name: is_region_decisions_topic(name, national))
                for topic in [national, *regional]:
                    records = read_topic(kafka.bootstrap, topic, idle=kafka.idle)
                    report.topics.append(check_decisions_topic(topic, records, kafka.keys))
        if check_checkpoints_held:
            held: list[HeldCheckpoint] = []
            for ref, store in opened.items():
                if ref.is_audit:
                    held.extend(held_checkpoints(store))
            if held:
                policy = keys or KeyPolicy()
                by_identity = {(ref.region, ref.service): s for ref, s in opened.items()}
                report.checkpoints = check_checkpoints(held, by_identity, keyring_for=policy.keyring_for,
                                                       complete_regions=complete_regions)
    return report


def format_report(report: AuditReport) -> tuple[str, str]:
    """(stdout, stderr) text: what is intact on stdout, every finding on stderr."""
    out: list[str] = []
    err: list[str] = []
    c = report.checkpoints
    disagreements = c.first_by_store() if c is not None else {}
    for v in report.stores:
        if v.error:
            err.append(f"UNREADABLE {v.ref.label}: {v.error}")
        elif v.problem is not None:
            p = v.problem
            if p.stream_id:
                err.append(f"BROKEN {v.ref.label}: first bad event at position {p.position}, stream {p.stream_id} "
                           f"version {p.version} (event {p.event_id}): {p.reason}")
            else:
                err.append(f"BROKEN {v.ref.label}: {p.reason}")
        elif v.ref.label in disagreements:
            cp = disagreements.pop(v.ref.label)
            where = (f"at position {cp.position}, stream {cp.stream_id} version {cp.version}" if cp.stream_id
                     else f"at position {cp.position}")
            err.append(f"REWRITTEN {v.ref.label}: its chains are consistent, but {where} {cp.reason} "
                       f"({cp.checkpoint})")
        elif v.snapshots.bad:
            err.extend(f"BAD SNAPSHOT {v.ref.label}: {f} (a cache: `tongban audit snapshots --rebuild`)"
                       for f in v.snapshots.bad)
        else:
            cached = f", {v.snapshots.checked} snapshot(s) match a replay" if v.snapshots.checked else ""
            out.append(f"intact {v.ref.label}: {v.events} events in {v.streams} streams, "
                       f"head at position {v.head_position}{cached}")
    for t in report.topics:
        foreign = f"; {sum(t.foreign.values())} records of stores not audited here" if t.foreign else ""
        dup = f", {t.duplicates} redelivered copies" if t.duplicates else ""
        signed = ", every one signed by the region it names" if t.signatures_checked else \
            " (signatures NOT checked: no key directory)"
        if t.ok and t.kind == DECISIONS:
            out.append(f"topic {t.topic}: {t.records} decisions, every one signed by the registry")
        elif t.ok:
            out.append(f"topic {t.topic}: {t.records} records match the stores' {t.events_checked} events"
                       f"{dup}{foreign}{signed}")
        else:
            err.append(f"TOPIC {t.topic}: {len(t.problems)} problem(s){foreign}")
            err.extend(f"  {p}" for p in t.problems[:20])
            if len(t.problems) > 20:
                err.append(f"  … and {len(t.problems) - 20} more")
    if c is not None:
        if c.ok:
            out.append(f"checkpoints: {c.held} held, {c.verified} signatures verified, "
                       f"{c.compared} store heads match the stores")
        else:
            err.append(f"CHECKPOINTS: {len(c.problems)} disagreement(s) with the checkpoints held")
            ordered = sorted(c.problems, key=lambda p: (p.store, p.position))
            err.extend(f"  {p}" for p in ordered[:20])
            if len(ordered) > 20:
                err.append(f"  … and {len(ordered) - 20} more")
    verdict = "INTACT" if report.ok else "NOT INTACT"
    out.append(f"{verdict}: {len(report.stores)} store(s), {report.events} events")
    return "\n".join(out), "\n".join(err)
