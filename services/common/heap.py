"""The heap of a long-running process, settled once it has started.

Why: a service's modules, classes, protobuf descriptors, compiled statements and settings live as
long as the process, yet CPython's full collections walk them again every time: ~165,000 objects
in a marriage service, ~200,000 in the registry worker, a full collection up to 0.21 s with the GIL
held (measured with gc.callbacks during `tongban bench api`: 12 of them in one run, 1.1 s) — a
pause every call in flight waits out, and a burst's p99 with it."""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect what start-up left behind, then take every object alive now out of the collector's
    sight (gc.freeze): they are never collected (they live as long as the process anyway), and
    objects made later are collected as before."""
    gc.collect()
    gc.freeze()
