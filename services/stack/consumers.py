"""Whether the stack's consumers consume: the last thing `tongban up` waits for before it says the
stack is up.

A service answers its health check as soon as its gRPC server runs, seconds before its consumer
group has its partitions (the development broker answers a new group's first JoinGroup after
~3 s), and the registry worker decides nothing before both its groups (the decider's, the
forwarder's) have theirs. Said "up" before then, a clerk's first registration sat in
awaiting_registry for those seconds. Each of them writes a marker holding its pid once its
partitions are assigned (services/common/readiness.py); this polls the markers of the processes
the supervisor started, with a deadline that names the ones still missing."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.readiness import consuming
from services.stack.children import Child

POLL_INTERVAL = 0.1  # seconds between looks at the markers (a file read each)


class NotConsuming(RuntimeError):
    """A consumer did not get its partitions before the deadline, or a child died meanwhile."""


@dataclass(frozen=True)
class Consumer:
    name: str  # as the supervisor names the child: "registry", "marriage 640000"
    marker: Path
    pid: int


def marker(data_dir: Path, child: Child, registry_datadir: Path) -> Path:
    """Where the registry worker (its datadir under `data_dir`) or a service of the stack says it consumes."""
    from services.common.registry.worker.settings import CONSUMING_FILE

    if child.name == "registry":
        return data_dir / registry_datadir / CONSUMING_FILE
    return data_dir / child.region / f"{child.service}.consuming"  # beside its endpoint file (host.py)


def wait_until_consuming(consumers: Sequence[Consumer], timeout: float, check: Callable[[], str | None],
                         out: Callable[[str], None], logs_dir: Path) -> float:
    """Return (the seconds waited) once every consumer's process has said it consumes; raise
    NotConsuming naming those that did not within `timeout` seconds, or with `check()`'s problem as
    soon as it reports one (a child that died)."""
    started = time.monotonic()
    pending = list(consumers)
    if pending:
        out(f"  consumers waiting for their partitions: {', '.join(c.name for c in pending)} …")
    while pending:
        problem = check()
        if problem:
            raise NotConsuming(problem)
        pending = [c for c in pending if not consuming(c.marker, c.pid)]
        if not pending:
            break
        if time.monotonic() - started >= timeout:
            raise NotConsuming(f"no partitions assigned after {timeout:.0f}s: {', '.join(c.name for c in pending)} "
                               f"(a registration would wait for them); see the logs in {logs_dir}")
        time.sleep(POLL_INTERVAL)  # polling child processes that have no other way to tell us
    waited = time.monotonic() - started
    if consumers:
        out(f"  consumers all have their partitions ({waited:.1f}s after the front doors answered)")
    return waited
