"""The gRPC seam (moved from grpc_context.py; split by concern in the next commit)."""

from services.common.grpc_context.server import *  # noqa: F403
from services.common.grpc_context.server import __all__  # noqa: F401
