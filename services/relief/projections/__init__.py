"""Read models of the relief service (read_models.py). `register_projections` is how `tongban audit
replay` finds them."""

from __future__ import annotations

from typing import Any


def register_projections(registry: Any) -> None:
    """Called by services/common/audit/projections.py's discovery with its ProjectionRegistry."""
    from services.relief.projections.read_models import ReliefReadModels

    registry.register(ReliefReadModels(), services=("relief",))
