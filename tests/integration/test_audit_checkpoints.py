"""Signed checkpoints across regions (invariant 3 beyond one database): a region that rewrites its
whole history consistently — every stream hash, the store-wide chain and the head recomputed, its
own audit store re-issued — verifies as intact on its own, and is caught only by the checkpoint
another region holds. A forged checkpoint is refused and kept as evidence."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from services.common.audit.checkpoints import (
    KEEPER,
    REJECTED_TYPE,
    STREAM_TYPE,
    held_checkpoints,
    held_stream,
    issue_checkpoint,
    issued_stream,
    keep_checkpoint,
    publish_checkpoints,
)
from services.common.audit.datadir import store_path
from services.common.consumer import consume, rejected_messages
from services.common.events import Actor, NewEvent, RecordedEvent
from services.common.kafka_settings import ensure_topics
from services.common.relay_producer import kafka_producer
from services.common.store import EventStore, StoreTransaction, sqlite_url, verify_store
from services.common.trust.keys import RegionKey, exchange_public_keys, load_region_key, trusted_keyring
from tests.integration.test_audit_helpers import dataset, read_all, rewrite_consistently, run
from tongban.audit.v1 import checkpoints_pb2


def _open(data: Path, region: str, service: str) -> EventStore:
    return EventStore.open(sqlite_url(store_path(data, region, service)), region=region, service=service)


@pytest.mark.kafka
def test_a_consistent_rewrite_of_a_whole_store_is_caught_only_by_another_regions_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kafka_broker: Any, kafka_topic_prefix: str) -> None:
    data = tmp_path / "data"
    dataset(data, regions=("640000", "510000"), services=("marriage",), cases_per_store=2)
    code, out, _ = run(capsys, "keys", "--data", data)
    assert code == 0 and "public keys exchanged between 510000, 640000" in out
    code, out, err = run(capsys, "checkpoint", "--data", data, "--kafka", kafka_broker.bootstrap,
                         "--checkpoint-topic", f"{kafka_topic_prefix}.checkpoints", "--idle", "1")
    assert code == 0, err
    assert "510000: kept 1 new checkpoint(s)" in out and "640000: kept 1 new checkpoint(s)" in out
    code, out, err = run(capsys, "verify", "--data", data)
    assert code == 0, err
    assert "checkpoints: 4 held, 4 signatures verified, 4 store heads match the stores" in out

    # 640000 rewrites one case of its marriage store and recomputes everything after it...
    url = sqlite_url(store_path(data, "640000", "marriage"))
    victim = next(e.stream_id for e in read_all(url) if e.stream_type == "sample.Case")
    forged = rewrite_consistently(url, victim, "forged", global_chain=True)
    # ...and replaces its own audit store with a checkpoint of the forged history.
    for side in store_path(data, "640000", "audit").parent.glob("audit.db*"):
        side.unlink()
    marriage, audit = _open(data, "640000", "marriage"), _open(data, "640000", "audit")
    issue_checkpoint(audit, {"marriage": marriage}, load_region_key(data, "640000"))
    assert verify_store(marriage).ok, "every chain of the forged store adds up"
    marriage.close()
    audit.close()

    alone = tmp_path / "alone"
    shutil.copytree(data / "640000", alone / "640000")
    code, out, err = run(capsys, "verify", "--data", alone)
    assert code == 0, "nothing 640000 holds itself can reveal the rewrite"

    code, out, err = run(capsys, "verify", "--data", data)
    assert code == 1
    last = forged[-1]
    [rewritten] = [line for line in err.splitlines() if line.startswith("REWRITTEN ")]
    assert rewritten.startswith(f"REWRITTEN 640000/marriage: its chains are consistent, but at position "
                                f"{last.position}, stream {victim} version {last.version} the stream's hash differs")
    assert "checkpoint #1 of 640000" in rewritten and "held by 510000" in rewritten
    assert "640000 signed 2 different checkpoints numbered #1" in err
    assert "intact 510000/marriage" in out


def test_a_forged_checkpoint_is_refused_and_kept_as_evidence(tmp_path: Path) -> None:
    dataset(tmp_path, regions=("640000", "510000"), services=("marriage",), cases_per_store=1)
    exchange_public_keys(tmp_path, ["640000", "510000"])
    marriage = _open(tmp_path, "640000", "marriage")
    genuine_audit = _open(tmp_path, "640000", "audit")
    forger = EventStore.open(sqlite_url(tmp_path / "forger.db"), region="640000", service="audit")
    holder = _open(tmp_path, "510000", "audit")

    genuine = issue_checkpoint(genuine_audit, {"marriage": marriage}, load_region_key(tmp_path, "640000"))
    unknown_key = issue_checkpoint(forger, {"marriage": marriage}, RegionKey.generate("640000"))
    altered = checkpoints_pb2.CheckpointIssued.FromString(genuine.payload)
    altered.signed.checkpoint = altered.signed.checkpoint.replace(b"marriage", b"marriagf")
    [bad_signature] = forger.append(issued_stream("640000") + "-x", STREAM_TYPE, None, [NewEvent.from_message(
        altered, event_id=str(uuid.uuid4()), actor=Actor.system("640000", "checkpoint"),
        correlation_id="c", occurred_at=forger.clock.now())])

    keyring = trusted_keyring(tmp_path, "510000")

    def keep(tx: StoreTransaction, event: RecordedEvent) -> None:
        keep_checkpoint(tx, event, keyring=keyring)

    for event in (unknown_key, bad_signature, genuine):
        assert consume(holder, KEEPER, event.to_bytes(), None, keep)
    assert not consume(holder, KEEPER, genuine.to_bytes(), None, keep), "kept once"

    [kept] = held_checkpoints(holder)
    assert (kept.issuer, kept.own, kept.checkpoint.sequence) == ("640000", False, 1)
    assert kept.signed == checkpoints_pb2.CheckpointIssued.FromString(genuine.payload).signed
    rejected = [e for e in holder.read_stream(held_stream("640000")) if e.type == REJECTED_TYPE]
    reasons = [checkpoints_pb2.CheckpointRejected.FromString(e.payload).reason for e in rejected]
    assert len(reasons) == 2
    assert "is not a trusted key of region 640000" in reasons[0]
    assert "the signature does not verify" in reasons[1]
    for store in (marriage, genuine_audit, forger, holder):
        store.close()


def test_a_deleted_store_is_caught_by_the_checkpoints_that_named_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Deleting a region's whole relief store leaves no seam in any chain; the checkpoint
    Sichuan keeps still names it."""
    dataset(tmp_path, regions=("640000", "510000"), services=("marriage", "relief"), cases_per_store=1)
    exchange_public_keys(tmp_path, ["640000", "510000"])
    stores = {s: _open(tmp_path, "640000", s) for s in ("marriage", "relief")}
    audit, holder = _open(tmp_path, "640000", "audit"), _open(tmp_path, "510000", "audit")
    issued = issue_checkpoint(audit, stores, load_region_key(tmp_path, "640000"))
    keyring = trusted_keyring(tmp_path, "510000")
    consume(holder, KEEPER, issued.to_bytes(), None, lambda tx, e: keep_checkpoint(tx, e, keyring=keyring))
    for store in (*stores.values(), audit, holder):
        store.close()
    code, _, err = run(capsys, "verify", "--data", tmp_path)
    assert code == 0, err

    for side in store_path(tmp_path, "640000", "relief").parent.glob("relief.db*"):
        side.unlink()
    code, _, err = run(capsys, "verify", "--data", tmp_path)
    assert code == 1
    assert "640000/relief a checkpoint names this store but it is not among the stores audited" in err


@pytest.mark.kafka
def test_a_checkpoint_envelope_its_region_did_not_sign_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], kafka_broker: Any, kafka_topic_prefix: str) -> None:
    """Invariant 8 on the checkpoint topic: an envelope claiming to be 640000's audit event but not
    signed by 640000's relay is not kept; each holder records it as a rejected message."""
    data = tmp_path / "data"
    dataset(data, regions=("640000", "510000"), services=("marriage",), cases_per_store=1)
    run(capsys, "keys", "--data", data)
    topic = f"{kafka_topic_prefix}.checkpoints"
    forger = EventStore.open(sqlite_url(tmp_path / "forger-audit.db"), region="640000", service="audit")
    marriage = _open(data, "640000", "marriage")
    issue_checkpoint(forger, {"marriage": marriage}, RegionKey.generate("640000"))
    ensure_topics(kafka_broker.bootstrap, [topic])
    producer = kafka_producer(kafka_broker.bootstrap)
    publish_checkpoints(forger, producer, topic)  # no key: unsigned, as anyone with topic access could
    producer.close(timeout=10)
    forger.close()
    marriage.close()
    code, out, err = run(capsys, "checkpoint", "--data", data, "--kafka", kafka_broker.bootstrap, "--no-issue",
                         "--checkpoint-topic", topic, "--idle", "1")
    assert code == 0, err
    assert "510000: kept 0 new checkpoint(s) of other regions, REJECTED 1" in out
    holder = _open(data, "510000", "audit")
    try:
        [rejected] = rejected_messages(holder)
    finally:
        holder.close()
    assert (rejected.claimed_region, rejected.consumer) == ("640000", KEEPER)
    assert "unsigned" in rejected.reason
