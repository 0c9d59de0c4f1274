"""The contracts in proto/ keep buf's STANDARD conventions and stay compatible with the last
release (proto/released/README.md), as configured in buf.yaml.

buf comes from package.json and ./dev setup installs it, so a missing buf fails these tests
instead of skipping them: a run that did not check the contracts must not pass."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
RELEASED = ROOT / "proto" / "released" / "tongban-v1.binpb"


def buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert BUF.exists(), f"{BUF} is missing: ./dev setup installs it (npm ci)"
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def findings(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n{result.stdout}{result.stderr}"


def test_the_contracts_pass_buf_lint() -> None:
    result = buf("lint")
    assert result.returncode == 0, f"buf lint:\n{findings(result)}"


def test_the_contracts_are_compatible_with_the_last_release() -> None:
    result = buf("breaking", "proto", "--against", str(RELEASED))
    assert result.returncode == 0, f"breaking changes against {RELEASED.name}:\n{findings(result)}"


# Each edit would make stored events or released clients misread: the check must say so.
BREAKING_EDITS = {
    "a stored event's field renumbered": (
        "tongban/common/v1/envelope.proto", "string stream_id = 2;", "string stream_id = 22;",
        'field "2" with name "stream_id" on message "EventEnvelope" was deleted'),
    "a stored event's field removed": (
        "tongban/marriage/v1/events.proto", "string certificate_number = 1;  // 结婚证字号, unique per office", "",
        'field "1" with name "certificate_number" on message "MarriageRegistered" was deleted'),
    "an enum value renamed": (
        "tongban/registry/v1/registry.proto", "CLAIM_KIND_DIBAO = 2;", "CLAIM_KIND_LOW_INCOME = 2;",
        'Enum value "2" on enum "ClaimKind" changed name from "CLAIM_KIND_DIBAO" to "CLAIM_KIND_LOW_INCOME"'),
}


@pytest.mark.parametrize(("path", "old", "new", "reported"), BREAKING_EDITS.values(), ids=BREAKING_EDITS.keys())
def test_the_breaking_check_reports_an_incompatible_edit(
        tmp_path: Path, path: str, old: str, new: str, reported: str) -> None:
    shutil.copytree(ROOT / "proto", tmp_path / "proto", ignore=shutil.ignore_patterns("released"))
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    edited = tmp_path / "proto" / path
    text = edited.read_text()
    assert text.count(old) == 1, f"{path} no longer has {old!r}: pick another edit"
    edited.write_text(text.replace(old, new))

    result = buf("breaking", "proto", "--against", str(RELEASED), cwd=tmp_path)

    assert result.returncode != 0, f"buf breaking passed an incompatible edit:\n{findings(result)}"
    assert reported in result.stdout, findings(result)
