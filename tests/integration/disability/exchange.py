"""A small national exchange for the disability tests: the real registry worker (a subprocess)
on the session's broker, and regions each hosting the disability service in-process through the
service host on a fake clock (gRPC server, outbox relay, deadline scheduler), exactly as `tongban
serve` runs them. A plain consumer thread hands every message of the topics the host consumes to
the host's dispatch one by one, as the host's own consumer does in batches (as
tests/integration/marriage/exchange.py)."""

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
from services.disability.bootstrap import definition
from services.host import HostConfig, ServiceHost
from tests.fixtures.trust import actor_metadata, install_idp
from tests.support import wait_until
from tongban.disability.v1 import disability_service_pb2 as api
from tongban.disability.v1 import disability_service_pb2_grpc as api_grpc

ROOT = Path(__file__).resolve().parents[3]
PARTITIONS = 2


@dataclass
class Region:
    code: str
    host: ServiceHost
    clock: FakeClock
    channel: grpc.Channel
    stub: api_grpc.DisabilityServiceStub
    _stop: threading.Event = field(default_factory=threading.Event)
    _consumer: threading.Thread | None = None

    def call(self, method: str, request: Any, actor: Actor, *, timeout: float = 60.0) -> Any:
        return getattr(self.stub, method)(request, metadata=actor_metadata(actor), timeout=timeout)

    def until(self, case_id: str, actor: Actor, done: Any, what: str) -> api.Case:
        latest: list[api.Case] = []

        def check() -> bool:
            try:
                latest[:] = [self.call("GetCase", api.GetCaseRequest(case_id=case_id), actor).case]
            except grpc.RpcError as missing:
                if missing.code() is grpc.StatusCode.NOT_FOUND:  # not arrived here yet
                    return False
                raise
            return bool(done(latest[0]))

        wait_until(check, timeout=60, what=what)
        return latest[0]


@contextlib.contextmanager
def registry_worker(bootstrap: str, prefix: str, datadir: Path) -> Iterator[subprocess.Popen[bytes]]:
    topics = [f"{prefix}.{name}" for name in ("tongban.disability.events.v1", CLAIMS_TOPIC, DECISIONS_TOPIC)]
    ensure_topics(bootstrap, topics, partitions=PARTITIONS)
    argv = [sys.executable, "-m", "services.common.registry.worker", "--kafka", bootstrap,
            "--service-topic", topics[0], "--claims-topic", topics[1], "--decisions-topic", topics[2],
            "--app-id", f"{prefix}-registry", "--partitions", str(PARTITIONS), "--datadir", str(datadir),
            "--expiry-check-interval", "1", "--loglevel", "warning"]
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
    here = Region(code, host, clock, channel, api_grpc.DisabilityServiceStub(channel))
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
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        topics = here.host.topics()
        assigned = [TopicPartition(topic, p) for topic in topics
                    for p in sorted(wait_until(lambda t=topic: consumer.partitions_for_topic(t), what=topic))]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        while not here._stop.is_set():
            for tp, records in consumer.poll(timeout_ms=100).items():
                for record in records:
                    here.host.dispatch(tp.topic, record.key, record.value, record.headers)
    finally:
        consumer.close()
