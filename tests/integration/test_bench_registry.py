"""`tongban bench registry` end to end at a tiny size: a broker, the registry worker as a
subprocess and one region's store and relay, all started and stopped by the bench.

Only the shape of the output and the bookkeeping are checked, never a speed: every claim the bench
made is held, confirmed, by its own person in the worker's store (invariant 5: one writer per
person; a benchmark whose inputs were not decided measured nothing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.cli import main
from services.common.bench_registry import SINGLE_CLAIMS
from services.common.registry.domain import ClaimKind, record_from_json
from services.common.registry.worker.person_store import STORE_FILE, PersonStore
from services.common.store import sqlite_url

pytestmark = pytest.mark.slow

KEYS = {"name", "value", "unit", "backend"}
CLAIMS = 12


def test_bench_registry_reports_its_bursts_and_every_claim_it_made_is_held_and_confirmed(tmp_path: Path) -> None:
    out, data = tmp_path / "registry.json", tmp_path / "work"
    assert main(["bench", "registry", "--claims", str(CLAIMS), "--data", str(data), "--json", str(out)]) == 0

    entries = json.loads(out.read_text(encoding="utf-8"))
    for entry in entries:
        assert set(entry) == KEYS, entry
        assert isinstance(entry["value"], int | float) and math.isfinite(entry["value"]), entry
    found = {e["name"]: e for e in entries}
    for burst in ("requests", "confirms"):
        assert found[f"registry_{burst}_rate"]["unit"] == "inputs/s"
        assert found[f"registry_{burst}_rate"]["value"] > 0
    assert 0 < found["registry_single_claim_p50"]["value"] <= found["registry_single_claim_max"]["value"]

    # OneHolderPerPersonAndKind (民法典 第1042条): each person claimed once, so each holds exactly
    # the one claim the bench made, confirmed.
    store = PersonStore(sqlite_url(data / "registry" / STORE_FILE))
    try:
        persons = {citizen: store.get(citizen) for citizen in _citizens(store)}
    finally:
        store.close()
    assert len(persons) == CLAIMS + SINGLE_CLAIMS + 1  # the burst, the single claims, the warm-up
    for stored in persons.values():
        assert stored is not None
        hold = record_from_json(stored.record).holds[ClaimKind.LIVE_MARRIAGE]
        assert hold.confirmed and len(hold.claim_keys) == 1


def _citizens(store: PersonStore) -> list[str]:
    from sqlalchemy import select

    from services.common.registry.worker.person_store import persons

    with store.engine.connect() as conn:
        return [row.citizen_id for row in conn.execute(select(persons.c.citizen_id))]
