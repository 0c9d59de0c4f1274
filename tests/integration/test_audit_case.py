"""`tongban audit case`: a case across regions, stitched by its correlation id, as it stood at any
moment; every auditor read of personal data recorded first (domain rules, "Records and audit");
the trail exported as JSON Lines (re-verifiable) and as readable HTML."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from services.common.audit.datadir import store_path
from services.common.audit.trail import reads_stream
from services.common.events import Actor, RecordedEvent, TraceContext, from_micros
from services.common.hashing import event_hash
from services.common.store import EventStore, sqlite_url
from tests.fixtures.stores import COMPONENT_TABLES
from tests.integration.test_audit_helpers import dataset, run


def _store(data: Path, region: str) -> EventStore:
    return EventStore.open(sqlite_url(store_path(data, region, "marriage")), region=region, service="marriage",
                           create=False)


def test_a_case_is_stitched_across_regions_and_its_read_recorded_first(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = dataset(tmp_path, regions=("640000", "510000")).cross_region_case
    code, out, err = run(capsys, "case", case_id, "--data", tmp_path, "--auditor", "A-17", "--reason", "complaint 88")
    assert code == 0, err
    history = out.split("HISTORY", 1)[1]
    assert history.count("640000/marriage") == 3 and history.count("510000/marriage") == 2
    assert "[handoff]" in history and "[case]" in history
    assert "by clerk clerk-510000-007 (window) at office 510000-OFFICE-01, region 510000" in history
    assert "this read is recorded as AuditorRead in 510000/marriage (event" in out

    for region in ("640000", "510000"):
        store = _store(tmp_path, region)
        [read] = store.read_stream(reads_stream(case_id))
        store.close()
        assert read.actor == Actor("auditor", "A-17", "", region, "auditor")
        assert read.correlation_id == case_id, "the read joins the case's thread"
        message = read.message()
        assert message.reason == "complaint 88" and message.events_read == (3 if region == "640000" else 2)  # type: ignore[attr-defined]

    # The next auditor sees who looked before.
    code, out, _ = run(capsys, "case", case_id, "--data", tmp_path, "--auditor", "A-18", "--reason", "review")
    assert out.count("[audit] tongban.audit.v1.AuditorRead") == 2
    assert "by auditor A-17 (auditor)" in out


def test_the_case_as_it_stood_at_a_moment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = dataset(tmp_path, regions=("640000", "510000")).cross_region_case
    store = _store(tmp_path, "510000")
    received = next(e for e in store.streams_by_correlation(case_id) if e.stream_id.startswith("handoff-"))
    store.close()
    moment = (received.recorded_at + timedelta(seconds=1)).isoformat()  # handed off, not yet decided

    code, out, _ = run(capsys, "case", case_id, "--data", tmp_path, "--as-of", moment, "--auditor", "A-17",
                       "--reason", "r")
    assert code == 0
    assert "3 event(s) in 2 store(s)" in out
    assert "2 later event(s) recorded after" in out
    assert "approved by the county" not in out, "the decision came later"
    assert f"640000/marriage  {received.stream_id}  version 1" in out, "the sender's side as it stood"
    assert "HandoffReceived from 640000" in out


def test_the_trail_exports_as_verifiable_json_lines_and_readable_html(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = dataset(tmp_path / "data", regions=("640000", "510000")).cross_region_case
    jsonl, page = tmp_path / "trail.jsonl", tmp_path / "trail.html"
    code, _, _ = run(capsys, "case", case_id, "--data", tmp_path / "data", "--auditor", "A-17",
                     "--reason", "<script>alert(1)</script>", "--jsonl", jsonl, "--html", page)
    assert code == 0
    header, *records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert header["record"] == "trail" and header["case_id"] == case_id and header["events"] == 5
    assert {r["store"] for r in header["read_recorded_as"]} == {"640000/marriage", "510000/marriage"}
    assert [r["region"] for r in records] == ["640000", "640000", "510000", "510000", "640000"]
    assert len({r["trace_id"] for r in records}) == 1, "one journey, one trace"
    for r in records:  # an auditor can recompute every hash from the export alone
        event = RecordedEvent(
            event_id=r["event_id"], stream_id=r["stream_id"], stream_type=r["stream_type"], version=r["version"],
            type=r["type"], schema_version=r["schema_version"], payload=base64.b64decode(r["payload_base64"]),
            occurred_at=from_micros(r["occurred_at_us"]), recorded_at=from_micros(r["recorded_at_us"]),
            region=r["region"], service=r["service"], actor=Actor(**r["actor"]), correlation_id=r["correlation_id"],
            causation_id=r["causation_id"], trace=TraceContext(r["traceparent"], r["tracestate"]),
            prev_hash=bytes.fromhex(r["prev_hash"]), hash=b"", position=r["position"], global_hash=b"")
        assert event_hash(event.prev_hash, event).hex() == r["hash"]

    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and case_id in html
    assert records[0]["trace_id"] in html and "approved by the county" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html, "everything is escaped"


def test_an_auditor_must_say_who_and_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case_id = dataset(tmp_path, regions=("640000",), services=("marriage",), cases_per_store=1).cases[0]
    with pytest.raises(SystemExit) as exit_info:
        run(capsys, "case", case_id, "--data", tmp_path, "--auditor", "A-17")
    assert exit_info.value.code == 2 and "--reason" in capsys.readouterr().err
    code, out, err = run(capsys, "case", case_id, "--data", tmp_path, "--auditor", " ", "--reason", "r")
    assert code == 2 and not out and "must not be empty" in err
    store = _store(tmp_path, "640000")
    assert store.read_stream(reads_stream(case_id)) == [], "nothing shown, nothing recorded"
    store.close()


def test_without_as_of_the_whole_history_shows_even_when_the_stores_clock_ran_ahead(tmp_path: Path) -> None:
    """A demo moves its services' clocks forward (cooling-off periods): events recorded 'in the
    future' of the auditor's machine are still the case's history and must all be shown."""
    from services.common.audit.datadir import StoreRef
    from services.common.audit.trail import find_case
    from services.common.clock import FakeClock
    from services.common.events import NewEvent

    store = EventStore.open(sqlite_url(tmp_path / "m.db"), region="640000", service="marriage",
                            clock=FakeClock(from_micros(0) + timedelta(days=365 * 80)), tables=COMPONENT_TABLES)  # 2049
    from google.protobuf.wrappers_pb2 import StringValue

    store.append("case-x", "t", 0, [NewEvent.from_message(
        StringValue(value="later"), event_id="e-1", actor=Actor.system("640000", "t"), correlation_id="case-x",
        occurred_at=store.clock.now())])
    ref = StoreRef(region="640000", service="marriage", url=sqlite_url(tmp_path / "m.db"))
    trail = find_case([(ref, store)], "case-x")
    store.close()
    assert [t.event.event_id for t in trail.events] == ["e-1"] and trail.later == 0
