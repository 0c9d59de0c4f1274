"""Signed checkpoints of a region's chain heads, kept by the other regions.

The hash chains catch any edit that leaves a seam, but whoever controls a whole database can
rewrite every event *and* recompute every hash, global chain included; the result verifies. What
such a rewrite cannot change is what other regions already hold. So:

1. Each region periodically issues a checkpoint: for each of its stores, the head of the global
   chain (position, global hash) and the head of every stream appended to since its previous
   checkpoint, signed with the region's Ed25519 key. It is recorded as `CheckpointIssued` in the
   region's audit store (`DATA/<region>/audit.db`), stream `checkpoints-<region>`.
2. That store's outbox relay publishes it to `tongban.audit.checkpoints.v1`, as every event
   reaches Kafka (no dual write).
3. Every other region reads the topic and keeps each checkpoint whose signature verifies with the
   key it trusts for the issuer (`CheckpointReceived`, stream `checkpoints-held-<issuer>`, through
   its inbox); anything else is kept as evidence too, as `CheckpointRejected`.
4. The auditor compares every store with every checkpoint held anywhere (`check_checkpoints`):
   a stream head or global head that no longer matches names the store, the stream, the version
   and who holds the disagreeing checkpoint. A region that signed two different checkpoints
   with the same sequence number is named too.

What it cannot catch: a rewrite of events appended after the last checkpoint the others received
(the window is the checkpoint interval), and the exact first rewritten event inside a stream when
only its later head was checkpointed (the Kafka cross-check, holding the original bytes, names that).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import select

from services.common.audit.kafka_log import CHECKPOINT_TOPIC, DEFAULT_IDLE, read_topic
from services.common.clock import Clock
from services.common.consumer import MessageGate, consume
from services.common.events import Actor, NewEvent, RecordedEvent, from_micros, micros_of_timestamp, to_micros
from services.common.relay import OutboxRelay
from services.common.relay_producer import Producer
from services.common.store import EventStore, StoreTransaction
from services.common.store.schema import events, store_head
from services.common.telemetry import current_trace_context
from services.common.trust.keys import KeyDirectory, KeyRing, RegionKey
from services.common.trust.signing import EnvelopeSigner
from tongban.audit.v1 import checkpoints_pb2
from tongban.common.v1 import types_pb2

log = logging.getLogger(__name__)

STREAM_TYPE = "audit.Checkpoints"
KEEPER = "audit-checkpoint-keeper"  # the inbox consumer name in each holder's audit store
ISSUED_TYPE = checkpoints_pb2.CheckpointIssued.DESCRIPTOR.full_name
RECEIVED_TYPE = checkpoints_pb2.CheckpointReceived.DESCRIPTOR.full_name
REJECTED_TYPE = checkpoints_pb2.CheckpointRejected.DESCRIPTOR.full_name


def issued_stream(region: str) -> str:
    return f"checkpoints-{region}"


def held_stream(issuer: str) -> str:
    return f"checkpoints-held-{issuer}"


# -- issuing ---------------------------------------------------------------------------------


def issue_checkpoint(audit_store: EventStore, stores: Mapping[str, EventStore], key: RegionKey, *,
                     clock: Clock | None = None) -> RecordedEvent:
    """Sign the heads of the region's `stores` (by service) and record the checkpoint in the
    region's `audit_store`; its relay publishes it. Two issuers racing get ConcurrencyConflict
    for the second: sequence numbers never repeat."""
    region = audit_store.region
    if key.region != region:
        raise ValueError(f"the key of region {key.region} cannot sign region {region}'s checkpoint")
    clock = clock or audit_store.clock
    stream_id = issued_stream(region)
    version = audit_store.stream_version(stream_id)
    previous = _last_checkpoint(audit_store, stream_id, version)
    after = {h.service: int(h.position) for h in previous.stores} if previous else {}
    checkpoint = checkpoints_pb2.Checkpoint(
        checkpoint_id=str(uuid.uuid4()), region=types_pb2.RegionCode(code=region),
        sequence=(previous.sequence if previous else 0) + 1, issued_at=_timestamp(clock.now()),
        stores=[store_head_of(stores[s], after.get(s, 0), service=s) for s in sorted(stores)],
    )
    body = checkpoint.SerializeToString(deterministic=True)
    signed = checkpoints_pb2.SignedCheckpoint(checkpoint=body, signature=key.sign(body), key_id=key.key_id)
    event = NewEvent.from_message(
        checkpoints_pb2.CheckpointIssued(signed=signed), event_id=str(uuid.uuid4()),
        actor=Actor.system(region, "checkpoint"), correlation_id=stream_id, occurred_at=clock.now(),
        causation_id=checkpoint.checkpoint_id, trace=current_trace_context(),
    )
    [recorded] = audit_store.append(stream_id, STREAM_TYPE, version, [event])
    return recorded


def store_head_of(store: EventStore, after_position: int = 0, *,
                  service: str | None = None) -> checkpoints_pb2.StoreHead:
    """The store's global head, and the head of every stream appended to after `after_position`."""
    with store.engine.connect() as conn:
        head = conn.execute(select(store_head.c.position, store_head.c.global_hash, store_head.c.recorded_at_us)).one()
        position = int(head.position)
        after = min(after_position, position)  # a store shorter than it was: say so, don't hide it
        streams: dict[str, checkpoints_pb2.StreamHead] = {}
        rows = conn.execute(
            select(events.c.stream_id, events.c.version, events.c.hash, events.c.position)
            .where(events.c.position > after, events.c.position <= position).order_by(events.c.position)
        )
        for r in rows:
            streams[r.stream_id] = checkpoints_pb2.StreamHead(
                stream_id=r.stream_id, version=int(r.version), hash=bytes(r.hash), position=int(r.position))
    return checkpoints_pb2.StoreHead(
        service=service or store.service, position=position, global_hash=bytes(head.global_hash),
        recorded_at=_timestamp(from_micros(int(head.recorded_at_us))), after_position=after,
        streams=sorted(streams.values(), key=lambda h: h.position),
    )


def _last_checkpoint(audit_store: EventStore, stream_id: str, version: int) -> checkpoints_pb2.Checkpoint | None:
    if version == 0:
        return None
    [last] = audit_store.read_stream(stream_id, after_version=version - 1)
    signed = checkpoints_pb2.CheckpointIssued.FromString(last.payload).signed
    return checkpoints_pb2.Checkpoint.FromString(signed.checkpoint)


def publish_checkpoints(audit_store: EventStore, producer: Producer, topic: str = CHECKPOINT_TOPIC,
                        key: RegionKey | None = None) -> int:
    """Relay the audit store to the checkpoint topic: checkpoints reach Kafka through the store's
    outbox relay like every event, never from the issuing code (no dual write), signed with the
    region's key like every envelope it publishes."""
    signer = EnvelopeSigner(key) if key is not None else None
    return OutboxRelay(audit_store, producer, topic, signer=signer).publish_pending()


# -- keeping others' checkpoints -----------------------------------------------------------


def signature_problem(signed: checkpoints_pb2.SignedCheckpoint, issuer: str, keyring: KeyRing) -> str | None:
    """Why `signed` is not a genuine checkpoint of `issuer`, or None."""
    try:
        checkpoint = checkpoints_pb2.Checkpoint.FromString(signed.checkpoint)
    except Exception:  # protobuf raises DecodeError, but a hostile message may trip anything
        return "the checkpoint bytes do not parse"
    if checkpoint.region.code != issuer:
        return f"the checkpoint names region {checkpoint.region.code or '(none)'} but was sent by {issuer}"
    return keyring.check(signed.checkpoint, signed.signature, signed.key_id, issuer)


@dataclass(frozen=True)
class KeepOutcome:
    kind: str  # "kept", "rejected" or "ignored" (not a checkpoint, or the holder's own)
    issuer: str = ""
    reason: str = ""


def keep_checkpoint(tx: StoreTransaction, event: RecordedEvent, *, keyring: KeyRing,
                    clock: Clock | None = None) -> KeepOutcome:
    """The checkpoint keeper's effect for one event from the checkpoint topic, in the holder's
    audit store (run it through `consume` so each event is kept once)."""
    holder = tx.store.region
    if event.type != ISSUED_TYPE:
        return KeepOutcome("ignored")
    if event.region == holder:
        return KeepOutcome("ignored", holder)
    issuer = event.region
    clock = clock or tx.store.clock
    signed = checkpoints_pb2.CheckpointIssued.FromString(event.payload).signed
    problem = signature_problem(signed, issuer, keyring)
    message: checkpoints_pb2.CheckpointReceived | checkpoints_pb2.CheckpointRejected
    if problem is None:
        message = checkpoints_pb2.CheckpointReceived(
            signed=signed, issuer=types_pb2.RegionCode(code=issuer), source_event_id=event.event_id)
    else:
        log.error("region %s rejects a checkpoint claiming to come from %s (event %s): %s",
                  holder, issuer, event.event_id, problem)
        message = checkpoints_pb2.CheckpointRejected(
            signed=signed, claimed_issuer=types_pb2.RegionCode(code=issuer), source_event_id=event.event_id,
            reason=problem)
    tx.append(held_stream(issuer), STREAM_TYPE, None, [NewEvent.from_message(
        message, event_id=str(uuid.uuid4()), actor=Actor.system(holder, "checkpoint-keeper"),
        correlation_id=issued_stream(issuer), occurred_at=clock.now(), causation_id=event.event_id,
        trace=current_trace_context(),
    )])
    return KeepOutcome("kept" if problem is None else "rejected", issuer, problem or "")


@dataclass
class CollectReport:
    records: int = 0
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # holder → kind → count
    skipped: int = 0  # kept before (the inbox knew them), or not an envelope (logged by consume)


def collect_checkpoints(bootstrap: str, holders: Mapping[str, tuple[EventStore, KeyRing]], *,
                        topic: str = CHECKPOINT_TOPIC, idle: float = DEFAULT_IDLE) -> CollectReport:
    """Read the checkpoint topic from its beginning and let every holder region (audit store,
    trusted keys) keep the others' checkpoints. Idempotent: the inbox skips what was kept before."""
    report = CollectReport()
    records = read_topic(bootstrap, topic, idle=idle)
    report.records = len(records)
    for holder, (audit_store, keyring) in holders.items():
        counts = report.outcomes.setdefault(holder, {})
        # The envelope must be signed by the region it names, with a key this holder trusts, before
        # the checkpoint inside is even looked at; a refused one is recorded as MessageRejected.
        gate = MessageGate(audit_store, KeyDirectory(None, ring=keyring), consumer=KEEPER)
        for record in records:
            if gate.envelope(topic, record.value, partition=record.partition, offset=record.offset) is None:
                counts["rejected"] = counts.get("rejected", 0) + 1
                continue
            outcome: list[KeepOutcome] = []

            def handler(tx: StoreTransaction, event: RecordedEvent, ring: KeyRing = keyring,
                        out: list[KeepOutcome] = outcome) -> None:
                out.append(keep_checkpoint(tx, event, keyring=ring))

            if consume(audit_store, KEEPER, record.value, record.headers, handler):
                kind = outcome[0].kind if outcome else "ignored"
                counts[kind] = counts.get(kind, 0) + 1
            else:
                report.skipped += 1
    return report


# -- checking stores against the checkpoints held ------------------------------------------


@dataclass(frozen=True)
class HeldCheckpoint:
    holder: str  # the region whose audit store holds it
    issuer: str
    own: bool  # the issuer's own record (CheckpointIssued), not a copy another region kept
    event_id: str  # the holding event
    signed: checkpoints_pb2.SignedCheckpoint
    checkpoint: checkpoints_pb2.Checkpoint

    def describe(self) -> str:
        who = f"its own record in {self.holder}/audit" if self.own else f"held by {self.holder}"
        issued = from_micros(micros_of_timestamp(self.checkpoint.issued_at)).isoformat()
        return f"checkpoint #{self.checkpoint.sequence} of {self.issuer} issued {issued}, {who}"


def held_checkpoints(audit_store: EventStore) -> list[HeldCheckpoint]:
    """Every checkpoint an audit store holds: the region's own and those it kept for others."""
    held: list[HeldCheckpoint] = []
    with audit_store.engine.connect() as conn:
        rows = conn.execute(select(events.c.event_id, events.c.type, events.c.payload)
                            .where(events.c.type.in_([ISSUED_TYPE, RECEIVED_TYPE])).order_by(events.c.position))
        for row in rows:
            if row.type == ISSUED_TYPE:
                signed = checkpoints_pb2.CheckpointIssued.FromString(bytes(row.payload)).signed
                own = True
            else:
                signed = checkpoints_pb2.CheckpointReceived.FromString(bytes(row.payload)).signed
                own = False
            checkpoint = checkpoints_pb2.Checkpoint.FromString(signed.checkpoint)
            held.append(HeldCheckpoint(audit_store.region, checkpoint.region.code, own, row.event_id, signed,
                                       checkpoint))
    return held


@dataclass(frozen=True)
class CheckpointProblem:
    store: str  # "REGION/SERVICE", or "REGION" for a problem with the issuer itself
    position: int
    stream_id: str
    version: int
    reason: str
    checkpoint: str  # HeldCheckpoint.describe()
    own_record: bool = False  # found against the issuer's own record, not a copy another region holds

    def __str__(self) -> str:
        where = f"position {self.position}, stream {self.stream_id} version {self.version}: " if self.stream_id else (
            f"position {self.position}: " if self.position else "")
        return f"{self.store} {where}{self.reason} ({self.checkpoint})"


@dataclass
class CheckpointReport:
    held: int = 0
    verified: int = 0  # signatures that verified
    compared: int = 0  # store heads compared with a store under audit
    problems: list[CheckpointProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_by_store(self) -> dict[str, CheckpointProblem]:
        first: dict[str, CheckpointProblem] = {}
        # Another region's copy is the stronger evidence: the issuer controls its own record.
        for p in sorted(self.problems, key=lambda p: (p.store, p.position or 1 << 62, p.own_record)):
            first.setdefault(p.store, p)
        return first


KeyringFor = Callable[[HeldCheckpoint], KeyRing | None]


def check_checkpoints(held: Iterable[HeldCheckpoint], stores: Mapping[tuple[str, str], EventStore], *,
                      keyring_for: KeyringFor, complete_regions: Iterable[str] = ()) -> CheckpointReport:
    """Compare every store under audit, by (region, service), with every checkpoint held.
    `keyring_for(held)` gives the keys to verify a held checkpoint with (None: not checked).
    For `complete_regions` (all of whose stores are under audit, as with a data directory) a store
    that a checkpoint names but that is absent is a finding."""
    report = CheckpointReport()
    by_sequence: dict[tuple[str, int], dict[bytes, HeldCheckpoint]] = defaultdict(dict)
    audited_regions = set(complete_regions)
    missing: dict[tuple[str, str], HeldCheckpoint] = {}
    for h in held:
        report.held += 1
        keyring = keyring_for(h)
        if keyring is not None:
            problem = signature_problem(h.signed, h.issuer, keyring)
            if problem is not None:
                # An unverifiable checkpoint accuses nobody: it is the holder's record that is bad.
                report.problems.append(CheckpointProblem(h.issuer, 0, "", 0, f"signature rejected: {problem}",
                                                         h.describe()))
                continue
            report.verified += 1
        by_sequence[(h.issuer, h.checkpoint.sequence)].setdefault(h.signed.checkpoint, h)
        for head in h.checkpoint.stores:
            store = stores.get((h.issuer, head.service))
            if store is not None:
                report.compared += 1
                report.problems.extend(_compare_head(store, head, h))
            elif h.issuer in audited_regions and head.position:
                # The region is under audit but this store of it is not: a whole store deleted
                # leaves no seam in the others, only in the checkpoints that named it.
                missing.setdefault((h.issuer, head.service), h)
    for (issuer, service), h in sorted(missing.items()):
        report.problems.append(CheckpointProblem(
            f"{issuer}/{service}", 0, "", 0,
            "a checkpoint names this store but it is not among the stores audited: deleted, or left out",
            h.describe(), h.own))
    for (issuer, sequence), versions in sorted(by_sequence.items()):
        if len(versions) > 1:
            holders = ", ".join(sorted({v.holder for v in versions.values()}))
            report.problems.append(CheckpointProblem(
                issuer, 0, "", 0,
                f"signed {len(versions)} different checkpoints numbered #{sequence} (held by {holders}): "
                "its history was rewritten between them", next(iter(versions.values())).describe()))
    return report


def _compare_head(store: EventStore, head: checkpoints_pb2.StoreHead, h: HeldCheckpoint) -> list[CheckpointProblem]:
    label = f"{h.issuer}/{head.service}"
    found: list[CheckpointProblem] = []
    with store.engine.connect() as conn:
        for s in head.streams:
            row = conn.execute(select(events.c.hash, events.c.position).where(
                events.c.stream_id == s.stream_id, events.c.version == s.version)).first()
            if row is None:
                found.append(CheckpointProblem(label, int(s.position), s.stream_id, int(s.version),
                                               "the checkpointed event is gone from the store", h.describe(), h.own))
            elif bytes(row.hash) != s.hash or int(row.position) != s.position:
                found.append(CheckpointProblem(
                    label, int(s.position), s.stream_id, int(s.version),
                    "the stream's hash differs from the checkpointed one: the stream was rewritten at or before "
                    "this version", h.describe(), h.own))
        at_head = conn.execute(select(events.c.global_hash).where(events.c.position == head.position)).first()
        if head.position and at_head is None:
            last = conn.execute(select(store_head.c.position)).scalar_one()
            found.append(CheckpointProblem(
                label, int(head.position), "", 0,
                f"the store ends at position {last}, before the checkpointed head: history truncated", h.describe(),
                h.own))
        elif at_head is not None and bytes(at_head.global_hash) != head.global_hash:
            found.append(CheckpointProblem(
                label, int(head.position), "", 0,
                "the store-wide chain differs from the checkpointed head: history rewritten at or before this "
                "position", h.describe(), h.own))
    return found


def _timestamp(instant: datetime) -> Timestamp:
    micros = to_micros(instant)
    return Timestamp(seconds=micros // 1_000_000, nanos=(micros % 1_000_000) * 1000)
