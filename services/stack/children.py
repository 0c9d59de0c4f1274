"""The processes `tongban up` supervises: spawned in their own process group with their output in a
log, tied to the supervisor's life (a child never outlives it, even after a kill -9 of the
supervisor), and stopped with SIGTERM, then SIGKILL."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Child:
    """One supervised process."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    region: str = ""
    service: str = ""
    address: str = ""
    expected_exit: bool = False  # set once the supervisor asked it to stop
    started_at: float = field(default_factory=time.monotonic)

    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def how_it_ended(self) -> str:
        """"exit code 1", "killed by SIGKILL" (or "running")."""
        code = self.process.poll()
        if code is None:
            return "running"
        if code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    def tail(self, lines: int = 15) -> str:
        """The end of its log (logs grow across restarts: only the last 64 KiB are read)."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 65536))
                text = log.read().decode("utf-8", errors="replace")
        except OSError as exc:
            return f"(log unreadable: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: the kernel sends SIGTERM to the child when the
    # supervisor dies (even by SIGKILL), so no service or broker outlives it.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def spawn(name: str, argv: Sequence[str], log_path: Path, *, env: dict[str, str] | None = None) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # PR_SET_PDEATHSIG fires when the spawning *thread* ends: only ask for it from the main thread.
    on_main = threading.current_thread() is threading.main_thread()
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env=env, process_group=0, preexec_fn=_die_with_parent if on_main and sys.platform == "linux" else None,
        )
    return Child(name, process, log_path)


def stop_child(child: Child, timeout: float) -> int | None:
    """SIGTERM, wait, then SIGKILL. Returns the exit code."""
    process = child.process
    if process.poll() is None:
        child.expected_exit = True
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=10)
    return process.returncode
