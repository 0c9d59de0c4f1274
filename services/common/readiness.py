"""A worker says that it consumes: a marker file holding its pid, written once its consumer groups
have their partitions assigned.

Why: an aiokafka consumer starts long before it reads anything. Its group join
takes seconds (the development broker answers a new group's first JoinGroup after ~3 s), and a
message sent meanwhile waits for it. A service's gRPC front door answers at once, so "it answers"
said nothing about whether a claim would be decided: the first registration after `tongban up`
sat in awaiting_registry for seconds. The supervisor waits for these markers before it says the
stack is up (services/stack/consumers.py).

The pid makes a marker left by an earlier process (killed before it could remove it) count for
nothing: only the marker of the process the supervisor started is believed."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def mark_consuming(path: Path) -> None:
    """Say that this process consumes (its partitions are assigned). Written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(f"{os.getpid()}\n")
    partial.replace(path)


def clear_consuming(path: Path) -> None:
    """Take the marker away (on stop, and before a new process starts)."""
    path.unlink(missing_ok=True)


def consuming(path: Path, pid: int) -> bool:
    """Whether the process `pid` said it consumes."""
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip()) == pid
    return False
