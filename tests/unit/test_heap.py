"""A started service takes its start-up heap out of the collector's sight (services/common/heap.py),
so a full collection no longer walks every module and descriptor with the GIL held."""

from __future__ import annotations

import gc

from services.common import heap


def test_settle_freezes_what_is_alive_and_later_objects_are_still_collected() -> None:
    try:
        heap.settle()
        assert gc.get_freeze_count() > 1000, "start-up objects are frozen"
        tracked = len(gc.get_objects())
        assert tracked < gc.get_freeze_count(), "a collection walks only what came after"

        class Cycle:
            pass

        a, b = Cycle(), Cycle()
        a.other, b.other = b, a  # type: ignore[attr-defined]
        del a, b
        assert gc.collect() >= 2, "garbage made after settling is still collected"
    finally:
        gc.unfreeze()
