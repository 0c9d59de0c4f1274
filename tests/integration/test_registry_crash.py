"""The registry worker killed with SIGKILL in the middle of a stream of claims and restarted: its
records are in its own store, every claim is decided, and no person is granted twice
(the crash-safety argument in services/common/registry/worker/__init__.py)."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient

from services.common.kafka_settings import ensure_topics
from services.common.registry import ClaimKind, RegistryDecision
from tests.registry_support import DecisionFeed, Region, WorkerProcess, new_person

pytestmark = pytest.mark.kafka

PERSONS_PER_WAVE = 30
RIVALS = ("640000", "510000", "610000")


def _committed(bootstrap: str, group: str, topic: str) -> int:
    """How many messages of `topic` the group has committed, over all partitions."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    return sum(meta.offset for tp, meta in offsets.items() if tp.topic == topic and meta.offset > 0)


def _claim_wave(regions: list[Region], persons: list[str], tag: str) -> list[tuple[Region, str, str]]:
    """Each region claims each person's live marriage, one transaction per region."""
    claims = []
    for region in regions:
        with region.store.transaction() as tx:
            for n, citizen in enumerate(persons):
                claim_id = f"{tag}-{region.region}-{n}"
                region.claim(tx, claim_id, citizen, ClaimKind.LIVE_MARRIAGE, case_id=f"marriage-{claim_id}")
                claims.append((region, claim_id, citizen))
    return claims


def _recorded(regions: list[Region]) -> int:
    return sum(region.recorded() for region in regions)


def test_a_worker_killed_mid_stream_recovers_its_table_and_never_grants_twice(
        kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path, kafka_timing: Callable[[str, float], None]) -> None:
    """Wave 1 is decided and committed. Wave 2 (new persons, three rival regions each) is being
    decided when the worker gets SIGKILL. While it is down, Chongqing claims everyone. After the
    restart: every claim has exactly one decision recorded, each person exactly one grant ever
    published, and Chongqing is denied naming the holder decided before the crash — the holders of
    wave 1, whose inputs were committed and are not read again, can only come from the changelog."""
    bootstrap = kafka_broker.bootstrap
    topic = f"{kafka_topic_prefix}.marriage.events"
    worker = WorkerProcess(bootstrap, tmp_path, app_id=f"{kafka_topic_prefix}.registry", service_topics=[topic],
                           claims_topic=f"{kafka_topic_prefix}.claims",
                           decisions_topic=f"{kafka_topic_prefix}.decisions", claim_ttl="1h", partitions=4)
    ensure_topics(bootstrap, [topic], partitions=2)
    ensure_topics(bootstrap, [worker.claims_topic, worker.decisions_topic], partitions=4)
    rivals = [Region(tmp_path, code, "marriage", topic, bootstrap) for code in RIVALS]
    chongqing = Region(tmp_path, "500000", "marriage", topic, bootstrap)
    feed = DecisionFeed(bootstrap, worker.decisions_topic, regions=[*rivals, chongqing])
    for region in (*rivals, chongqing):
        region.start()
    feed.start()
    try:
        first_persons = [new_person() for _ in range(PERSONS_PER_WAVE)]
        wave1 = _claim_wave(rivals, first_persons, "w1")
        started = time.monotonic()
        worker.start()
        feed.wait_for(lambda: _recorded(rivals) == len(wave1), timeout=90.0, what="wave 1 decided", worker=worker)
        kafka_timing("registry worker start to wave 1 decided", time.monotonic() - started)
        feed.wait_for(lambda: _committed(bootstrap, worker.app_id, worker.claims_topic) >= len(wave1), timeout=30.0,
                      what="wave 1's offsets committed", worker=worker, interval=0.5)

        second_persons = [new_person() for _ in range(PERSONS_PER_WAVE)]
        wave2 = _claim_wave(rivals, second_persons, "w2")
        feed.wait_for(lambda: _recorded(rivals) > len(wave1), timeout=30.0, what="wave 2 under way", worker=worker)
        worker.kill()
        decided_at_kill = len({d.claim_id for d in feed.snapshot()} & {claim_id for _, claim_id, _ in wave2})
        assert decided_at_kill < len(wave2), "the kill was meant to land mid-stream"

        wave3 = _claim_wave([chongqing], [*first_persons, *second_persons], "w3")  # while no worker runs
        restarted = time.monotonic()
        worker.start()
        everything = [*wave1, *wave2, *wave3]
        feed.wait_for(lambda: _recorded([*rivals, chongqing]) >= len(everything), timeout=120.0,
                      what="every claim decided after the restart", worker=worker, interval=0.2)
        kafka_timing("registry worker restart to every claim decided", time.monotonic() - restarted)
    finally:
        feed.stop()
        worker.stop()
        for region in (*rivals, chongqing):
            region.close()
    feed.check()

    for region, claim_id, _ in everything:
        assert len(region.decisions(claim_id)) == 1, f"{claim_id}: one decision recorded, however often sent"
    grants: dict[str, set[str]] = collections.defaultdict(set)
    for d in feed.snapshot():
        if d.outcome == "granted":
            grants[d.citizen_id].add(d.decision_id)
    assert all(len(grants[p]) == 1 for p in [*first_persons, *second_persons]), "one grant per person, ever"
    by_person: dict[str, list[RegistryDecision]] = collections.defaultdict(list)
    for region, claim_id, citizen in everything:
        by_person[citizen] += region.decisions(claim_id)
    for citizen, decided in by_person.items():
        [holder] = [d for d in decided if d.outcome == "granted"]
        for d in decided:
            if d is not holder:
                # Nobody confirms here: behind an unconfirmed holder a rival is answered PENDING, no
                # refusal (ARefusalRestsOnASettledHold, invariant 9) — naming the holder all the same.
                assert d.outcome == "pending"
                assert (d.holder_case_id, d.holder_region) == (holder.case_id, holder.region)
        if citizen in first_persons:
            # Decided and committed before the crash, never read again: only the changelog knew.
            assert holder.claim_id.startswith("w1-"), f"{citizen[:6]}…: the table forgot its holder"
