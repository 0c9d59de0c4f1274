"""A small national exchange for the marriage tests: the real registry worker (a subprocess) on
the session's broker, and regions each hosting the marriage service in-process through the service
host (services/host/) on a fake clock: gRPC server, outbox relay and deadline
scheduler threads, exactly as `tongban serve` runs them. Only the host's own consumer is left out: a
plain consumer thread hands every message of the topics the host consumes (the marriage events
topic, for hand-offs between regions, and the decisions topic) to the host's dispatch, which is
what the host's consumer (services/host/consuming.py) does, in batches, in its group."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc
from kafka import KafkaConsumer, TopicPartition

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.kafka_settings import ensure_topics
from services.common.registry import CLAIMS_TOPIC, DECISIONS_TOPIC
from services.common.registry.projection import registry_entries
from services.host import HostConfig, ServiceHost
from services.marriage.bootstrap import definition
from tests.fixtures.trust import actor_metadata, install_idp
from tests.support import wait_until
from tongban.marriage.v1 import marriage_service_pb2 as api
from tongban.marriage.v1 import marriage_service_pb2_grpc as api_grpc

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4


@dataclass
class Region:
    code: str
    host: ServiceHost
    clock: FakeClock
    channel: grpc.Channel
    stub: api_grpc.MarriageServiceStub
    _stop: threading.Event = field(default_factory=threading.Event)
    _consumer: threading.Thread | None = None

    def call(self, method: str, request: Any, actor: Actor, *, timeout: float = 60.0) -> Any:
        return getattr(self.stub, method)(request, metadata=actor_metadata(actor), timeout=timeout)

    def settled(self, case: api.Case, actor: Actor) -> api.Case:
        """The marriage once the registry answered: RegisterMarriage waits a bounded time, and the
        worker may still be joining its group when the first test starts."""
        request = api.GetCaseRequest(case_id=case.case_id)
        latest = [case]

        def answered() -> bool:
            latest[0] = self.call("GetCase", request, actor).case
            return latest[0].state != "awaiting_registry"

        wait_until(answered, timeout=60, what=f"the registry's answer for {case.case_id}")
        return latest[0]

    def settled_reissue(self, case: api.Case, actor: Actor) -> api.Case:
        """The reissue once the holding region's archive answered (issued or refused)."""
        request = api.GetCaseRequest(case_id=case.case_id)
        latest = [case]

        def answered() -> bool:
            latest[0] = self.call("GetCase", request, actor).case
            return latest[0].state != "awaiting_archive"

        wait_until(answered, timeout=60, what=f"the holding region's archive to answer {case.case_id}")
        return latest[0]

    def wait_for_claim(self, claim_id: str, status: str, *, other: Region | None = None) -> None:
        """Until `other` (default: this region) has seen the registry decide `status` on the claim."""
        viewer = other or self

        def seen() -> bool:
            store = viewer.host.store
            assert store is not None
            with store.engine.connect() as conn:
                return conn.execute(registry_entries.select().with_only_columns(registry_entries.c.status)
                                    .where(registry_entries.c.claim_id == claim_id,
                                           registry_entries.c.region == self.code)).scalar() == status
        wait_until(seen, timeout=60, what=f"claim {claim_id} {status} in the view of {viewer.code}")


@contextlib.contextmanager
def registry_worker(bootstrap: str, prefix: str, datadir: Path,
                    release_wait: str = "5s") -> Iterator[subprocess.Popen[bytes]]:
    """`release_wait`: how long a claim meeting another case's hold waits for a release in flight
    (ReleaseInFlightIsAwaited); short here, since a refusal in these tests comes only after it."""
    topics = [f"{prefix}.{name}" for name in ("tongban.marriage.events.v1", CLAIMS_TOPIC, DECISIONS_TOPIC)]
    ensure_topics(bootstrap, topics, partitions=PARTITIONS)
    argv = [sys.executable, "-m", "services.common.registry.worker", "--kafka", bootstrap,
            "--service-topic", topics[0], "--claims-topic", topics[1], "--decisions-topic", topics[2],
            "--app-id", f"{prefix}-registry", "--partitions", str(PARTITIONS), "--datadir", str(datadir),
            "--release-wait", release_wait, "--expiry-check-interval", "1", "--loglevel", "warning"]
    log_path = datadir.parent / "registry-worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(argv, cwd=ROOT, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT)
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


@contextlib.contextmanager
def region(code: str, bootstrap: str, prefix: str, data_dir: Path, start: datetime) -> Iterator[Region]:
    clock = FakeClock(start)
    config = HostConfig(region=code, kafka=bootstrap, data_dir=data_dir, topic_prefix=prefix,
                        partitions=PARTITIONS, relay_interval=0.05, scheduler_interval=0.1)
    install_idp(data_dir, code)
    host = ServiceHost(definition(), config, clock=clock)
    host.prepare()
    host.start_background()
    channel = grpc.insecure_channel(f"127.0.0.1:{host.grpc_port}")
    here = Region(code, host, clock, channel, api_grpc.MarriageServiceStub(channel))
    here._consumer = threading.Thread(target=_consume, args=(here, bootstrap), name=f"exchange-{code}", daemon=True)
    here._consumer.start()
    try:
        yield here
    finally:
        here._stop.set()
        here._consumer.join(timeout=10)
        channel.close()
        host.stop_background()
        host.close()


def _consume(here: Region, bootstrap: str) -> None:
    """What the host's consumer does for its topics: every message to dispatch."""
    topics = here.host.topics()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        assigned = [TopicPartition(topic, p) for topic in topics for p in _partitions(consumer, topic)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        while not here._stop.is_set():
            for tp, records in consumer.poll(timeout_ms=100).items():
                for record in records:
                    here.host.dispatch(tp.topic, record.key, record.value, record.headers)
    finally:
        consumer.close()


def _partitions(consumer: KafkaConsumer, topic: str) -> list[int]:
    return sorted(wait_until(lambda: consumer.partitions_for_topic(topic), what=f"partitions of {topic}"))


def register_request(husband: str, wife: str, *, wait: float = 30.0) -> api.RegisterMarriageRequest:
    declaration = {"consents": True, "no_spouse": True, "no_prohibited_kinship": True, "appears_in_person": True}
    return api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=husband, name="男方", declaration=declaration),
        party_b=api.PartyInput(citizen_id=wife, name="女方", declaration=declaration),
        wait_seconds=wait,
    )
