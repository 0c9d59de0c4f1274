"""`tongban bench store` end to end at a tiny size: it runs, prints, and writes well-formed JSON.

Only the shape of the output is checked, never a speed: timings on a shared 2-core CI machine say
nothing about a regression, and a benchmark that fails when the machine is busy is worse than none."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from infra.brokers import Broker
from services.cli import main
from services.common.bench import BenchSizes, parse_backends, sizes_for

TINY_STREAMS = 50
KEYS = {"name", "value", "unit", "backend"}


def run_bench(tmp_path: Path, *extra: str) -> list[dict[str, Any]]:
    out = tmp_path / "bench.json"
    code = main(["bench", "store", "--streams", str(TINY_STREAMS), "--json", str(out), *extra])
    assert code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(data, list)
    return data


def check_entries(entries: list[dict[str, Any]], backends: set[str]) -> None:
    names = BenchSizes.from_streams(TINY_STREAMS).measure_names()
    for entry in entries:
        assert isinstance(entry, dict)
        assert set(entry) == KEYS, entry
        assert isinstance(entry["value"], int | float) and not isinstance(entry["value"], bool)
        assert math.isfinite(entry["value"]) and entry["value"] > 0, entry
        assert entry["unit"] in {"appends/s", "events/s", "ms", "×"}, entry
    # Exactly one entry per measure per backend: no duplicates, nothing missing. With SQLite, the
    # same run measures single appends with raw sqlite3 and the eventsourcing library (dev extras).
    # Batched appends likewise, and the replay against the library's and raw sqlite3's reads.
    pairs = [(e["name"], e["backend"]) for e in entries]
    baselines = ([(n, b) for n in ("append_single", "append_batch", "replay_read")
                  for b in ("raw-sqlite3", "eventsourcing")] if "sqlite" in backends else [])
    if "sqlite" in backends:  # and Tongban's rates as multiples of theirs, same run
        baselines += [(n, "sqlite") for n in ("append_single_vs_eventsourcing", "append_batch_vs_raw",
                                              "append_batch_vs_eventsourcing", "replay_verify_vs_eventsourcing_read",
                                              "replay_verify_vs_raw_read")]
    if "postgres" in backends and shutil.which("pgbench"):  # pgbench on the same server, same run
        baselines += [("append_single", "pgbench"), ("append_32_ungrouped", "pgbench")]
    assert sorted(pairs) == sorted([*((n, b) for n in names for b in backends), *baselines])


@pytest.fixture
def bench_broker(kafka_broker: Broker, monkeypatch: pytest.MonkeyPatch) -> Broker:
    # Point the benchmark at the session's broker instead of letting it start its own.
    monkeypatch.setenv("TONGBAN_KAFKA", kafka_broker.bootstrap)
    return kafka_broker


@pytest.mark.kafka
def test_bench_store_sqlite_writes_json(tmp_path: Path, bench_broker: Broker,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    entries = run_bench(tmp_path, "--backends", "sqlite")
    check_entries(entries, {"sqlite"})
    out, err = capsys.readouterr()
    assert "append_single" in out and "sqlite" in out  # the table
    assert "[sqlite] relay_publish:" in err  # a progress line per measure
    assert "stream_load_50" in out  # named after the stream really loaded, not the default 1,000
    assert "raw-sqlite3" in out and "eventsourcing" in out  # baseline columns in the same table


@pytest.mark.kafka
@pytest.mark.postgres
def test_bench_store_sqlite_and_postgres(tmp_path: Path, bench_broker: Broker, postgres_url: str) -> None:
    entries = run_bench(tmp_path, "--backends", "sqlite,postgres", "--pg-url", postgres_url)
    check_entries(entries, {"sqlite", "postgres"})


def test_unknown_backend_is_refused_before_anything_starts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "store", "--backends", "sqlite,mysql"]) == 2
    assert "mysql" in capsys.readouterr().err


def test_sizes_derive_from_streams() -> None:
    default = sizes_for(10_000, quick=False)
    # append_batch writes ten times append_single's events, for a rate that holds still
    assert (default.single_streams, default.batch_size, default.batches) == (10_000, 100, 1_000)
    assert default.load_measure == "stream_load_1000"
    assert sizes_for(10_000, quick=True).single_streams == 1_000
    assert sizes_for(200, quick=True).single_streams == 200  # --quick never enlarges an explicit size
    tiny = sizes_for(TINY_STREAMS, quick=False)
    assert (tiny.batch_size, tiny.batches, tiny.load_events) == (50, 10, 50)
    with pytest.raises(ValueError):
        sizes_for(0, quick=False)
    assert parse_backends(" Postgres, sqlite,postgres ") == ["postgres", "sqlite"]


def test_growth_measures_fill_a_real_store_and_are_named_after_its_size(tmp_path: Path) -> None:
    """`--growth` at a tiny size: the filled store verifies, and each measure names the size the
    store really had when it was taken (never a speed)."""
    from services.common.bench_events import STREAM_TYPE, new_event
    from services.common.bench_growth import growth_measures
    from services.common.store import EventStore, sqlite_url, verify_store

    store = EventStore.open(sqlite_url(tmp_path / "growth.db"), region="640000", service="bench")
    try:
        found = growth_measures([store], "t", [2_000], new_event, STREAM_TYPE, lambda _: None, long_stream=40)
        assert [(name, unit) for name, _, unit in found] == [("stream_load_40", "ms"),
                                                            ("append_single_at_2k", "appends/s")]
        assert all(value > 0 for _, value, _ in found)
        report = verify_store(store)
        assert report.ok, report.problem
        assert report.events_checked == 2_000 + 200  # filled to 2,000, then 200 measured appends
    finally:
        store.close()


def test_growth_with_a_store_per_size_measures_them_in_turn_and_compares(tmp_path: Path) -> None:
    """`--growth-million` shape at a tiny size: each store filled to its own size, both measured
    with the same count of appends, and the larger one's rate given as a multiple of the smaller's."""
    from services.common.bench_events import STREAM_TYPE, new_event
    from services.common.bench_growth import growth_measures
    from services.common.store import EventStore, sqlite_url, verify_store

    stores = [EventStore.open(sqlite_url(tmp_path / f"growth{k}.db"), region="640000", service="bench")
              for k in range(2)]
    try:
        found = growth_measures(stores, "t", [1_000, 3_000], new_event, STREAM_TYPE, lambda _: None,
                                long_stream=40)
        assert [(name, unit) for name, _, unit in found] == [
            ("stream_load_40", "ms"), ("append_single_at_1k", "appends/s"), ("append_single_at_3k", "appends/s"),
            ("append_single_3k_vs_1k", "×")]
        assert found[3][1] == pytest.approx(found[2][1] / found[1][1])
        assert [verify_store(s).events_checked for s in stores] == [1_000 + 100, 3_000 + 100]
        assert all(verify_store(s).ok for s in stores)
    finally:
        for store in stores:
            store.close()
