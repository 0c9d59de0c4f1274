"""The readiness of consumers: a worker's marker (services/common/readiness.py) and the supervisor's
wait for every marker (services/stack/consumers.py), without processes or a broker."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from services.common.readiness import clear_consuming, consuming, mark_consuming
from services.stack.consumers import Consumer, NotConsuming, wait_until_consuming


def test_a_marker_counts_only_for_the_process_that_wrote_it(tmp_path: Path) -> None:
    marker = tmp_path / "registry" / "consuming"
    assert not consuming(marker, os.getpid()), "no marker: not consuming"
    mark_consuming(marker)
    assert consuming(marker, os.getpid())
    assert not consuming(marker, os.getpid() + 1), "a marker left by another (earlier) process counts for nothing"
    clear_consuming(marker)
    clear_consuming(marker)  # twice is harmless (a stop after a failed start)
    assert not consuming(marker, os.getpid())
    assert [p.name for p in marker.parent.iterdir()] == [], "no partial file is left behind"


def test_a_marker_that_is_not_a_pid_does_not_count(tmp_path: Path) -> None:
    marker = tmp_path / "consuming"
    marker.write_text("")  # e.g. a file truncated by a crash
    assert not consuming(marker, os.getpid())


def test_up_waits_until_every_consumer_said_it_consumes(tmp_path: Path) -> None:
    registry, service = tmp_path / "registry", tmp_path / "marriage.consuming"
    looks: list[int] = []

    def check() -> str | None:  # the supervisor's look at its children; here it also moves time on
        looks.append(1)
        if len(looks) == 2:
            mark_consuming(registry)
        if len(looks) == 4:
            mark_consuming(service)
        return None

    lines: list[str] = []
    consumers = [Consumer("registry", registry, os.getpid()), Consumer("marriage 640000", service, os.getpid())]
    wait_until_consuming(consumers, 60, check, lines.append, tmp_path)
    assert len(looks) == 4, "it returned as soon as the last marker was there, not before"
    assert "registry, marriage 640000" in lines[0] and "all have their partitions" in lines[-1], lines


def test_a_consumer_without_partitions_by_the_deadline_is_named(tmp_path: Path) -> None:
    mark_consuming(tmp_path / "registry")
    consumers = [Consumer("registry", tmp_path / "registry", os.getpid()),
                 Consumer("marriage 640000", tmp_path / "marriage.consuming", os.getpid())]
    with pytest.raises(NotConsuming, match=r"after 0s: marriage 640000 \(a registration would wait"):
        wait_until_consuming(consumers, 0, lambda: None, lambda _: None, tmp_path)


def test_a_child_that_dies_meanwhile_stops_the_wait_at_once(tmp_path: Path) -> None:
    consumers = [Consumer("registry", tmp_path / "registry", os.getpid())]
    with pytest.raises(NotConsuming, match=r"registry .* exited"):
        wait_until_consuming(consumers, 60, lambda: "registry (pid 7) exited unexpectedly", lambda _: None, tmp_path)
