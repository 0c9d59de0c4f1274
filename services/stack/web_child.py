"""The web console as a child of `tongban up`: started last, once the stack file names every
endpoint (the console reads it to find the services), on a fixed port or a free one, and restarted
on the same port so the URL a clerk has open stays right."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

from services.stack.children import Child, spawn
from services.stack.probes import free_port, port_free, web_answers


class WebConsoleChild:
    def __init__(self, data_dir: Path, logs_dir: Path, port: int, env: Callable[[], dict[str, str]]) -> None:
        self.data_dir, self.logs_dir, self.env = data_dir, logs_dir, env
        self.port = port or free_port()  # 0: a free port, kept across restarts
        self.child: Child | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.logs_dir / "web.log"

    def spawn(self, *, restart: bool = False) -> Child:
        """Start the console; on a restart the port is its own (the dead console's), not checked."""
        if not restart and not port_free(self.port):
            raise PortInUse(f"port {self.port} for the web console is in use: give --web-port N "
                            "(0 picks a free port) or --no-web")
        argv = [sys.executable, "-m", "services.cli", "web", "--data", str(self.data_dir),
                "--host", "127.0.0.1", "--port", str(self.port)]
        self.child = spawn("web", argv, self.log_path, env=self.env())
        return self.child

    def wait_until_answering(self, timeout: float, problem: Callable[[], str | None]) -> str:
        """The URL once the console answers; raises with `problem()` (a child of the stack that
        died meanwhile) or on the deadline."""
        deadline = time.monotonic() + timeout
        while not web_answers(self.url):
            found = problem()
            if found:
                raise ConsoleNotAnswering(found)
            if time.monotonic() > deadline:
                raise ConsoleNotAnswering(f"the web console does not answer on {self.url}; log {self.log_path}")
            time.sleep(0.2)  # polling a child process that has no other way to tell us
        return self.url


class ConsoleNotAnswering(RuntimeError):
    """The console did not come up."""


class PortInUse(ConsoleNotAnswering):
    """The port asked for is taken."""
