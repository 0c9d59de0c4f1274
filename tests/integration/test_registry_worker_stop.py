"""The registry worker's life as a process (registry/worker/app.py, cli.py): it says it consumes only
once both its groups have their partitions, decides, and on SIGTERM stops cleanly — exit 0 and no
readiness marker left behind, with or without its broker — so `tongban up`'s supervisor tells a
stop from a crash."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from infra.local_broker import LocalBroker
from services.common.kafka_settings import ensure_topics
from services.common.readiness import consuming
from services.common.registry import ClaimKind
from services.common.registry.worker.settings import CONSUMING_FILE, WorkerSettings
from tests.registry_support import DecisionFeed, Region, WorkerProcess, new_person
from tests.support import wait_until

pytestmark = pytest.mark.kafka


def test_a_worker_says_it_consumes_decides_and_stops_cleanly_on_sigterm(
    kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path
) -> None:
    """Invariant 5's single writer as a process: ready (marker holding its pid) once its decider's and
    forwarder's partitions are assigned; a claim is granted; SIGTERM ends it with exit 0 within the
    wait, the marker gone."""
    topic = f"{kafka_topic_prefix}.marriage.events"
    worker = WorkerProcess(kafka_broker.bootstrap, tmp_path, app_id=f"{kafka_topic_prefix}.registry",
                           service_topics=[topic], claims_topic=f"{kafka_topic_prefix}.claims",
                           decisions_topic=f"{kafka_topic_prefix}.decisions")
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    marker = tmp_path / "faust" / CONSUMING_FILE  # WorkerProcess: --datadir workdir/faust
    worker.start()
    feed = DecisionFeed(kafka_broker.bootstrap, worker.decisions_topic)
    feed.start()
    region = Region(tmp_path, "640000", "marriage", topic, kafka_broker.bootstrap)
    feed.add(region)
    region.start()
    try:
        assert worker.proc is not None
        pid = worker.proc.pid
        feed.wait_for(lambda: consuming(marker, pid), timeout=60.0, what="the worker's readiness marker",
                      worker=worker)
        claim_id = f"claim-{kafka_topic_prefix}"
        with region.store.transaction() as tx:
            region.claim(tx, claim_id, new_person(), ClaimKind.LIVE_MARRIAGE, case_id=f"case-{claim_id}")
        feed.wait_for(lambda: region.outcomes(claim_id) == ["granted"], timeout=60.0, what="the claim's grant",
                      worker=worker)
        worker.proc.terminate()
        code = worker.proc.wait(timeout=30)
        assert code == 0, worker.log_tail()
        assert not marker.exists()
        assert "Traceback" not in worker.log_tail(20_000)
    finally:
        feed.stop()
        worker.stop()
        region.close()


def test_a_worker_whose_broker_is_gone_still_stops_on_sigterm(tmp_path: Path) -> None:
    """`tongban up` stops the registry before the broker, but a broker can die first (a crash, the
    chaos test): the worker must still end on SIGTERM, exit 0, rather than wait for the broker."""
    with LocalBroker(log_dir=tmp_path) as broker:
        worker = WorkerProcess(broker.bootstrap, tmp_path, app_id="t.registry", service_topics=["t.marriage.events"],
                               claims_topic="t.claims", decisions_topic="t.decisions")
        ensure_topics(broker.bootstrap, ["t.marriage.events"], partitions=2)
        marker = tmp_path / "faust" / CONSUMING_FILE
        worker.start()
        try:
            assert worker.proc is not None
            pid = worker.proc.pid
            wait_until(lambda: worker.assert_alive() or consuming(marker, pid), timeout=60.0,
                       what="the worker's readiness marker")
            broker.stop()
            worker.proc.terminate()
            code = worker.proc.wait(timeout=60)
            assert code == 0, worker.log_tail()
            assert "Traceback" not in worker.log_tail(100_000)
        finally:
            worker.stop()


def test_a_stop_cuts_short_a_batch_whose_decisions_cannot_be_sent_and_the_next_start_decides_it(
    kafka_broker: Any, kafka_topic_prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At least once (invariant 2), and a stop that ends: a worker whose decisions are never
    acknowledged (as with its broker gone) stops after its grace instead of waiting for them, having
    committed no offset of the batch; the next worker decides the claim."""
    from services.common.registry.worker import app

    monkeypatch.setattr(app, "STOP_GRACE", 0.5)
    stuck = threading.Event()

    async def never_acknowledged(messages: Any) -> None:
        if messages:
            stuck.set()
            await asyncio.Event().wait()

    monkeypatch.setattr(app, "deliver_all", never_acknowledged)  # the decider's sends only
    topic = f"{kafka_topic_prefix}.marriage.events"
    ensure_topics(kafka_broker.bootstrap, [topic], partitions=2)
    process = WorkerProcess(kafka_broker.bootstrap, tmp_path, app_id=f"{kafka_topic_prefix}.registry",
                            service_topics=[topic], claims_topic=f"{kafka_topic_prefix}.claims",
                            decisions_topic=f"{kafka_topic_prefix}.decisions")
    ensure_topics(kafka_broker.bootstrap, [process.claims_topic, process.decisions_topic], partitions=4)
    settings = WorkerSettings(bootstrap=kafka_broker.bootstrap, datadir=tmp_path / "faust", app_id=process.app_id,
                              service_topics=(topic,), claims_topic=process.claims_topic,
                              decisions_topic=process.decisions_topic, partitions=4)
    feed = DecisionFeed(kafka_broker.bootstrap, process.decisions_topic)
    region = Region(tmp_path, "640000", "marriage", topic, kafka_broker.bootstrap)
    feed.add(region)
    feed.start()
    region.start()
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            loop.run_until_complete(app.RegistryWorker(settings).run(stopping))
        except BaseException as exc:  # reported below
            failures.append(exc)

    in_process = threading.Thread(target=serve, name="registry-worker", daemon=True)
    in_process.start()
    try:
        claim_id = f"claim-{kafka_topic_prefix}"
        with region.store.transaction() as tx:
            region.claim(tx, claim_id, new_person(), ClaimKind.LIVE_MARRIAGE, case_id=f"case-{claim_id}")
        wait_until(lambda: failures or stuck.is_set(), timeout=60.0, what="the decider sending the decision")
        loop.call_soon_threadsafe(stopping.set)
        in_process.join(timeout=30.0)
        assert not in_process.is_alive(), "the stop waited for sends that never end"
        assert failures == []
        assert region.outcomes(claim_id) == []
        process.start()  # the next start, as the supervisor's restart
        feed.wait_for(lambda: region.outcomes(claim_id) == ["granted"], timeout=60.0,
                      what="the next worker deciding the claim", worker=process)
    finally:
        process.stop()
        feed.stop()
        region.close()
        loop.close()
