"""What the console presents to the services for a signed-in clerk: a token signed by the
region's identity provider (architecture invariant 8), never the clerk's word.

At sign-in the region's identity provider issues the token (in development, `tongban up` is that
provider: its keys are under the data directory; an office not in the region's office directory is
refused there); the token lives in the clerk's signed session and goes with every call. A national
auditor's token comes from the national identity provider instead."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from services.common.grpc_context import token_metadata
from services.web.session import Clerk


def issuer_region(clerk: Clerk) -> str:
    """Whose identity provider signs for this clerk: the region's, or for the national auditor the
    national one (every region trusts it, for audit reads only)."""
    from services.common.trust.national import NATIONAL

    return NATIONAL if clerk.is_national else clerk.region


def identity_provider(data_dir: Path) -> Callable[[Clerk], str]:
    from services.common.trust.signin import mint

    def issue(clerk: Clerk) -> str:
        try:
            token, _kid = mint(data_dir, issuer_region(clerk), office=clerk.office, clerk_id=clerk.clerk_id,
                               roles=[clerk.role])
        except ValueError as refused:  # e.g. an office the region's directory does not hold
            raise PermissionError(f"无法登录：{refused}") from None
        return token

    return issue


def credentials_for(clerk: Clerk) -> list[tuple[str, str]]:
    return token_metadata(clerk.credential)
