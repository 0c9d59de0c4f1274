"""`tongban marriage rebuild` and `tongban marriage case`, through their argument parsers, against a
real store and a real gRPC server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from services.common.clock import FakeClock
from services.common.grpc_context import create_server
from services.common.store import EventStore, sqlite_url
from services.host import Infrastructure
from services.marriage.bootstrap import bootstrap
from services.marriage.entrypoints.cli import add_commands
from services.marriage.projections.read_models import marriage_cases, snapshot
from tests.fixtures.stores import COMPONENT_TABLES
from tests.fixtures.trust import authenticator, token_for
from tests.unit.marriage.people import NINGXIA, clerk, couple
from tests.unit.marriage.test_application import register_married


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tongban")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def test_rebuild_and_case_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "marriage.db"
    store = EventStore.open(sqlite_url(path), region=NINGXIA, service="marriage", clock=FakeClock(),
                            tables=COMPONENT_TABLES)
    service = bootstrap(Infrastructure.over(store))
    case_id = register_married(service, couple())
    live = snapshot(store)
    with store.engine.begin() as conn:
        conn.execute(marriage_cases.delete())  # a lost read model
    assert _run(["marriage", "rebuild", "--db", str(path), "--region", NINGXIA]) == 0
    assert "rebuilt 1 cases and 2 person statuses" in capsys.readouterr().out
    assert snapshot(store) == live

    server, port = create_server("127.0.0.1:0", servicers=[service.servicer], authenticator=authenticator(NINGXIA))
    server.start()
    try:
        token_file = tmp_path / "c-07.jwt"
        token_file.write_text(token_for(clerk(clerk_id="c-07")))
        clerk_token = ["--token-file", str(token_file)]
        assert _run(["marriage", "case", f"127.0.0.1:{port}", case_id, *clerk_token]) == 0
        shown = json.loads(capsys.readouterr().out)
        assert shown["state"] == "registered" and len(shown["history"]) == 4
        assert _run(["marriage", "case", f"127.0.0.1:{port}", "marriage-640000-none", *clerk_token]) == 1
        assert json.loads(capsys.readouterr().err)["code"] == "NOT_FOUND"
    finally:
        server.stop(grace=None)
        store.close()
