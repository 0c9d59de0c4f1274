"""Read models of the disability service, kept in SQL tables in the service's own store
(read_models.py). `register_projections` is how `tongban audit replay` finds them."""

from __future__ import annotations

from typing import Any


def register_projections(registry: Any) -> None:
    """Called by services/common/audit/projections.py's discovery with its ProjectionRegistry."""
    from services.disability.projections.read_models import DisabilityReadModels

    registry.register(DisabilityReadModels(), services=("disability",))
