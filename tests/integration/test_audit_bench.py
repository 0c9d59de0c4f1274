"""`tongban bench audit` at a tiny size: it runs and writes the store benchmark's JSON format.
Only the shape is checked, never a speed (a busy 2-core CI machine says nothing about a regression)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from services.common.audit.cli import add_audit_bench_parser


def test_bench_audit_writes_json_in_the_store_benchmark_format(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="tongban")
    bench = parser.add_subparsers(dest="command").add_parser("bench").add_subparsers(dest="bench_command")
    add_audit_bench_parser(bench)  # exactly as services/cli.py wires it
    out = tmp_path / "bench.json"
    args = parser.parse_args(["bench", "audit", "--events", "300", "--json", str(out)])
    assert args.func(args) == 0
    entries = json.loads(out.read_text(encoding="utf-8"))
    assert [(e["name"], e["unit"], e["backend"]) for e in entries] == [
        ("audit_verify", "events/s", "sqlite"), ("audit_replay", "events/s", "sqlite"), ("audit_case", "ms", "sqlite")]
    assert all(set(e) == {"name", "value", "unit", "backend"} for e in entries)
    assert all(math.isfinite(e["value"]) and e["value"] > 0 for e in entries)
    table, progress = capsys.readouterr()
    assert "audit_verify" in table and "[audit] audit_replay:" in progress
