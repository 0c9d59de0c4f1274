"""The seam every service's gRPC API goes through, server side and client side.

- `identity`: the calling actor, proved by call metadata (`Authenticator`; the token one is
  services/common/trust/authenticator.py), read by handlers with `current_actor()`, presented by
  clients with `token_metadata(token)`;
- `status`: the TongbanError family mapped to google.rpc statuses with rich details (invariant 7);
- `client`: the mirror of that mapping, decoding a refusal with `error_details(rpc_error)`;
- `hygiene`: every request decoded and held to its fields' rules (`tongban.common.v1.rules`) before
  its handler runs, text normalised (INVALID_ARGUMENT naming the field otherwise);
- `server`: the interceptor (span, actor, request hygiene, error mapping around every call) and
  `create_server`.

The names below are re-exported so callers import from the package, not from its modules.
"""

from services.common.grpc_context.client import ErrorDetails, error_details
from services.common.grpc_context.identity import (
    ACTOR_KIND_KEY,
    AUTHORIZATION_KEY,
    CLERK_ID_KEY,
    OFFICE_KEY,
    REGION_KEY,
    ROLE_KEY,
    Authenticator,
    NoActor,
    Unauthenticated,
    acting_as,
    current_actor,
    token_metadata,
)
from services.common.grpc_context.server import (
    DEFAULT_EXEMPT,
    DEFAULT_UNTRACED,
    HEALTH_PREFIX,
    ServerContextInterceptor,
    create_server,
)
from services.common.grpc_context.status import ERROR_DOMAIN, status_for_error

__all__ = [
    "ACTOR_KIND_KEY",
    "AUTHORIZATION_KEY",
    "CLERK_ID_KEY",
    "DEFAULT_EXEMPT",
    "DEFAULT_UNTRACED",
    "ERROR_DOMAIN",
    "HEALTH_PREFIX",
    "OFFICE_KEY",
    "REGION_KEY",
    "ROLE_KEY",
    "Authenticator",
    "ErrorDetails",
    "NoActor",
    "ServerContextInterceptor",
    "Unauthenticated",
    "acting_as",
    "create_server",
    "current_actor",
    "error_details",
    "status_for_error",
    "token_metadata",
]
