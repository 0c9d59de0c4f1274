"""`tongban bench consumers` end to end at a tiny size: a broker, both readers in processes of their
own, all started and stopped by the bench. Only the shape of the output and the bookkeeping are
checked, never a speed: each reader must have been handed every message (the bench fails otherwise)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.cli import main
from services.common.bench_consumers import READERS

pytestmark = pytest.mark.slow

KEYS = {"name", "value", "unit", "backend"}


def test_bench_consumers_reports_each_readers_cpu_per_message(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "consumers.json"
    assert main(["bench", "consumers", "--messages", "300", "--rounds", "1", "--json", str(out)]) == 0

    entries = json.loads(out.read_text(encoding="utf-8"))
    for entry in entries:
        assert set(entry) == KEYS, entry
        assert isinstance(entry["value"], int | float) and math.isfinite(entry["value"]), entry
    found = {e["name"]: e for e in entries}
    for reader in READERS:
        assert found[f"consumer_{reader}_cpu_per_message"]["unit"] == "us"
        assert found[f"consumer_{reader}_cpu_per_message"]["value"] > 0
    assert found["consumer_host_vs_aiokafka"]["unit"] == "x"
    printed = capsys.readouterr().out
    assert all(f"\n{reader} " in printed for reader in READERS), printed


def test_bench_consumers_refuses_an_empty_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "consumers", "--messages", "0"]) == 2
    assert "--messages and --rounds must be ≥ 1" in capsys.readouterr().err
