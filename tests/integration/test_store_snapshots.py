"""Aggregate snapshots on both databases (issue 15; architecture invariant 1: a snapshot is a cache
of the log, never truth): taken every N events, used by loads only while they match the log and
the aggregate's shape, verified against a replay, rebuilt from the log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from types import SimpleNamespace
from typing import ClassVar

import pytest
from google.protobuf import wrappers_pb2
from sqlalchemy import text

from services.common.kit import Aggregate, PayloadCodec, Provenance, UnitsOfWork
from services.common.kit.snapshots import NEVER, SnapshotPolicy, rebuild_snapshots, verify_snapshots
from services.common.store import EventStore, verify_store
from tests.integration.test_audit_helpers import run
from tests.support import CLERK, unique_id


@dataclass(frozen=True)
class Counted:
    value: str


@dataclass
class Tally(Aggregate):
    stream_type: ClassVar[str] = "tests.Tally"
    what: ClassVar[str] = "tally"
    count: int = 0
    last: str = ""
    recent: tuple[str, ...] = ()
    first_on: date | None = None

    def when(self, event: Counted) -> None:
        self.count += 1
        self.last = event.value
        self.recent = (*self.recent[-2:], event.value)
        self.first_on = self.first_on or date(2026, 1, 1)


CODEC = PayloadCodec(SimpleNamespace(Counted=wrappers_pb2.StringValue), [Counted])
EVERY = 10
TYPES = {Tally.stream_type: Tally}


def _count(units: UnitsOfWork, stream_id: str, values: list[str]) -> None:
    with units.begin(Provenance.of_command(CLERK, stream_id, units.store.clock.now())) as uow:
        tally = uow.find(Tally, stream_id) or uow.start(Tally, stream_id, [])
        uow.record(tally, [Counted(v) for v in values])


def _load(units: UnitsOfWork, stream_id: str) -> Tally:
    with units.begin(Provenance.of_command(CLERK, stream_id, units.store.clock.now())) as uow:
        return uow.load(Tally, stream_id, for_write=False)


def _tally_of(store: EventStore, events: int) -> tuple[UnitsOfWork, str]:
    units = UnitsOfWork(store, CODEC, snapshot_policy=SnapshotPolicy(every=EVERY))
    stream_id = unique_id("tally")
    for start in range(0, events, 3):  # three events per command: snapshots fall inside commands
        _count(units, stream_id, [f"v{i}" for i in range(start, min(start + 3, events))])
    return units, stream_id


def _snapshot_row(store: EventStore, stream_id: str) -> tuple[int, int]:
    with store.engine.connect() as conn:
        row = conn.execute(text("SELECT version, position FROM snapshots WHERE stream_id = :s"), {"s": stream_id}).one()
    return int(row[0]), int(row[1])


def _tamper(store: EventStore, stream_id: str, assignment: str, **values: object) -> None:
    with store.engine.begin() as conn:
        conn.execute(text(f"UPDATE snapshots SET {assignment} WHERE stream_id = :s"), {"s": stream_id, **values})


def test_a_long_stream_loads_from_its_newest_snapshot_as_a_replay_would(store: EventStore) -> None:
    units, stream_id = _tally_of(store, 25)
    # The command that recorded versions 19..21 passed 20: the snapshot stands at version 21.
    assert _snapshot_row(store, stream_id)[0] == 21
    from_snapshot = _load(units, stream_id)
    replayed = _load(UnitsOfWork(store, CODEC, snapshot_policy=NEVER), stream_id)
    assert from_snapshot == replayed
    assert (from_snapshot.version, from_snapshot.count, from_snapshot.recent) == (25, 25, ("v22", "v23", "v24"))
    report = verify_snapshots(store, [CODEC], TYPES)
    assert (report.checked, report.findings) == (1, [])


@dataclass
class Turnstile(Aggregate):
    """A counter (like the certificate numbers of an office's year): its version is its count."""

    stream_type: ClassVar[str] = "tests.Turnstile"
    what: ClassVar[str] = "turnstile"
    fold_is_count: ClassVar[bool] = True

    def when(self, event: Counted) -> None:
        pass


def test_a_counter_loads_from_its_streams_ends_as_a_replay_would(store: EventStore) -> None:
    """An aggregate whose fold is its count is loaded from the first and last events of its stream
    (no snapshot needed or taken): the same version and times as folding every event, and the next
    number follows on the chain."""
    units = UnitsOfWork(store, CODEC, snapshot_policy=SnapshotPolicy(every=EVERY))
    stream_id = unique_id("turnstile")
    for start in range(0, 25, 3):
        with units.begin(Provenance.of_command(CLERK, stream_id, store.clock.now())) as uow:
            turnstile = uow.find(Turnstile, stream_id) or uow.start(Turnstile, stream_id, [])
            uow.record(turnstile, [Counted(f"v{i}") for i in range(start, min(start + 3, 25))])
        store.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    history = store.read_stream(stream_id)
    replayed = Turnstile.fold((None, e.recorded_at) for e in history)
    with units.begin(Provenance.of_command(CLERK, stream_id, store.clock.now())) as uow:
        loaded = uow.load(Turnstile, stream_id)
        assert loaded == replayed
        assert (loaded.version, loaded.opened_at, loaded.updated_at) == (
            25, history[0].recorded_at, history[-1].recorded_at)
        assert loaded.opened_at != loaded.updated_at
        uow.record(loaded, [Counted("v25")])
    assert store.stream_version(stream_id) == 26
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM snapshots WHERE stream_id = :s"), {"s": stream_id}).scalar() == 0
    assert verify_store(store).ok, "the number after the load extends the stream's chain"
    with units.begin(Provenance.of_command(CLERK, stream_id, store.clock.now())) as uow:
        assert uow.find(Turnstile, unique_id("no-such-turnstile")) is None
        assert uow.find(Tally, stream_id) is None, "a stream of another type is not a tally"
    units_tally, tally_id = _tally_of(store, 4)
    with units_tally.begin(Provenance.of_command(CLERK, tally_id, store.clock.now())) as uow:
        assert uow.find(Turnstile, tally_id) is None, "nor a tally a turnstile"
    with pytest.raises(TypeError):
        Tally.counted(3, store.clock.now(), store.clock.now())


def test_snapshots_are_taken_and_used_under_group_commit(store_url: str) -> None:
    """With commits shared by concurrent commands (issue 15), a snapshot is written in its
    command's own savepoint, and loads from it equal a replay."""
    grouped = EventStore.open(store_url, region="640000", service="marriage", group_commit=64)
    try:
        units, stream_id = _tally_of(grouped, 23)
        assert _snapshot_row(grouped, stream_id)[0] == 21
        assert _load(units, stream_id) == _load(UnitsOfWork(grouped, CODEC, snapshot_policy=NEVER), stream_id)
        assert verify_snapshots(grouped, [CODEC], TYPES).findings == []
    finally:
        grouped.close()


def test_a_snapshot_whose_state_differs_from_the_replay_is_named_by_verify_and_fixed_by_rebuild(
        store: EventStore) -> None:
    units, stream_id = _tally_of(store, 12)
    _tamper(store, stream_id, "state = :state", state=b'{"version":12,"opened_at":null,"updated_at":null,'
            b'"count":999,"last":"v11","recent":["v9","v10","v11"],"first_on":"2026-01-01"}')
    report = verify_snapshots(store, [CODEC], TYPES)
    assert [f.bad for f in report.findings] == [True]
    assert "differs from a replay" in str(report.findings[0]) and "count" in str(report.findings[0])
    assert rebuild_snapshots(store, [CODEC], SnapshotPolicy(every=EVERY), TYPES) == 1
    assert verify_snapshots(store, [CODEC], TYPES).findings == []
    assert _load(units, stream_id).count == 12


def test_a_corrupt_snapshot_is_ignored_with_a_warning_and_the_stream_replayed(
        store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    units, stream_id = _tally_of(store, 12)
    _tamper(store, stream_id, "state = :state", state=b"\x00not json")
    with caplog.at_level(logging.WARNING, logger="services.common.kit.snapshots"):
        loaded = _load(units, stream_id)
    assert (loaded.version, loaded.count) == (12, 12)
    assert "unreadable" in caplog.text
    assert [f.bad for f in verify_snapshots(store, [CODEC], TYPES).findings] == [True]


def test_a_snapshot_not_in_the_log_is_ignored(store: EventStore, caplog: pytest.LogCaptureFixture) -> None:
    units, stream_id = _tally_of(store, 12)
    _tamper(store, stream_id, "hash = :h", h=b"\x01" * 32)
    with caplog.at_level(logging.WARNING, logger="services.common.kit.snapshots"):
        assert _load(units, stream_id).count == 12
    assert "not in the log" in caplog.text
    assert "does not match the log" in str(verify_snapshots(store, [CODEC], TYPES).findings[0])


def test_an_aggregate_whose_code_changed_shape_ignores_older_snapshots(store: EventStore) -> None:
    units, stream_id = _tally_of(store, 12)
    # Written by a build whose Tally had other fields: same bytes would mean other things.
    _tamper(store, stream_id, "shape = :shape, state = :state", shape="1.0000000000000000",
            state=b'{"version":12,"opened_at":null,"updated_at":null,"count":999,"last":"",'
                  b'"recent":[],"first_on":null}')
    assert _load(units, stream_id).count == 12
    findings = verify_snapshots(store, [CODEC], TYPES).findings
    assert [(f.bad, "another shape" in f.reason) for f in findings] == [(False, True)]
    # The next command that passes a multiple of the interval takes a snapshot of today's shape.
    _count(units, stream_id, ["a", "b", "c", "d", "e", "f", "g", "h"])
    assert _snapshot_row(store, stream_id)[0] == 20
    assert verify_snapshots(store, [CODEC], TYPES).findings == []


def test_audit_verify_names_a_bad_snapshot_and_audit_snapshots_rebuild_repairs_it(
        store: EventStore, capsys: pytest.CaptureFixture[str]) -> None:
    _, stream_id = _tally_of(store, 12)
    db = f"640000/marriage={store.engine.url.render_as_string(hide_password=False)}"
    code, out, _ = run(capsys, "verify", "--db", db)
    assert code == 0 and "1 snapshot(s) match a replay" in out
    _tamper(store, stream_id, "state = :state", state=b'{"version":12,"opened_at":null,"updated_at":null,'
            b'"count":7,"last":"v11","recent":["v9","v10","v11"],"first_on":"2026-01-01"}')
    code, _, err = run(capsys, "verify", "--db", db)
    assert code == 1 and f"BAD SNAPSHOT 640000/marriage: snapshot of {stream_id} at version 12" in err
    code, out, _ = run(capsys, "snapshots", "--db", db, "--rebuild", "--every", str(EVERY))
    assert code == 0 and "1 snapshot(s) rebuilt from the log" in out
    assert run(capsys, "verify", "--db", db)[0] == 0
