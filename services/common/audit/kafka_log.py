"""The national exchange as an audit witness: read a topic from its very beginning and compare it
with the stores that published it (every stored event published, nothing on the topic that no
store holds, identical bytes).

A topic is read with assign + seek-to-beginning and no consumer group, so an audit commits no
offsets and disturbs nobody. High-water marks are only a lower bound of how far to read: the
development broker (tansu) has been seen to report one below the last offset it actually served
(/work/shared/notes/brokers.md). So the read ends when every partition has reached its reported end
*and* nothing new arrived for `idle` seconds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from services.common.audit.datadir import AUDIT_SERVICE, StoreRef
from services.common.events import RecordedEvent
from services.common.kafka_settings import events_topic
from services.common.store import EventStore
from services.common.trust.keys import KeyDirectory
from services.common.trust.signing import envelope_problem, parse_envelope, unsigned_bytes

CHECKPOINT_TOPIC = "tongban.audit.checkpoints.v1"
DEFAULT_IDLE = 2.0
DEFAULT_TIMEOUT = 300.0
_POLL_MS = 200


def default_topic_for(service: str) -> str:
    """The topic a store's relay publishes to: the service's events topic, or for a region's
    audit store the checkpoint topic."""
    return CHECKPOINT_TOPIC if service == AUDIT_SERVICE else events_topic(service)


def topic_template(template: str) -> Callable[[str], str]:
    """A topic naming from a template such as "tongban.{service}.events.v1" (tests and staging
    use prefixed topics)."""
    if "{service}" not in template:
        raise ValueError(f"topic template {template!r} must contain {{service}}")
    return lambda service: template.format(service=service)


@dataclass(frozen=True)
class TopicRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


def topics_named(bootstrap: str, wanted: Callable[[str], bool]) -> list[str]:
    """The broker's topics whose names `wanted` accepts, sorted (e.g. every region's decisions)."""
    from kafka import KafkaConsumer

    from services.common.kafka_settings import kafka_python_consumer_config

    consumer = KafkaConsumer(**kafka_python_consumer_config(bootstrap, None), allow_auto_create_topics=False)
    try:
        return sorted(name for name in consumer.topics() if wanted(name))
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, *, idle: float = DEFAULT_IDLE,
               timeout: float = DEFAULT_TIMEOUT) -> list[TopicRecord]:
    """Every record of `topic`, from offset 0 of each partition. A missing topic reads as empty
    (it is not created). Raises TimeoutError if the topic keeps growing past `timeout`."""
    from kafka import KafkaConsumer, TopicPartition

    from services.common.kafka_settings import kafka_python_consumer_config

    config = kafka_python_consumer_config(bootstrap, None)
    consumer = KafkaConsumer(**config, allow_auto_create_topics=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        records: list[TopicRecord] = []
        started = last_new = time.monotonic()
        while True:
            batches = consumer.poll(timeout_ms=_POLL_MS)
            for tp, batch in batches.items():
                records.extend(TopicRecord(topic, tp.partition, r.offset, r.key, r.value,
                                           tuple((k, bytes(v or b"")) for k, v in (r.headers or ())))
                               for r in batch)
            now = time.monotonic()
            if batches:
                last_new = now
            reached = all(consumer.position(tp) >= ends.get(tp, 0) for tp in tps)
            if reached and now - last_new >= idle:
                return records
            if now - started > timeout:
                raise TimeoutError(f"{topic}: still reading after {timeout:.0f}s ({len(records)} records)")
    finally:
        consumer.close()


@dataclass(frozen=True)
class TopicProblem:
    topic: str
    store: str  # "REGION/SERVICE" the record belongs to, "" when it cannot be told
    event_id: str
    position: int
    stream_id: str
    version: int
    reason: str

    def __str__(self) -> str:
        where = f"{self.store} " if self.store else ""
        what = f"position {self.position}, stream {self.stream_id} version {self.version} (event {self.event_id})"
        return f"{self.topic}: {where}{what}: {self.reason}" if self.event_id else f"{self.topic}: {self.reason}"


@dataclass
class TopicReport:
    topic: str
    records: int = 0
    events_checked: int = 0
    duplicates: int = 0
    # Records of stores this audit does not cover (another region's data): counted, not judged.
    foreign: dict[str, int] = field(default_factory=dict)
    problems: list[TopicProblem] = field(default_factory=list)
    signatures_checked: bool = False
    kind: str = "events"  # or "decisions" (decisions_log.py): what events_checked counts

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class _Stored:
    digest: bytes
    position: int
    stream_id: str
    version: int


def cross_check_topic(topic: str, records: Iterable[TopicRecord],
                      stores: Mapping[StoreRef, EventStore], keys: KeyDirectory | None = None,
                      belongs: Callable[[RecordedEvent], bool] | None = None) -> TopicReport:
    """Compare one topic with the stores that publish to it (all of one service). With `keys`,
    every record, of audited stores or not, must also be signed by a key of the region it names
    (invariant 8): a record that is not is named as forged. With `belongs`, the topic carries only
    the events it accepts (a region's hand-off topic: the messages addressed to that region): a
    stored event it accepts must be on the topic, and a record it refuses is named as misrouted."""
    report = TopicReport(topic)
    report.signatures_checked = keys is not None
    by_identity: dict[tuple[str, str], tuple[StoreRef, dict[str, _Stored]]] = {}
    for ref, store in stores.items():
        index = {e.event_id: _Stored(_digest(e.to_bytes()), e.position, e.stream_id, e.version)
                 for e in store.iter_log() if belongs is None or belongs(e)}
        by_identity[(ref.region, ref.service)] = (ref, index)
        report.events_checked += len(index)
    seen: dict[tuple[str, str], set[str]] = {k: set() for k in by_identity}
    for record in records:
        report.records += 1
        try:
            event = RecordedEvent.from_bytes(record.value)
        except Exception as exc:  # any parse failure: the record is not an envelope at all
            report.problems.append(TopicProblem(topic, "", "", 0, "", 0,
                                                f"partition {record.partition} offset {record.offset}: "
                                                f"not an event envelope ({exc})"))
            continue
        identity = (event.region, event.service)
        where = f"(partition {record.partition} offset {record.offset})"
        if keys is not None:
            problem = envelope_problem(parse_envelope(record.value), keys)
            if problem is not None:
                report.problems.append(TopicProblem(
                    topic, f"{event.region}/{event.service}", event.event_id, event.position, event.stream_id,
                    event.version, f"FORGED {where}: {problem}"))
                continue
        if belongs is not None and not belongs(event):
            report.problems.append(TopicProblem(
                topic, f"{event.region}/{event.service}", event.event_id, event.position, event.stream_id,
                event.version, f"MISROUTED {where}: this topic does not carry this event"))
            continue
        if identity not in by_identity:
            label = f"{event.region}/{event.service}"
            report.foreign[label] = report.foreign.get(label, 0) + 1
            continue
        ref, index = by_identity[identity]
        stored = index.get(event.event_id)
        if stored is None:
            report.problems.append(TopicProblem(
                topic, ref.label, event.event_id, event.position, event.stream_id, event.version,
                f"on the topic {where} but not in the store: no store holds this event"))
            continue
        # The store keeps no signature (the relay signs as it sends): compare without it.
        if _digest(unsigned_bytes(record.value)) != stored.digest:
            report.problems.append(TopicProblem(
                topic, ref.label, event.event_id, stored.position, stored.stream_id, stored.version,
                f"the bytes on the topic {where} differ from the store's copy"))
        if event.event_id in seen[identity]:
            report.duplicates += 1
        seen[identity].add(event.event_id)
    for identity, (ref, index) in by_identity.items():
        missing = sorted((s.position, event_id) for event_id, s in index.items() if event_id not in seen[identity])
        for position, event_id in missing:
            s = index[event_id]
            report.problems.append(TopicProblem(topic, ref.label, event_id, position, s.stream_id, s.version,
                                                "stored but not on the topic: never published, or lost by the broker"))
    report.problems.sort(key=lambda p: (p.store, p.position))
    return report


def _digest(data: bytes) -> bytes:
    # A digest instead of the bytes keeps memory flat on a large store.
    return hashlib.sha256(data).digest()
