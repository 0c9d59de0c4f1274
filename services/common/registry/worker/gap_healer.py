"""Seeking back over holes in what the decider is handed of the claims topic."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("tongban.registry.worker")


class GapHealer:
    """Makes the decider see every offset of the claims topic, in order.

    faust-streaming 0.15.3, which the worker ran on until issue 15's eighth pass, handed an agent a
    partition's messages with a hole in them after a restart (its fetcher ran while the table
    recovered, and a later seek to the committed offsets raced with it). The plain consumer starts
    from the group's committed offsets, which may be ahead of the store's lazily written positions.
    The claims topic has no holes of its own — only this worker writes it, without transactions —
    so the next offset the store says it expects is exact: a message beyond it means messages were
    skipped, and the decider seeks back to them instead of deciding out of order."""

    RETRY_AFTER = 2.0  # seconds before seeking again for the same hole
    MAX_SEEKS = 5  # then the hole is taken as real (records deleted by retention) and logged

    def __init__(self, topic: str, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.topic = topic
        self._monotonic = monotonic
        self._seeks: dict[int, tuple[int, float, int]] = {}  # partition → (expected, when, attempts)

    def check(self, partition: int, offset: int, expected: int | None) -> int | None:
        """The offset to seek to, or None to go on."""
        if expected is None or offset <= expected:
            self._seeks.pop(partition, None)
            return None
        last = self._seeks.get(partition)
        attempts = last[2] if last is not None and last[0] == expected else 0
        if last is not None and last[0] == expected and self._monotonic() - last[1] < self.RETRY_AFTER:
            return None  # a seek is under way: skipping() drops what was fetched before it
        if attempts >= self.MAX_SEEKS:
            log.error("%s[%d]: offsets %d..%d never came; going on from %d", self.topic, partition, expected,
                      offset - 1, offset)
            self._seeks.pop(partition, None)
            return None
        log.warning("%s[%d]: got offset %d, expected %d; seeking back", self.topic, partition, offset, expected)
        self._seeks[partition] = (expected, self._monotonic(), attempts + 1)
        return expected

    def skipping(self, partition: int, offset: int, expected: int | None) -> bool:
        """A message beyond the hole while a seek back is under way: it comes again after it."""
        return expected is not None and offset > expected and partition in self._seeks
