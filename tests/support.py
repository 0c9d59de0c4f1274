"""Helpers for tests: unique ids per test and small valid events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from google.protobuf.wrappers_pb2 import StringValue

from services.common.events import Actor, NewEvent, TraceContext

T = TypeVar("T")

CLERK = Actor(kind="clerk", clerk_id="clerk-007", office_code="640104-MRO-01", region="640000", role="clerk")


def unique_id(prefix: str = "case") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def new_event(text: str = "hello", *, correlation_id: str = "corr-1", actor: Actor = CLERK,
              occurred_at: datetime | None = None, trace: TraceContext | None = None,
              event_id: str | None = None) -> NewEvent:
    return NewEvent.from_message(
        StringValue(value=text),
        event_id=event_id or str(uuid.uuid4()),
        actor=actor,
        correlation_id=correlation_id,
        occurred_at=occurred_at or datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
        causation_id="cmd-1",
        trace=trace,
    )


def wait_until(condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05,
               what: str = "condition") -> T:
    """Poll `condition` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
