"""A small national exchange for the disability tests: the real registry worker (a subprocess)
on the session's broker, and regions each hosting the disability service in-process, with the
host's own consumer, exactly as `tongban serve` runs them (tests/hosted_region.py)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import grpc

from services.common.clock import FakeClock
from services.common.events import Actor
from services.common.kafka_settings import ensure_topics
from services.common.registry import CLAIMS_TOPIC, DECISIONS_TOPIC
from services.disability.bootstrap import definition
from services.host import ServiceHost
from tests.fixtures.trust import actor_metadata
from tests.hosted_region import hosted_region
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
    with hosted_region(definition(), code, bootstrap, prefix, data_dir, start, partitions=PARTITIONS) as hosted:
        yield Region(code, *hosted, api_grpc.DisabilityServiceStub(hosted[2]))

