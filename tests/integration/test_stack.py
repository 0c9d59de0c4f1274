"""`tongban up` as an operator runs it: one command brings up the broker, the registry and every
region's services and prints their endpoints; Ctrl-C takes all of it down (a part that dies is
restarted: test_stack_supervisor.py). Each test runs its own local broker through `up`, independent of
the session broker. A restart on a fresh broker is tested on the demo's data (test_demo.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from services.common.identity.citizen_id import make_citizen_id
from services.common.readiness import consuming
from services.common.registry.worker.settings import CONSUMING_FILE
from services.common.trust.signin import login
from services.stack.config import REGISTRY_DATADIR
from services.stack.probes import serving as _serving
from services.stack.probes import web_answers
from services.stack.stackfile import StackInfo, read_stack, running_stack
from tests.support import wait_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
CLERK = {"TONGBAN_CLERK": "c-07", "TONGBAN_REGION": "640000"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TONGBAN_KAFKA", "TONGBAN_TOPIC_PREFIX")}
    return {**env, **extra}


def stack_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.stack.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env or _env())


@contextlib.contextmanager
def up(data: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], StackInfo, Path]]:
    """`up` in a child process, until its stack file says it serves; SIGINT on the way out."""
    log = data.parent / f"{data.name}-up-{len(list(data.parent.glob(f'{data.name}-up-*')))}.out"
    with log.open("w") as out:
        # A free port for the web console: 8080 may be anyone's on a shared machine.
        process = subprocess.Popen([sys.executable, "-m", "services.stack.cli", "up", "--data", str(data),
                                    "--web-port", "0", *args],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        def started() -> StackInfo | None:
            assert process.poll() is None, f"up exited with {process.returncode}:\n{log.read_text()}"
            # The stack file comes first (the web console reads it as it starts); "ready" comes last.
            return running_stack(data) if "ready in" in log.read_text() else None

        info = wait_until(started, timeout=120, interval=0.2, what="the stack to serve")
        yield process, info, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for good; only its parent has not collected it yet.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _children(info: StackInfo) -> list[int]:
    return [pid for pid in (info.broker_pid, info.registry_pid, *(e.pid for e in info.endpoints)) if pid]


def _console_pids(data: Path) -> list[int]:
    """The web console processes serving `data` (`services.cli web --data DATA`)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if b"web" in argv and str(data).encode() in argv and _alive(int(proc.name)):
                found.append(int(proc.name))
    return found


def _window(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    login(data, "640000", office="640104-MRO-01", clerk_id="c-07", roles=["registrar"])
    return stack_cli("window", "marriage", *args, "--data", str(data), env=_env(**CLERK))


def test_up_serves_every_region_and_ctrl_c_stops_every_part_in_order(tmp_path: Path) -> None:
    data = tmp_path / "data"
    husband = make_citizen_id("640104", date(1990, 1, 5), 101)
    wife = make_citizen_id("640104", date(1992, 3, 7), 102)
    with up(data, "--regions", "640000,510000", "--services", "marriage") as (process, info, log):
        assert {(e.region, e.service) for e in info.endpoints} == {("640000", "marriage"), ("510000", "marriage")}
        assert all(_serving(e.address) for e in info.endpoints), "every endpoint answers the health service"
        printed = log.read_text()
        assert all(e.address in printed for e in info.endpoints), "the endpoints are printed"
        second = stack_cli("up", "--data", str(data), "--regions", "640000", "--web-port", "0")
        assert second.returncode == 1 and "already running" in second.stderr, "one stack per data directory"

        married = _window(data, "register", husband, "张三", wife, "李四")
        assert married.returncode == 0, married.stderr
        assert "REGISTERED" in married.stdout and "结婚证 J640104-MRO-01-" in married.stdout
        children = _children(info)

        # The console is a child like the others: killed, it comes back on the URL clerks have open.
        [console] = _console_pids(data)
        os.kill(console, signal.SIGKILL)
        wait_until(lambda: [p for p in _console_pids(data) if p != console] and web_answers(info.web_url),
                   timeout=60, interval=0.2, what="the web console back on its URL")
        assert "web" in log.read_text().split("ready in", 1)[1], "the restart is logged"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    assert not [pid for pid in children if _alive(pid)], "broker, registry and services are all gone"
    assert read_stack(data) is None, "a stopped stack leaves no stack file behind"
    output = log.read_text()
    assert "stopping services, registry, broker" in output and "tongban up: stopped" in output


def test_up_says_ready_only_once_the_registry_and_the_services_consume(tmp_path: Path) -> None:
    """What a clerk notices: the first registration after `up` says ready is decided as it is made,
    rather than sitting in awaiting_registry while the consumer groups form (seconds on the local
    broker). `up` waits for the marker each worker writes once its partitions are assigned."""
    data = tmp_path / "data"
    with up(data, "--regions", "640000", "--services", "marriage") as (process, info, log):
        [endpoint] = info.endpoints
        assert info.registry_pid is not None
        # The markers of the very processes `up` started, there when it said ready.
        assert consuming(data / REGISTRY_DATADIR / CONSUMING_FILE, info.registry_pid), "the registry consumes"
        assert consuming(data / "640000" / "marriage.consuming", endpoint.pid), "the service consumes"
        printed = log.read_text()
        assert printed.index("consumers all have their partitions") < printed.index("ready in"), printed
        husband = make_citizen_id("640104", date(1988, 6, 1), 201)
        wife = make_citizen_id("640104", date(1989, 7, 2), 202)
        # A generous deadline, not a measure of speed: the answer waits for the decision.
        married = _window(data, "register", husband, "王五", wife, "赵六", "--wait", "30")
        assert married.returncode == 0, married.stderr
        assert "REGISTERED" in married.stdout, married.stdout
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    assert not (data / REGISTRY_DATADIR / CONSUMING_FILE).exists(), "a stopped worker takes its marker away"
    assert not (data / "640000" / "marriage.consuming").exists()
