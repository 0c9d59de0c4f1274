"""The demo sends a request id with every command (architecture invariant 9) and keeps it when it
resends a command the front door could not take (UNAVAILABLE), so a resend never records twice."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from services.stack.demo_harness import YINCHUAN, DemoHarness
from tongban.marriage.v1 import marriage_service_pb2 as api


class _Unavailable(grpc.RpcError):
    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE


class _FlakyFrontDoor:
    """A front door that is restarting for its first `failures` calls."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.seen: list[str] = []

    def RegisterMarriage(self, request: Any, **_: Any) -> str:
        self.seen.append(request.request_id)
        if len(self.seen) <= self.failures:
            raise _Unavailable()
        return "answered"


def _harness(stub: _FlakyFrontDoor) -> DemoHarness:
    harness = DemoHarness.__new__(DemoHarness)
    harness.stubs = {YINCHUAN.region: stub}
    # Signed in already (a token from the region's identity provider; this front door is a fake).
    harness.tokens = {(YINCHUAN.region, YINCHUAN.office_code, YINCHUAN.clerk_id, "registrar"): "signed-token"}
    return harness


def test_each_command_gets_its_own_request_id_and_a_resend_keeps_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.stack.demo_harness.time.sleep", lambda _: None)
    door = _FlakyFrontDoor(failures=2)
    harness = _harness(door)
    assert harness.call(YINCHUAN, "RegisterMarriage", api.RegisterMarriageRequest()) == "answered"
    assert len(door.seen) == 3 and door.seen[0] and len(set(door.seen)) == 1
    harness.call(YINCHUAN, "RegisterMarriage", api.RegisterMarriageRequest())
    assert door.seen[3] != door.seen[0], "another clerk action, another request id"
    harness.call(YINCHUAN, "RegisterMarriage", api.RegisterMarriageRequest(request_id="mine"))
    assert door.seen[-1] == "mine"


def test_a_front_door_down_for_good_is_reported_after_the_resends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.stack.demo_harness.time.sleep", lambda _: None)
    door = _FlakyFrontDoor(failures=99)
    with pytest.raises(grpc.RpcError):
        _harness(door).call(YINCHUAN, "RegisterMarriage", api.RegisterMarriageRequest())
    assert len(door.seen) == 3


