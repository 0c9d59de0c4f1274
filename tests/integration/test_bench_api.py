"""`tongban bench api` end to end at a tiny size, against a real stack (broker, registry worker,
the marriage service of one region) that the bench starts and stops itself.

Only the shape of the output and the bookkeeping are checked, never a speed: every registration the
bench says it sent is in the region's event store, once (invariant 1: the store is the truth; a
benchmark whose commands were not recorded measured nothing)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.cli import main
from services.common.store import EventStore, sqlite_url
from services.marriage.domain.marriage import STREAM_TYPE as MARRIAGE

pytestmark = pytest.mark.slow

KEYS = {"name", "value", "unit", "backend"}
CLIENTS = 3


def test_bench_api_reports_every_measure_and_every_registration_it_sent_is_in_the_store(tmp_path: Path) -> None:
    out, data = tmp_path / "api.json", tmp_path / "stack"
    code = main(["bench", "api", "--data", str(data), "--clients", str(CLIENTS), "--seconds", "0.5",
                 "--single", "3", "--round-trips", "1", "--json", str(out)])
    assert code == 0

    entries = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(entries, list)
    for entry in entries:
        assert set(entry) == KEYS, entry
        assert isinstance(entry["value"], int | float) and math.isfinite(entry["value"]), entry
        assert entry["backend"] == "sqlite"
    found = {e["name"]: e for e in entries}
    for phase in (f"check_{CLIENTS}", f"register_marriage_{CLIENTS}", "register_marriage_1"):
        assert found[f"{phase}_rate"]["value"] > 0
        assert {found[f"{phase}_{p}"]["unit"] for p in ("p50", "p90", "p99")} == {"ms"}
        assert found[f"{phase}_p50"]["value"] <= found[f"{phase}_p90"]["value"] <= found[f"{phase}_p99"]["value"]
    for name in ("register_marriage_1_mean", "registry_round_trip_p50", "registry_round_trip_p99",
                 "registry_round_trip_first"):
        assert found[name]["unit"] == "ms" and found[name]["value"] > 0
    # Taken in and decided: never more than taken in.
    sustained = found[f"register_marriage_{CLIENTS}_sustained_rate"]
    assert 0 < sustained["value"] <= found[f"register_marriage_{CLIENTS}_rate"]["value"]
    assert found[f"register_marriage_{CLIENTS}_drain"]["unit"] == "s"
    assert found[f"register_vs_check_{CLIENTS}"]["unit"] == "%"
    # The burst's cost, taken in and decided: both the service and the registry worker did work on it.
    for part in ("service", "registry"):
        assert found[f"register_marriage_{CLIENTS}_decided_{part}_cpu"]["unit"] == "ms"
        assert found[f"register_marriage_{CLIENTS}_decided_{part}_cpu"]["value"] > 0
    # ... and what that is in Checks: the service's CPU a registration over its CPU a Check.
    check_ms = found[f"check_{CLIENTS}_server_cpu_per_call"]["value"]
    cost = found[f"register_cost_vs_check_{CLIENTS}"]
    assert cost["unit"] == "x"
    assert cost["value"] == pytest.approx(found[f"register_marriage_{CLIENTS}_decided_service_cpu"]["value"] / check_ms,
                                          abs=0.06)  # the JSON keeps one decimal of it

    sent = found["registrations_answered"]["value"]
    assert sent == found["registrations_recorded"]["value"] and sent > 0
    # Counted in the store itself, not through the service: one new marriage stream per command.
    store = EventStore.open(sqlite_url(data / "640000" / "marriage.db"), region="640000", service="marriage",
                            create=False)
    try:
        opened = [e.stream_id for e in store.iter_log()
                  if e.version == 1 and e.stream_type == MARRIAGE and e.actor.clerk_id == "bench-api"]
    finally:
        store.close()
    assert len(opened) == len(set(opened)) == sent
