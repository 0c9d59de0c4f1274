"""`tongban audit verify` over every store of a multi-region data directory (invariant 3):
a changed payload byte, a deleted event, two swapped events and a consistently rewritten stream
are each named with their store, position, stream and version; the other stores stay intact."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from services.common.audit.datadir import store_path
from services.common.audit.sample import populate
from services.common.store import EventStore, sqlite_url
from services.common.store.engine import create_store_engine
from tests.integration.test_audit_helpers import dataset, drop_triggers, read_all, rewrite_consistently, run
from tests.support import new_event

ROOT = Path(__file__).resolve().parents[2]
VICTIM = ("510000", "disability")


def _victim_url(data: Path) -> str:
    return sqlite_url(store_path(data, *VICTIM))


def _sql(url: str, *statements: str) -> None:
    drop_triggers(url)
    engine = create_store_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
    engine.dispose()


def _second_case(url: str) -> list:
    log = read_all(url)
    streams = list(dict.fromkeys(e.stream_id for e in log if e.stream_type == "sample.Case"))
    return [e for e in log if e.stream_id == streams[1]]


def change_a_payload_byte(url: str) -> tuple[int, str, int, str]:
    victim = _second_case(url)[1]
    tampered = bytearray(victim.payload)
    tampered[-1] ^= 0x01
    engine = create_store_engine(url)
    drop_triggers(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET payload = :p WHERE position = :pos"),
                     {"p": bytes(tampered), "pos": victim.position})
    engine.dispose()
    return victim.position, victim.stream_id, victim.version, "content altered"


def delete_an_event(url: str) -> tuple[int, str, int, str]:
    gone = _second_case(url)[1]
    _sql(url, f"DELETE FROM events WHERE position = {gone.position}")
    following = next(e for e in read_all(url) if e.position > gone.position)
    return (following.position, following.stream_id, following.version,
            f"positions {gone.position}..{gone.position} are missing")


def swap_two_events(url: str) -> tuple[int, str, int, str]:
    first, _, third = _second_case(url)[:3]
    _sql(url,
         f"UPDATE events SET position = -1 WHERE position = {first.position}",
         f"UPDATE events SET position = {first.position} WHERE position = {third.position}",
         f"UPDATE events SET position = {third.position} WHERE position = -1")
    return first.position, first.stream_id, third.version, f"version {third.version} follows version 0"


def rewrite_a_stream_consistently(url: str) -> tuple[int, str, int, str]:
    stream_id = _second_case(url)[0].stream_id
    [first, *_] = rewrite_consistently(url, stream_id, "forged", global_chain=False)
    return first.position, stream_id, 1, "store-wide chain broken"


@pytest.mark.parametrize("tamper", [change_a_payload_byte, delete_an_event, swap_two_events,
                                    rewrite_a_stream_consistently])
def test_tampering_is_named_with_its_store_stream_and_version(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        tamper: Callable[[str], tuple[int, str, int, str]]) -> None:
    dataset(tmp_path)
    code, out, err = run(capsys, "verify", "--data", tmp_path)
    assert code == 0 and "INTACT: 6 store(s)" in out, out + err

    position, stream_id, version, reason = tamper(_victim_url(tmp_path))
    code, out, err = run(capsys, "verify", "--data", tmp_path)

    assert code == 1
    [line] = err.splitlines()
    assert line.startswith(f"BROKEN 510000/disability: first bad event at position {position}, "
                           f"stream {stream_id} version {version} "), line
    assert reason in line
    assert out.count("intact ") == 5, "every other store is still intact"
    assert "NOT INTACT" in out


def test_an_event_of_another_region_in_a_store_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store is a region's own (data sovereignty): an event stamped with another region, even with
    hashes that add up, is named."""
    populate(tmp_path, regions=("640000",), services=("relief",), cases_per_store=1)
    intruder = EventStore.open(sqlite_url(store_path(tmp_path, "640000", "relief")), region="510000",
                               service="relief")
    [e] = intruder.append("case-from-elsewhere", "t", 0, [new_event("x")])
    intruder.close()
    code, _, err = run(capsys, "verify", "--data", tmp_path)
    assert code == 1
    assert f"position {e.position}, stream case-from-elsewhere version 1" in err
    assert "event of 510000/relief in the store of 640000/relief" in err


def test_a_postgres_or_sqlite_store_named_by_url_is_verified(store: EventStore,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for v in range(3):
        store.append("case-pg", "t", v, [new_event(f"step {v}")])
    url = store.engine.url.render_as_string(hide_password=False)
    code, out, _ = run(capsys, "verify", "--db", url)  # identity read from the events
    assert code == 0 and "intact 640000/marriage: 3 events in 1 streams" in out

    drop_triggers(url)
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET occurred_at_us = occurred_at_us + 1 WHERE position = 2"))
    code, _, err = run(capsys, "verify", "--db", f"640000/marriage={url}")
    assert code == 1
    assert "BROKEN 640000/marriage: first bad event at position 2, stream case-pg version 2" in err


def test_the_module_runs_as_a_command_and_explains_a_missing_data_dir(tmp_path: Path) -> None:
    dataset(tmp_path, regions=("640000",), services=("marriage",), cases_per_store=1)
    command = [sys.executable, "-m", "services.common.audit.cli"]
    ok = subprocess.run([*command, "verify", "--data", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "intact 640000/marriage" in ok.stdout
    missing = subprocess.run([*command, "verify", "--data", str(tmp_path / "nope")], cwd=ROOT, capture_output=True,
                             text=True)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr


def test_an_event_slipped_in_past_the_store_head_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every append moves the head in its own transaction; a row beyond it was written around the
    store, even when its hashes add up."""
    populate(tmp_path, regions=("640000",), services=("relief",), cases_per_store=1)
    url = sqlite_url(store_path(tmp_path, "640000", "relief"))
    store = EventStore.open(url, region="640000", service="relief")
    before = store.head()
    [extra] = store.append("slipped-in", "t", 0, [new_event("x")])
    store.close()
    # As if the head never moved.
    _sql(url, f"UPDATE store_head SET position = {before[0]}, global_hash = x'{before[1].hex()}'")
    code, _, err = run(capsys, "verify", "--data", tmp_path)
    assert code == 1
    assert f"position {extra.position}, stream slipped-in version 1" in err and "written around the store" in err
