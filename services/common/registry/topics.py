"""The registry's Kafka topics (docs/cross-region.md, "Topics")."""

from __future__ import annotations

from typing import Final

# Decisions of the registry worker, keyed by citizen id: every region's services read it.
DECISIONS_TOPIC: Final = "tongban.registry.decisions.v1"
# The worker's own input, keyed by citizen id: claims forwarded from the service topics and the
# expiry checks of its timer. Only the worker reads it.
CLAIMS_TOPIC: Final = "tongban.registry.claims.v1"
