"""`tongban bench payments` at a tiny size: it runs and writes the benchmarks' JSON format. Only
the shape is checked, never a speed (a busy 2-core CI machine says nothing about a regression)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from services.cli import build_parser


def test_bench_payments_writes_json_in_the_benchmarks_format(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    args = build_parser().parse_args(["bench", "payments", "--entitlements", "300", "--chunk", "100",
                                      "--json", str(out)])
    assert args.func(args) == 0
    entries = json.loads(out.read_text(encoding="utf-8"))
    assert [(e["name"], e["unit"], e["backend"]) for e in entries] == [
        ("payment_run", "entitlements/s", "sqlite"), ("payment_export", "lines/s", "sqlite")]
    assert all(set(e) == {"name", "value", "unit", "backend"} for e in entries)
    assert all(math.isfinite(e["value"]) and e["value"] > 0 for e in entries)
    table, progress = capsys.readouterr()
    assert "payment_run" in table and "[payments] payment_run: 300 entitlements" in progress
