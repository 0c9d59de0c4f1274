"""The per-person registry end to end on a real broker (architecture invariant 5): regions claim in
their own stores, relays publish, the registry worker (a real subprocess) decides, and every
region takes the decisions through its inbox. One worker serves the module; each test uses
persons of its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.common.kafka_settings import ensure_topics
from services.common.kit.provenance import Provenance
from services.common.registry import ClaimKind, RegistryDecision, confirm_claim, query_person
from services.common.store import StoreTransaction
from services.common.telemetry import memory_tracing
from tests.registry_support import DecisionFeed, Region, WorkerProcess, new_person

pytestmark = pytest.mark.kafka

CLAIM_TTL_SECONDS = 4  # long enough for a confirmation's round trip, short enough to wait for
FIRST_DECISION_TIMEOUT = 90.0  # includes the worker joining its group and recovering its table


@dataclass
class Registry:
    bootstrap: str
    topics: dict[str, str]  # service → its events topic
    worker: WorkerProcess
    feed: DecisionFeed
    workdir: Path

    def region(self, code: str, service: str, on_decision: Any = None) -> Region:
        region = Region(self.workdir, code, service, self.topics[service], self.bootstrap, on_decision)
        self.feed.add(region)
        region.start()
        return region


@pytest.fixture(scope="module")
def registry(kafka_broker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    # The module's own prefix (kafka_topic_prefix is per test): no other module sees these topics.
    prefix = f"t.registry-worker.{uuid.uuid4().hex[:10]}"
    workdir = tmp_path_factory.mktemp("registry")
    topics = {service: f"{prefix}.{service}.events" for service in ("marriage", "relief")}
    worker = WorkerProcess(
        kafka_broker.bootstrap, workdir, app_id=f"{prefix}.registry", service_topics=list(topics.values()),
        claims_topic=f"{prefix}.claims", decisions_topic=f"{prefix}.decisions", claim_ttl=f"{CLAIM_TTL_SECONDS}s",
        # These tests' claims are never confirmed and expire within seconds: denied at once, as
        # before ReleaseInFlightIsAwaited (tested in tests/unit/test_registry_release_wait.py and
        # end to end in tests/integration/marriage/test_national.py).
        expiry_check_interval=0.25, partitions=4, release_wait="0",
    )
    ensure_topics(kafka_broker.bootstrap, list(topics.values()), partitions=2)
    ensure_topics(kafka_broker.bootstrap, [worker.claims_topic, worker.decisions_topic], partitions=4)
    worker.start()
    feed = DecisionFeed(kafka_broker.bootstrap, worker.decisions_topic)
    feed.start()
    try:
        yield Registry(kafka_broker.bootstrap, topics, worker, feed, workdir)
    finally:
        feed.stop()
        worker.stop()
        for region in list(feed.regions):
            region.close()


def test_three_regions_claiming_the_same_persons_at_the_same_moment_get_exactly_one_grant(registry: Registry) -> None:
    """Invariant 5, one holder per person and kind: Ningxia, Sichuan and Shaanxi register marriages
    for the same three persons, and their relief offices enrol the first of them in 低保, all at
    the same moment. Per person and kind exactly one claim is granted; every other claim is denied
    naming that holder; every region's view agrees; each decision continues its claim's trace."""
    memory_tracing()  # real span ids in this process, so the claims carry a trace
    persons = [new_person() for _ in range(3)]
    codes = ("640000", "510000", "610000")
    marriage = [registry.region(code, "marriage") for code in codes]
    relief = [registry.region(code, "relief") for code in codes]
    claims: list[tuple[Region, str, str, ClaimKind]] = []  # (region, claim id, person, kind)
    for region in marriage:
        claims += [(region, f"m-{region.region}-{n}", p, ClaimKind.LIVE_MARRIAGE) for n, p in enumerate(persons)]
    for region in relief:
        claims.append((region, f"d-{region.region}", persons[0], ClaimKind.DIBAO))
    start = threading.Barrier(len(marriage) + len(relief))

    def claim_all(region: Region) -> None:
        mine = [c for c in claims if c[0] is region]
        start.wait()
        with region.store.transaction() as tx:
            for _, claim_id, citizen, kind in mine:
                region.claim(tx, claim_id, citizen, kind, case_id=f"case-{claim_id}")

    threads = [threading.Thread(target=claim_all, args=(r,)) for r in (*marriage, *relief)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    registry.feed.wait_for(lambda: all(region.decisions(claim_id) for region, claim_id, _, _ in claims),
                           timeout=FIRST_DECISION_TIMEOUT, what="a decision on every claim", worker=registry.worker)

    for citizen in persons:
        for kind in (ClaimKind.LIVE_MARRIAGE, ClaimKind.DIBAO):
            mine = [(region, claim_id) for region, claim_id, p, k in claims if (p, k) == (citizen, kind)]
            if not mine:
                continue
            first = {claim_id: region.decisions(claim_id)[0] for region, claim_id in mine}
            granted = [d for d in first.values() if d.outcome == "granted"]
            assert len(granted) == 1, f"{kind}: {[(d.region, d.outcome) for d in first.values()]}"
            [holder] = granted
            for d in first.values():
                if d is not holder:
                    assert d.outcome == "denied"
                    assert (d.holder_case_id, d.holder_region, d.holder_service) == (
                        holder.case_id, holder.region, holder.service)
            on_topic = {d.decision_id for d in registry.feed.snapshot()
                        if (d.citizen_id, d.kind, d.outcome) == (citizen, kind, "granted")}
            assert on_topic == {holder.decision_id}, "never a second grant, not even one nobody recorded"

    # Invariant 10: each region heard only the decisions on its own claims (its marriage and its
    # 低保 claim; nobody confirmed, so nothing is on the national record). Every service of the
    # region sees both in its view, the holders among them; the look is recorded.
    holders = {(d.kind, d.region, d.service) for d in registry.feed.snapshot() if d.outcome == "granted"
               and d.citizen_id == persons[0]}
    for region in (*marriage, *relief):
        entries = query_person(region.store, persons[0], actor=region.actor, reason="holder check, test")
        assert sorted((e.region, e.service) for e in entries) == [(region.region, "marriage"),
                                                                  (region.region, "relief")]
        assert {(e.kind, e.region, e.service) for e in entries if e.holding} == {
            h for h in holders if h[1] == region.region}

    for region, claim_id, _, _ in claims:
        [requested] = region.store.read_stream(f"registry-claim-{claim_id}")[:1]
        trace_id = requested.trace.traceparent.split("-")[1]
        assert region.decisions(claim_id)[0].trace.traceparent.split("-")[1] == trace_id


def test_an_unconfirmed_claim_expires_and_frees_the_person_while_a_confirmed_one_stays(registry: Registry) -> None:
    """UnconfirmedHoldExpires: Ningxia's relief office is granted 低保 for a person and never
    confirms; after the claim TTL the registry says `expired`, and Sichuan's claim is granted.
    The same person's marriage, confirmed on its grant, does not expire."""
    citizen = new_person()

    def confirm_on_grant(tx: StoreTransaction, d: RegistryDecision) -> None:
        if d.outcome == "granted":
            confirm_claim(tx, claim_id=d.claim_id, citizen_id=d.citizen_id, kind=d.kind, case_id=d.case_id,
                          provenance=Provenance(actor=marriage.actor, correlation_id=d.correlation_id,
                                                causation_id=d.decision_id, occurred_at=d.decided_at))

    marriage = registry.region("640000", "marriage", confirm_on_grant)
    ningxia = registry.region("640000", "relief")
    sichuan = registry.region("510000", "relief")
    with marriage.store.transaction() as tx:
        marriage.claim(tx, "m-1", citizen, ClaimKind.LIVE_MARRIAGE, "marriage-1")
    with ningxia.store.transaction() as tx:
        ningxia.claim(tx, "d-1", citizen, ClaimKind.DIBAO, "relief-1")

    registry.feed.wait_for(lambda: ningxia.outcomes("d-1") == ["granted", "expired"],
                           timeout=FIRST_DECISION_TIMEOUT + CLAIM_TTL_SECONDS, what="the 低保 claim to expire",
                           worker=registry.worker)
    granted, expired = ningxia.decisions("d-1")
    assert (expired.decided_at - granted.decided_at).total_seconds() == pytest.approx(CLAIM_TTL_SECONDS)
    # Both holds are the same person's: one partition, one order. The marriage's expiry check would
    # have been decided before the 低保 one, so by now it would show.
    assert marriage.outcomes("m-1") == ["granted", "confirmed"]

    with sichuan.store.transaction() as tx:
        sichuan.claim(tx, "d-2", citizen, ClaimKind.DIBAO, "relief-2")
    registry.feed.wait_for(lambda: sichuan.outcomes("d-2"), timeout=30.0, what="Sichuan's 低保 claim decided",
                           worker=registry.worker)
    assert sichuan.outcomes("d-2") == ["granted"]
    holding = [(e.kind, e.region) for e in query_person(sichuan.store, citizen, actor=sichuan.actor,
                                                        reason="enrolment check") if e.holding]
    assert sorted(holding) == [(ClaimKind.DIBAO, "510000"), (ClaimKind.LIVE_MARRIAGE, "640000")]
