"""The child-process plumbing both brokers we start share (LocalBroker and ApacheKafka): free
ports, spawning with the broker's log, waiting until it answers Kafka requests, stopping it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path


class BrokerStartError(RuntimeError):
    """A broker child process did not come up; the message carries the tail of its log."""


def free_ports(count: int = 1) -> list[int]:
    """Ask the kernel for ``count`` distinct free loopback ports.

    All sockets are held open until every port is chosen, so the ports differ from each other. Another
    process can still grab one before the broker binds it; callers retry on "address in use".
    """
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def log_tail(path: Path, lines: int = 40) -> str:
    """Last ``lines`` lines of a log file, for error messages (never raises)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<log {path} unreadable: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def log_says_address_in_use(path: Path) -> bool:
    """True when a broker died because its port was taken between choosing and binding it."""
    text = log_tail(path, lines=400).lower()
    return "address already in use" in text or "bindexception" in text or "addrinuse" in text


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: ask Linux to SIGTERM the broker when its parent dies, so a
    # killed test run cannot leave a broker (and, for Kafka, half a gigabyte of heap) behind.
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def spawn(args: list[str], log_path: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start a broker process with stdout+stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # PR_SET_PDEATHSIG fires when the spawning *thread* exits, not the process; only the main thread lives
    # as long as the process, so from any other thread we go without it rather than lose the broker early.
    pdeathsig = sys.platform == "linux" and threading.current_thread() is threading.main_thread()
    with log_path.open("ab") as log:
        return subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=None if env is None else dict(env),
            preexec_fn=_die_with_parent if pdeathsig else None,
        )


def wait_until_answers(
    bootstrap: str,
    proc: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
    what: str,
    *,
    client_config: Mapping[str, object] | None = None,
) -> None:
    """Return once the broker answers a Kafka metadata request; BrokerStartError on early exit or timeout.

    An open port is not enough (Kafka binds before it can serve metadata), so the check is a real
    kafka-python ``list_topics`` round trip; ``client_config`` carries the credentials a secured broker wants.
    """
    from kafka import KafkaAdminClient  # kafka-python is slow to import; only brokers we start need it

    host, _, port = bootstrap.rpartition(":")
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        code = proc.poll()
        if code is not None:
            raise BrokerStartError(
                f"{what} exited with code {code} before answering on {bootstrap}; log {log_path}:\n{log_tail(log_path)}"
            )
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrokerStartError(
                f"{what} did not answer Kafka requests on {bootstrap} within {timeout:.0f}s "
                f"(last error: {last_error!r}); log {log_path}:\n{log_tail(log_path)}"
            )
        try:
            # A cheap TCP probe first: a kafka-python client against a closed port waits out its whole
            # bootstrap timeout, which would make this loop slow to notice an early exit.
            socket.create_connection((host, int(port)), timeout=min(1.0, remaining)).close()
            per_try_ms = int(max(0.5, min(5.0, remaining)) * 1000)
            admin = KafkaAdminClient(
                **(client_config or {}),
                bootstrap_servers=bootstrap,
                client_id="tongban-broker-probe",
                bootstrap_timeout_ms=per_try_ms,
                request_timeout_ms=per_try_ms,
            )
            try:
                admin.list_topics()
            finally:
                admin.close()
            return
        except Exception as exc:  # any failure just means "not yet"; the deadline decides
            last_error = exc
        # Library code polling a child process with a deadline; nothing to wait on but the socket.
        time.sleep(0.1)


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL. Returns the exit code (None if no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Last resort: the broker ignored SIGTERM or hangs in shutdown.
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return proc.returncode


@contextlib.contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall-clock seconds a ``with`` block takes into ``timings[name]``."""
    started = time.monotonic()
    try:
        yield
    finally:
        timings[name] = round(time.monotonic() - started, 3)
