"""Stopping aiokafka clients when their broker may be gone."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

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
