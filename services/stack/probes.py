"""Asking whether a part of the stack is there: a free port, a web page that answers, a gRPC
front door whose health service says SERVING. Each answers at once (short timeouts); the
supervisor polls them."""

from __future__ import annotations

import socket
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def web_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "signin", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def serving(address: str) -> bool:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
