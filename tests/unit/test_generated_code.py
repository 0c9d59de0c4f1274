"""The checked-in protobuf modules are exactly what scripts/gen_protos.py produces."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tree(base: Path) -> dict[str, str]:
    return {p.relative_to(base).as_posix(): p.read_text() for p in sorted(base.rglob("*.py*")) if p.is_file()}


def test_regenerating_the_protobuf_code_changes_nothing(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)], check=True)
    fresh = _tree(tmp_path / "tongban")
    checked_in = {k: v for k, v in _tree(ROOT / "tongban").items() if "__pycache__" not in k}
    assert sorted(fresh) == sorted(checked_in), "run: python scripts/gen_protos.py"
    stale = [name for name in fresh if fresh[name] != checked_in[name]]
    assert not stale, f"stale generated modules {stale}: run python scripts/gen_protos.py"


def test_every_proto_has_a_generated_module() -> None:
    protos = {p.relative_to(ROOT / "proto").with_suffix("").as_posix() for p in (ROOT / "proto").rglob("*.proto")}
    modules = {p.relative_to(ROOT).as_posix().removesuffix("_pb2.py") for p in (ROOT / "tongban").rglob("*_pb2.py")}
    assert protos == modules
