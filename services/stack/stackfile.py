"""What a running stack leaves in its data directory for the commands that talk to it.

`DIR/stack.json` names the broker, the topic prefix, the clock and every gRPC endpoint with its
process id. `DIR/stack.lock` is held (flock) by the supervisor for as long as it runs: a stack
file whose lock is free is left over from a supervisor that was killed, and is not trusted."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

STACK_FILE = "stack.json"
LOCK_FILE = "stack.lock"
LOGS_DIR = "logs"


class StackNotRunning(RuntimeError):
    """No stack is running on the data directory (or it lacks what the caller needs)."""


class StackAlreadyRunning(RuntimeError):
    """Another supervisor holds the data directory."""


@dataclass(frozen=True)
class Endpoint:
    region: str
    service: str
    address: str
    pid: int


@dataclass(frozen=True)
class StackInfo:
    """A running stack as `up` describes it in `DIR/stack.json`."""

    data_dir: str
    kafka: str
    local_broker: bool
    topic_prefix: str
    clock: str
    supervisor_pid: int
    started_at: str
    broker_pid: int | None = None
    registry_pid: int | None = None
    endpoints: tuple[Endpoint, ...] = field(default_factory=tuple)
    web_url: str = ""  # the web console, when the stack runs one
    tls_ca: str = ""  # the CA the front doors' TLS certificates chain to ("" : plaintext gRPC)

    @property
    def regions(self) -> list[str]:
        return list(dict.fromkeys(e.region for e in self.endpoints))

    def address(self, region: str, service: str = "marriage") -> str:
        for endpoint in self.endpoints:
            if (endpoint.region, endpoint.service) == (region, service):
                return endpoint.address
        known = ", ".join(f"{e.region}/{e.service}" for e in self.endpoints) or "none"
        raise StackNotRunning(f"the stack on {self.data_dir} runs no {service} service for region {region} "
                              f"(it runs: {known})")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> StackInfo:
        raw: dict[str, Any] = json.loads(text)
        raw["endpoints"] = tuple(Endpoint(**e) for e in raw.get("endpoints", ()))
        return cls(**raw)


def stack_file(data_dir: Path) -> Path:
    return Path(data_dir) / STACK_FILE


def lock_file(data_dir: Path) -> Path:
    return Path(data_dir) / LOCK_FILE


def write_stack(data_dir: Path, info: StackInfo) -> None:
    """Replace the stack file in one rename, so a reader never sees half of it."""
    path = stack_file(data_dir)
    tmp = path.with_name(f".{STACK_FILE}.{os.getpid()}")
    tmp.write_text(info.to_json(), encoding="utf-8")
    os.replace(tmp, path)


def remove_stack(data_dir: Path) -> None:
    stack_file(data_dir).unlink(missing_ok=True)


def read_stack(data_dir: Path) -> StackInfo | None:
    try:
        return StackInfo.from_json(stack_file(data_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def supervisor_running(data_dir: Path) -> bool:
    """Whether a supervisor holds the data directory's lock (a shared lock cannot be had then)."""
    path = lock_file(data_dir)
    if not path.exists():
        return False
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def running_stack(data_dir: Path) -> StackInfo | None:
    """The stack running on `data_dir`, or None. A stack that is still starting has its lock but no
    stack file yet: None too."""
    if not supervisor_running(data_dir):
        return None
    return read_stack(data_dir)


def require_stack(data_dir: Path) -> StackInfo:
    info = running_stack(data_dir)
    if info is not None:
        return info
    if read_stack(data_dir) is not None:
        raise StackNotRunning(f"no stack is running on {data_dir}: its stack.json is left over from one that "
                              f"stopped without cleaning up. Start it with: tongban up --data {data_dir}")
    raise StackNotRunning(f"no stack is running on {data_dir}. Start one with: tongban up --data {data_dir} "
                          "(or give --address HOST:PORT)")


class DataDirLock:
    """The supervisor's exclusive hold on a data directory: two stacks on one directory would share
    SQLite stores, endpoint files and the clock."""

    def __init__(self, data_dir: Path) -> None:
        self.path = lock_file(data_dir)
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            message = (f"a stack is already running on {self.path.parent} (see {stack_file(self.path.parent)}); "
                       "stop it first, or use another --data")
            raise StackAlreadyRunning(message) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
