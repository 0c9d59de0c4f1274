"""The registry worker's store taking a fetched batch of inputs in one transaction (issue 15): the
inputs are decided one after another against what the batch staged before them, committed
together or not at all, and a worker that lost a person still cannot overwrite its record
(architecture invariant 5: a single writer per person). Real SQLite files."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from services.common.registry.domain import ClaimKind, decide, next_due, record_from_json, record_to_json
from services.common.registry.worker.person_store import Effect, PersonStore, StaleRecord
from tests.unit.test_registry_domain import NINGXIA, PERSON, SICHUAN, TTL, claim

TOPIC = "tongban.registry.claims.v1"
WAIT = timedelta(seconds=10)
OTHER = "640104198001010012"


def _decided(store: PersonStore, person: str, message: object, offset: int) -> Effect:
    """Decide `message` against what the store (with the batch staged so far) holds, and stage it."""
    read = store.get(person)
    result = decide(None if read is None else record_from_json(read.record), message,  # type: ignore[arg-type]
                    claim_ttl=TTL, release_wait=WAIT)
    effect = Effect(TOPIC, 0, offset + 1, citizen_id=person, record=record_to_json(result.record), read=read,
                    due=next_due(result.record))
    store.stage(effect)
    return effect


def test_a_request_and_its_confirmation_in_one_batch_are_decided_in_order_and_committed_together(
        tmp_path: Path) -> None:
    """OneHolderPerPersonAndKind (民法典 第1042条): the confirmation is decided against the grant
    staged before it in the same batch, and both reach the store in one transaction with the
    partition's position after them; nothing of the batch is durable before the flush."""
    store = PersonStore.in_directory(tmp_path)
    store.load([PERSON, OTHER])
    _decided(store, PERSON, claim("request", "c1", NINGXIA), 0)
    _decided(store, OTHER, replace(claim("request", "c2", SICHUAN), citizen_id=OTHER), 1)
    _decided(store, PERSON, claim("confirm", "c1", NINGXIA), 2)
    staged = store.get(PERSON)
    assert staged is not None and staged.version == 2
    assert store.position(TOPIC, 0) == 3
    before = PersonStore.in_directory(tmp_path)
    assert before.get(PERSON) is None and before.position(TOPIC, 0) is None

    store.flush()

    again = PersonStore.in_directory(tmp_path)
    held = again.get(PERSON)
    assert held is not None and held.version == 2
    hold = record_from_json(held.record).holds[ClaimKind.LIVE_MARRIAGE]
    assert hold.holder == NINGXIA and hold.confirmed
    other = again.get(OTHER)
    assert other is not None and record_from_json(other.record).holder(ClaimKind.LIVE_MARRIAGE) == SICHUAN
    assert again.position(TOPIC, 0) == 3


def test_a_batch_with_one_record_another_worker_changed_commits_nothing(tmp_path: Path) -> None:
    """A zombie worker's batch (its partitions reassigned) is refused as a whole: the new owner's
    record stands, and neither the batch's other persons nor its position are written."""
    zombie = PersonStore.in_directory(tmp_path)
    zombie.commit(TOPIC, 0, next_offset=1, citizen_id=PERSON, record=record_to_json(
        decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record), read=None)
    zombie.load([PERSON, OTHER])
    owner = PersonStore.in_directory(tmp_path)
    _decided(owner, PERSON, claim("confirm", "c1", NINGXIA), 1)
    owner.flush()

    _decided(zombie, OTHER, replace(claim("request", "c2", SICHUAN), citizen_id=OTHER), 1)
    _decided(zombie, PERSON, claim("release", "c1", NINGXIA), 2)
    with pytest.raises(StaleRecord):
        zombie.flush()

    after = PersonStore.in_directory(tmp_path)
    held = after.get(PERSON)
    assert held is not None and held.version == 2 and record_from_json(held.record).holds[
        ClaimKind.LIVE_MARRIAGE].confirmed
    assert after.get(OTHER) is None
    assert after.position(TOPIC, 0) == 2  # the owner's, not the zombie's 3


def test_a_person_read_as_unknown_whose_record_another_worker_wrote_is_not_overwritten(tmp_path: Path) -> None:
    """A worker remembers who has no record yet; if another worker recorded the person meanwhile,
    its insert is refused (StaleRecord) rather than replacing that grant."""
    late = PersonStore.in_directory(tmp_path)
    late.load([PERSON])
    first = PersonStore.in_directory(tmp_path)
    _decided(first, PERSON, claim("request", "c1", NINGXIA), 0)
    first.flush()

    _decided(late, PERSON, claim("request", "c9", SICHUAN), 0)
    with pytest.raises(StaleRecord):
        late.flush()
    stored = PersonStore.in_directory(tmp_path).get(PERSON)
    assert stored is not None and record_from_json(stored.record).holder(ClaimKind.LIVE_MARRIAGE) == NINGXIA
