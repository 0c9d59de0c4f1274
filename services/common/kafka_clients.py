"""What the services' aiokafka consumers share: a rebalance that waits for the batch in hand, and
a stop that survives a broker that is gone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aiokafka import ConsumerRebalanceListener

log = logging.getLogger(__name__)


async def stop_client(client: Any, what: str) -> None:
    """`await client.stop()` for an aiokafka consumer or producer, logging rather than raising what
    the stop itself fails with. Why: with the broker gone, aiokafka 0.14's fetcher ends its own fetch
    task by cancelling it and `stop()` re-raises that task's CancelledError (seen when a registry
    worker was sent SIGTERM after its broker died: it exited with a traceback instead of 0). A
    CancelledError meant for the caller, whose task is being cancelled, is raised on."""
    try:
        await client.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.warning("stopping the %s: its broker connection was cut short", what)
    except Exception as exc:
        log.warning("stopping the %s failed: %s", what, exc)


class BatchListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Partitions are given up only once the batch in hand (`working` held) is done and committed, so
    whoever takes one over starts after that batch, not with a repeat of it; `on_assigned` is called
    each time the group gives the consumer its partitions (readiness.py)."""

    def __init__(self, working: asyncio.Lock, on_assigned: Callable[[], None] | None = None) -> None:
        self._working = working
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self._working:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if self._on_assigned is not None:
            self._on_assigned()
