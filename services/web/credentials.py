"""What the console presents to the services for a signed-in clerk.

Until the services verify signed tokens, the credential is the clerk's identity as call metadata
(the same the window CLI sends). The seam is these two functions: at sign-in the region's identity
provider issues a credential for the clerk; at each call it becomes call metadata."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.common.events import Actor
from services.common.grpc_context import actor_metadata
from services.web.session import Clerk


def identity_provider(data_dir: Path) -> Callable[[Clerk], str]:
    def issue(clerk: Clerk) -> str:
        return ""

    return issue


def credentials_for(clerk: Clerk) -> list[tuple[str, str]]:
    return actor_metadata(Actor(kind="clerk", clerk_id=clerk.clerk_id, office_code=clerk.office,
                                region=clerk.region, role=clerk.role))
