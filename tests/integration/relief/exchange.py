"""A small national exchange for the relief tests: the real registry worker (a subprocess) on the
session's broker, and regions each hosting the relief service in-process through the service host
on a fake clock (gRPC server, outbox relay and deadline scheduler threads, as `tongban serve` runs
them). As in tests/integration/marriage/exchange.py, a plain consumer thread hands every message of
the topics the host consumes to the host's dispatch, as the host's own consumer does in batches."""

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
from services.host import HostConfig, ServiceHost
from services.relief.bootstrap import definition
from tests.fixtures.trust import actor_metadata, install_idp
from tests.support import wait_until
from tongban.relief.v1 import relief_service_pb2_grpc as api_grpc

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 4
SERVICE_TOPIC = "tongban.relief.events.v1"


@dataclass
class Region:
    code: str
    host: ServiceHost
    clock: FakeClock
    channel: grpc.Channel
    stub: api_grpc.ReliefServiceStub
    _stop: threading.Event = field(default_factory=threading.Event)
    _consumer: threading.Thread | None = None

    def call(self, method: str, request: Any, actor: Actor, *, timeout: float = 60.0) -> Any:
        return getattr(self.stub, method)(request, metadata=actor_metadata(actor), timeout=timeout)


@contextlib.contextmanager
def registry_worker(bootstrap: str, prefix: str, datadir: Path) -> Iterator[subprocess.Popen[bytes]]:
    topics = [f"{prefix}.{name}" for name in (SERVICE_TOPIC, CLAIMS_TOPIC, DECISIONS_TOPIC)]
    ensure_topics(bootstrap, topics, partitions=PARTITIONS)
    argv = [sys.executable, "-m", "services.common.registry.worker", "--kafka", bootstrap,
            "--service-topic", topics[0], "--claims-topic", topics[1], "--decisions-topic", topics[2],
            "--app-id", f"{prefix}-registry", "--partitions", str(PARTITIONS), "--datadir", str(datadir),
            "--expiry-check-interval", "1", "--loglevel", "warning"]
    datadir.parent.mkdir(parents=True, exist_ok=True)
    with (datadir.parent / "registry-worker.log").open("wb") as log:
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
    here = Region(code, host, clock, channel, api_grpc.ReliefServiceStub(channel))
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
