"""A small national exchange for the marriage tests: the real registry worker (a subprocess) on
the session's broker, and regions each hosting the marriage service in-process, with the host's own
consumer of its hand-off topic and the decisions addressed to it, exactly as `tongban serve` runs
them (tests/hosted_region.py)."""

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
from services.common.registry.projection import registry_entries
from services.host import ServiceHost
from services.marriage.bootstrap import definition
from tests.fixtures.trust import actor_metadata
from tests.hosted_region import hosted_region
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
    with hosted_region(definition(), code, bootstrap, prefix, data_dir, start, partitions=PARTITIONS) as hosted:
        yield Region(code, *hosted, api_grpc.MarriageServiceStub(hosted[2]))


def register_request(husband: str, wife: str, *, wait: float = 30.0) -> api.RegisterMarriageRequest:
    declaration = {"consents": True, "no_spouse": True, "no_prohibited_kinship": True, "appears_in_person": True}
    return api.RegisterMarriageRequest(
        party_a=api.PartyInput(citizen_id=husband, name="男方", declaration=declaration),
        party_b=api.PartyInput(citizen_id=wife, name="女方", declaration=declaration),
        wait_seconds=wait,
    )
