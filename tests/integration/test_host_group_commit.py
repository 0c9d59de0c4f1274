"""A service host commits concurrent commands together by default (issue 15: group commit on in
the host), and a stale command among them still fails ABORTED alone (architecture invariant 1:
one writer wins each version; invariant 7: a version conflict answers ABORTED, nothing appended).

The store is the one a real host opens (`ServiceHost.prepare()`, default settings), so the test
fails if the host's default changes back or stops reaching the store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import ConcurrencyConflict
from services.common.store import NO_STREAM, EventStore, verify_store
from services.host import HostConfig, ServiceHost
from services.marriage.bootstrap import definition
from tests.fixtures.trust import install_idp
from tests.support import new_event, wait_until

pytestmark = pytest.mark.kafka  # the host's prepare() makes its topics

MEMBERS = 5


@pytest.fixture
def host_store(tmp_path: Path, kafka_broker: Any, kafka_topic_prefix: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[EventStore]:
    monkeypatch.delenv("TONGBAN_GROUP_COMMIT", raising=False)  # the host's own default
    config = HostConfig(region="640000", kafka=kafka_broker.bootstrap, data_dir=tmp_path,
                        topic_prefix=kafka_topic_prefix)
    install_idp(tmp_path, "640000")
    host = ServiceHost(definition(), config)
    host.prepare()
    try:
        assert host.store is not None
        yield host.store
    finally:
        host.close()


def _command(store: EventStore, stream_id: str, expected: int, tag: str) -> None:
    """A command of two appends in one transaction: half of it must never be visible."""
    with store.transaction() as tx:
        tx.append(stream_id, "marriage", expected, [new_event(f"{tag}:a")])
        tx.append(stream_id, "marriage", expected + 1, [new_event(f"{tag}:b")])


def test_the_host_shares_commits_and_a_stale_command_among_them_fails_alone(host_store: EventStore) -> None:
    """Invariant 1 / 7: commands queued behind one open command share its commit; the one that
    expected a case not to exist yet (it does) fails with a version conflict and leaves nothing;
    every other command is recorded whole, and both hash chains verify."""
    group = host_store.group
    assert group is not None, "the host opens its store with group commit by default"
    host_store.append("case-contested", "marriage", NO_STREAM, [new_event("first")])
    before = group.groups_committed
    release = threading.Event()
    outcome: dict[str, str] = {}

    def holder() -> None:
        with host_store.transaction() as tx:
            tx.append("case-holder", "marriage", NO_STREAM, [new_event("holder")])
            release.wait(timeout=30)
        outcome["holder"] = "ok"

    def member(name: str) -> None:
        try:
            stream = "case-contested" if name == "stale" else f"case-{name}"
            _command(host_store, stream, NO_STREAM, name)
            outcome[name] = "ok"
        except ConcurrencyConflict:
            outcome[name] = "aborted"

    first = threading.Thread(target=holder)
    first.start()
    wait_until(lambda: group.open_members == 1, what="the holder inside its group")
    names = ["stale", *(f"m{i}" for i in range(MEMBERS))]
    threads = [threading.Thread(target=member, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    wait_until(lambda: group.queued == len(names), what="every command queued behind the holder")
    release.set()
    for thread in [first, *threads]:
        thread.join(timeout=60)

    assert outcome == {"holder": "ok", "stale": "aborted", **{f"m{i}": "ok" for i in range(MEMBERS)}}
    assert group.groups_committed == before + 1, "one commit for all of them"
    assert [e.message().value for e in host_store.read_stream("case-contested")] == ["first"]
    for i in range(MEMBERS):
        assert [e.version for e in host_store.read_stream(f"case-m{i}")] == [1, 2]
    report = verify_store(host_store)
    assert report.ok, report.problem
