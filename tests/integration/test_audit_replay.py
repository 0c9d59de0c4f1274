"""`tongban audit replay`: every projection rebuilt from the log reproduces the live read model
exactly ("always rebuildable from the log"), and a read model that drifted from its log is named
row by row. From the stores' logs, and from the Kafka topics alone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, insert, text, update

from services.common.audit.datadir import StoreRef, discover_stores, open_store, store_path
from services.common.audit.kafka_log import topic_template
from services.common.audit.replay import replay_stores
from services.common.deadlines import FIRED, deadlines, schedule_deadline
from services.common.kafka_settings import ensure_topics
from services.common.kit.provenance import Provenance
from services.common.relay import OutboxRelay
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, sqlite_url
from services.common.store.engine import create_store_engine
from tests.integration.test_audit_helpers import PROVIDER, case_list, dataset, registry, run
from tests.support import CLERK, new_event


def _lines(output: str, verdict: str, store: str = r"\S+") -> list[str]:
    """Result lines of the projections these tests own (services may register more)."""
    pattern = re.compile(rf"^{verdict} {store} (deadlines|test\.case_list) .*$", re.M)
    return [m.group(0) for m in pattern.finditer(output)]


def _replay(data: Path) -> Any:
    refs = [r for r in discover_stores(data) if not r.is_audit]
    stores = [(r, open_store(r)) for r in refs]
    try:
        return replay_stores(stores, registry())
    finally:
        for _, s in stores:
            s.close()


def test_replaying_a_multi_region_dataset_reproduces_every_projection_exactly(tmp_path: Path) -> None:
    dataset(tmp_path)
    report = _replay(tmp_path)
    assert report.ok
    assert len(report.stores) == 6
    for replayed in report.stores:
        by_name = {r.projection: r for r in replayed.results}
        assert set(by_name) == {"deadlines", "test.case_list"}, replayed.store
        assert all(r.compared for r in replayed.results), "compared with a live read model, not just rebuilt"
        assert by_name["test.case_list"].rows["audit_test_case_list"] >= 4
        assert by_name["deadlines"].rows["deadlines"] == 2  # one fired, one cancelled per store


def test_a_drifted_read_model_is_reported_row_by_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dataset(tmp_path, regions=("640000", "510000"))
    url = sqlite_url(store_path(tmp_path, "510000", "marriage"))
    engine = create_store_engine(url)
    with engine.begin() as conn:
        [fired] = conn.execute(deadlines.select().where(deadlines.c.state == FIRED)).all()
        conn.execute(update(deadlines).where(deadlines.c.deadline_id == fired.deadline_id).values(state="pending"))
        gone = conn.execute(case_list.select().limit(1)).first()
        assert gone is not None
        conn.execute(delete(case_list).where(case_list.c.case_id == gone.case_id))
        conn.execute(insert(case_list).values(case_id="ghost-case", region="510000", steps=9, last_text="张三",
                                              last_recorded_us=0))
    engine.dispose()

    code, out, err = run(capsys, "replay", "--data", tmp_path, "--projections", PROVIDER)
    assert code == 1
    assert "NOT REPRODUCED: 4 store(s)" in out
    assert len(_lines(out, "identical")) == 3 * 2, "both projections of the three other stores"
    assert f"510000/marriage deadlines: table deadlines row ('{fired.deadline_id}') differs in state" in err
    assert (f"510000/marriage test.case_list: table audit_test_case_list row ('{gone.case_id}') is missing "
            "from the live read model") in err
    assert "row ('ghost-case') is in the live read model but no event explains it" in err
    assert "张三" not in err, "values are personal data: hidden unless asked for"

    code, _, err = run(capsys, "replay", "--data", tmp_path, "--projections", PROVIDER, "--show-values")
    assert code == 2 and "--auditor and --reason" in err
    code, _, err = run(capsys, "replay", "--data", tmp_path, "--projections", PROVIDER, "--show-values",
                       "--auditor", "A-17", "--reason", "inquiry 2026-031")
    assert code == 1
    assert "state: live 'pending', log gives 'fired'" in err and "张三" in err
    store = EventStore.open(url, region="510000", service="marriage", create=False)
    [read] = store.read_stream("audit-reads")
    store.close()
    assert read.actor.kind == "auditor" and read.actor.clerk_id == "A-17"
    assert read.message().reason == "inquiry 2026-031"  # type: ignore[attr-defined]


def test_replay_on_postgres_and_sqlite_compares_in_one_snapshot(store: EventStore) -> None:
    """The deadlines read model, maintained by the shared core in the same transaction as its events,
    is what its log says, on both backends."""
    for i in range(3):
        with store.transaction() as tx:
            [e] = tx.append(f"case-{i}", "t", 0, [new_event(f"case {i}")])
            schedule_deadline(tx, deadline_id=f"case-{i}-limit", kind="k", case_stream_id=f"case-{i}",
                              due_at=store.clock.now(), rule="r", provenance=Provenance(actor=CLERK,
                                                                                        correlation_id=f"case-{i}",
                                                                                        causation_id=e.event_id,
                                                                                        occurred_at=store.clock.now()))
    ref = StoreRef("640000", "marriage", store.engine.url.render_as_string(hide_password=False))
    report = replay_stores([(ref, store)], registry())
    assert report.ok
    [deadline_result] = [r for r in report.stores[0].results if r.projection == "deadlines"]
    assert deadline_result.rows == {"deadlines": 3} and deadline_result.compared
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM deadlines WHERE deadline_id = 'case-1-limit'"))
    [difference] = replay_stores([(ref, store)], registry()).stores[0].differences
    assert (difference.table, difference.key, difference.kind) == ("deadlines", ("case-1-limit",), "missing")


@pytest.mark.kafka
def test_the_topics_alone_reproduce_every_projection(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                     kafka_broker: Any, kafka_topic_prefix: str) -> None:
    """An auditor holding only the log: rebuilt from the topics, the read models equal the live ones,
    and without any store the digests equal those of a rebuild from the stores."""
    dataset(tmp_path, regions=("640000", "510000"))
    template = f"{kafka_topic_prefix}.{{service}}"
    topic_for = topic_template(template)
    ensure_topics(kafka_broker.bootstrap, [topic_for("marriage"), topic_for("disability")], partitions=2)
    producer = kafka_producer(kafka_broker.bootstrap)
    for ref in discover_stores(tmp_path):
        store = open_store(ref)
        OutboxRelay(store, producer, topic_for(ref.service)).publish_pending()
        store.close()
    producer.close()

    common = ["--projections", PROVIDER, "--topic-template", template, "--idle", "1"]
    code, out, err = run(capsys, "replay", "--data", tmp_path, "--from-kafka", kafka_broker.bootstrap, *common)
    assert code == 0, err
    assert "REPRODUCED: 4 store(s)" in out
    assert len(_lines(out, "identical")) == 4 * 2, out
    assert all(f"rebuilt from topic {kafka_topic_prefix}." in line for line in _lines(out, "identical"))

    code, from_stores, _ = run(capsys, "replay", "--data", tmp_path, "--projections", PROVIDER)
    code, log_only, err = run(capsys, "replay", "--from-kafka", kafka_broker.bootstrap, "--service", "marriage",
                              *common)
    assert code == 0, err
    assert "no live store to compare with: rebuilt only" in log_only
    for region in ("640000", "510000"):
        digests = [line.split(": ", 1)[1] for line in _lines(from_stores, "identical", f"{region}/marriage")]
        rebuilt = [line.split(": ", 1)[1] for line in _lines(log_only, "rebuilt", f"{region}/marriage")]
        assert digests and digests == rebuilt, "same rows, same digests, from the log alone"
