"""Test support for the registry on a real broker: the registry worker as a real subprocess, and
the region side in-process — each region's store with its relay thread, and one feed of the
decisions topic handing every message to every region's `decision_reaction`, as each region's
agent would."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import func, select

from services.common.events import Actor
from services.common.identity import make_citizen_id
from services.common.kafka_settings import ensure_topics
from services.common.kit.provenance import Provenance
from services.common.registry import (
    ClaimKind,
    RegistryDecision,
    claim_stream_id,
    decision_reaction,
    request_claim,
)
from services.common.registry.adapters import decision_from_proto
from services.common.registry.decisions import DecisionHandler
from services.common.registry.topics import region_decisions_topic
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, StoreTransaction, sqlite_url
from services.common.store.schema import events
from services.common.telemetry import tracer
from services.common.trust.keys import ensure_region_key
from services.common.trust.signing import EnvelopeSigner
from tests.fixtures.stores import COMPONENT_TABLES
from tests.support import wait_until
from tongban.registry.v1 import registry_pb2

ROOT = Path(__file__).resolve().parents[1]
_DECISION_RECORDED = registry_pb2.RegistryDecisionRecorded.DESCRIPTOR.full_name
# The regions the tests claim from: the decision feed reads their decisions topics.
FEED_REGIONS = ("640000", "510000", "610000", "500000")


def new_person(rng: random.Random | None = None) -> str:
    """A valid citizen id no other test uses (random birth date and sequence)."""
    rng = rng or random.Random(uuid.uuid4().int)
    born = date(1950, 1, 1).toordinal() + rng.randrange(40 * 365)
    return make_citizen_id("640104", date.fromordinal(born), rng.randrange(1, 1000))


@dataclass
class WorkerProcess:
    """`python -m services.common.registry.worker` in a subprocess, on the test's topics."""

    bootstrap: str
    workdir: Path
    app_id: str
    service_topics: Sequence[str]
    claims_topic: str
    decisions_topic: str
    claim_ttl: str = "1h"
    # Short: these tests' releases arrive in well under a second, and their denials wait this long.
    release_wait: str = "2s"
    expiry_check_interval: float = 0.5
    partitions: int = 4
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"registry-worker-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        argv = [sys.executable, "-m", "services.common.registry.worker", "worker", "--without-web",
                "--kafka", self.bootstrap, "--app-id", self.app_id, "--claims-topic", self.claims_topic,
                "--decisions-topic", self.decisions_topic, "--claim-ttl", self.claim_ttl,
                "--release-wait", self.release_wait,
                "--expiry-check-interval", str(self.expiry_check_interval), "--partitions", str(self.partitions),
                "--datadir", str(self.workdir / "faust"), "--loglevel", "info"]
        for topic in self.service_topics:
            argv += ["--service-topic", topic]
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """kill -9: no flush, no commit, no goodbye to the group."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def assert_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"registry worker exited with {self.proc.returncode}:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


class Region:
    """One service of one region: its own SQLite store, its relay publishing to the service topic,
    and its reaction to the decisions topic."""

    def __init__(self, workdir: Path, region: str, service: str, topic: str, bootstrap: str,
                 on_decision: DecisionHandler | None = None) -> None:
        self.region = region
        self.service = service
        self.store = EventStore.open(sqlite_url(workdir / f"{region}-{service}-{uuid.uuid4().hex[:6]}.db"),
                                     region=region, service=service, tables=COMPONENT_TABLES)
        self.react = decision_reaction(region, service, on_decision or (lambda tx, d: None))
        self._producer = kafka_producer(bootstrap)
        # Signed with the region's key under workdir, where the worker's key directory looks
        # (WorkerProcess: --datadir workdir/faust, so the directory above it).
        self._relay = OutboxRelay(self.store, self._producer, topic,
                                  signer=EnvelopeSigner(ensure_region_key(workdir, region)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay.run, args=(self._stop, 0.05), daemon=True,
                                        name=f"relay-{region}-{service}")

    @property
    def actor(self) -> Actor:
        return Actor(kind="clerk", clerk_id=f"clerk-{self.region}", office_code=f"{self.region}-OFFICE-01",
                     region=self.region, role="window")

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._producer.close(timeout=5)
        self.store.close()

    def claim(self, tx: StoreTransaction, claim_id: str, citizen_id: str, kind: ClaimKind, case_id: str) -> None:
        # A span of its own, as a gRPC call would have: the decision must come back in this trace.
        with tracer().start_as_current_span(f"claim {claim_id}"):
            request_claim(tx, claim_id=claim_id, citizen_id=citizen_id, kind=kind, case_id=case_id,
                          provenance=Provenance(actor=self.actor, correlation_id=case_id,
                                                causation_id=f"cmd-{claim_id}", occurred_at=datetime.now(UTC)))

    def decisions(self, claim_id: str) -> list[RegistryDecision]:
        """The decisions this region recorded on its claim, in order."""
        out = []
        for event in self.store.read_stream(claim_stream_id(claim_id)):
            if event.type == _DECISION_RECORDED:
                decision = registry_pb2.RegistryDecisionRecorded.FromString(event.payload).decision
                out.append(decision_from_proto(decision))
        return out

    def outcomes(self, claim_id: str) -> list[str]:
        return [str(d.outcome) for d in self.decisions(claim_id)]

    def recorded(self) -> int:
        """How many decisions this region recorded, on all its claims (one cheap query)."""
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).where(events.c.type == _DECISION_RECORDED)).scalar_one())


@dataclass
class DecisionFeed:
    """Reads the decisions topics from their start in a thread, as the host subscribes (invariant 10):
    keeps every message (duplicates too) and hands a message of a region's own decisions topic to that
    region's reactions, one of the national record (`topic`) to every region's."""

    bootstrap: str
    topic: str
    regions: list[Region] = field(default_factory=list)
    codes: tuple[str, ...] = FEED_REGIONS  # whose decisions topics are read
    seen: list[RegistryDecision] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, *regions: Region) -> None:
        with self._lock:
            self.regions.extend(regions)

    def remove(self, *regions: Region) -> None:
        with self._lock:
            for region in regions:
                self.regions.remove(region)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="decision-feed")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def check(self) -> None:
        if self.errors:
            raise AssertionError(f"the decision feed failed: {self.errors[0]!r}") from self.errors[0]

    def snapshot(self) -> list[RegistryDecision]:
        with self._lock:
            return list(self.seen)

    def wait_for(self, condition: Callable[[], Any], *, timeout: float, what: str,
                 worker: WorkerProcess | None = None, interval: float = 0.05) -> Any:
        def ready() -> Any:
            self.check()
            if worker is not None:
                worker.assert_alive()
            return condition()

        try:
            return wait_until(ready, timeout=timeout, what=what, interval=interval)
        except AssertionError as exc:
            tail = worker.log_tail() if worker is not None else ""
            raise AssertionError(f"{exc}\n--- worker log ---\n{tail}") from None

    def topics(self) -> list[str]:
        return [self.topic, *(region_decisions_topic(code, self.topic) for code in self.codes)]

    def _run(self) -> None:
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        try:
            # The worker declares a region's topic on its first decision for it: the feed makes them first.
            ensure_topics(self.bootstrap, self.topics(), partitions=4)
            tps = []
            for topic in self.topics():
                partitions = wait_until(lambda t=topic: consumer.partitions_for_topic(t), what=topic)
                tps += [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=100).values():
                    for record in records:
                        self._take(record.topic, record.value, record.headers)
        except BaseException as exc:  # reported to the test by check()
            self.errors.append(exc)
        finally:
            consumer.close()

    def _take(self, topic: str, raw: bytes, headers: list[tuple[str, bytes]]) -> None:
        decision = decision_from_proto(registry_pb2.RegistryDecision.FromString(raw))
        with self._lock:
            self.seen.append(decision)
            regions = [r for r in self.regions
                       if topic in (self.topic, region_decisions_topic(r.region, self.topic))]
        for region in regions:
            region.react(region.store, raw, headers)
