"""`tongban bench decisions` drives the host's decision path on a real store and checks its result:
every registration it decided ended registered (else it fails instead of printing a number)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main


def test_bench_decisions_registers_every_couple_and_reports_each_phase(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "decisions.json"
    assert main(["bench", "decisions", "--registrations", "12", "--json", str(out)]) == 0
    measures = {m["name"]: m for m in json.loads(out.read_text())}
    assert set(measures) == {"decisions_granted", "decisions_confirmed", "decisions_duplicates",
                             "decisions_per_registration"}
    assert all(m["unit"] == "ms" and m["backend"] == "sqlite" and m["value"] > 0 for m in measures.values())
    assert "all cases registered" in capsys.readouterr().out
