"""The registry worker's person store as the stack prepares it (architecture invariants 1 and 5;
issue 11): a lost broker costs the claims-topic positions, never the persons. Real SQLite files.
The store's own contract, on SQLite and PostgreSQL: tests/integration/test_registry_person_store_contract.py."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.common.registry.domain import decide, record_to_json
from services.common.registry.worker.person_store import PersonStore
from services.stack.registry_store import prepare_registry_store, store_url
from tests.unit.test_registry_domain import NINGXIA, PERSON, T0, TTL, claim

TOPIC = "tongban.registry.claims.v1"
WAIT = timedelta(seconds=10)


def _granted() -> dict[str, object]:
    return record_to_json(decide(None, claim("request", "c1", NINGXIA), claim_ttl=TTL, release_wait=WAIT).record)


GRANTED_DUE = T0 + TTL


def test_a_fresh_local_broker_makes_the_stack_forget_the_old_claims_topic_positions_only(tmp_path: Path) -> None:
    """The local broker is memory-only: its claims topic starts again at offset 0, so the worker's
    positions in the old one go; the persons stay (nobody held is freed by a broker restart)."""
    (tmp_path / "registry").mkdir()
    store = PersonStore(store_url(tmp_path))
    store.commit(TOPIC, 1, next_offset=99, citizen_id=PERSON, record=_granted(), read=None, due=GRANTED_DUE)
    store.close()
    assert prepare_registry_store(tmp_path, fresh_broker=False) == 0
    assert PersonStore(store_url(tmp_path)).position(TOPIC, 1) == 99
    prepare_registry_store(tmp_path, fresh_broker=True)
    after = PersonStore(store_url(tmp_path))
    assert after.position(TOPIC, 1) is None
    assert after.get(PERSON) is not None
