"""The `tongban` command as a user runs it: helpful --help everywhere, clear errors, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from services.cli import DELEGATED, build_parser
from services.common.store import EventStore, sqlite_url
from tests.fixtures.trust import authenticator
from tests.support import new_event


def tongban(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, timeout=60)


def _subcommand_paths(parser=None, prefix=()):  # type: ignore[no-untyped-def]
    import argparse

    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommand_paths(sub, (*prefix, name))


@pytest.mark.parametrize("path", list(_subcommand_paths()), ids=" ".join)
def test_every_subcommand_has_a_help_that_teaches(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    # The parser `tongban` runs, asked in-process: a hundred interpreters started only to print help
    # would cost the suite minutes. Commands whose arguments belong to another module's parser
    # (DELEGATED) are asked as a process, as is the entry point itself below.
    if path[0] in DELEGATED:
        result = tongban(*path, "--help")
        assert result.returncode == 0, result.stderr
        shown = result.stdout
    else:
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args([*path, "--help"])
        assert exited.value.code == 0
        shown = capsys.readouterr().out
    assert "usage: tongban" in shown
    assert len(shown.splitlines()) > 3


def test_the_tongban_command_answers_help_as_a_process() -> None:
    result = tongban("audit", "verify", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: tongban audit verify" in result.stdout


def test_store_verify_reports_intact_and_broken_stores(tmp_path: Path) -> None:
    db = tmp_path / "marriage.db"
    store = EventStore.open(sqlite_url(db), region="640000", service="marriage")
    for i in range(3):
        store.append("case-1", "t", i, [new_event(f"e{i}")])
    ok = tongban("store", "verify", "--db", str(db))
    assert ok.returncode == 0 and "intact: 3 events in 1 streams" in ok.stdout
    with store.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER events_no_update"))
        conn.execute(text("UPDATE events SET payload = :p WHERE position = 2"), {"p": b"\x0a\x01x"})
    store.close()
    broken = tongban("store", "verify", "--db", str(db))
    assert broken.returncode == 1
    assert "position 2, stream case-1 version 2" in broken.stderr and "content altered" in broken.stderr


def test_store_verify_names_a_missing_store(tmp_path: Path) -> None:
    result = tongban("store", "verify", "--db", str(tmp_path / "nope.db"))
    assert result.returncode == 2 and "no store at" in result.stderr
    assert not (tmp_path / "nope.db").exists(), "verifying must not create a store"


def test_health_answers_serving_for_a_running_server_and_fails_for_none() -> None:
    from infra.postgres import free_port
    from services.common.grpc_context import create_server

    server, port = create_server("127.0.0.1:0", authenticator=authenticator("640000"))
    server.start()
    try:
        up = tongban("health", f"127.0.0.1:{port}")
        assert up.returncode == 0 and "SERVING" in up.stdout
    finally:
        server.stop(grace=None)
    down = tongban("health", f"127.0.0.1:{free_port()}", "--timeout", "1")
    assert down.returncode == 1 and "UNAVAILABLE" in down.stderr
