"""`tongban up` heals itself (services/stack/supervisor.py): a child killed with SIGKILL is reported and
started again while the rest keeps running, a restarted service's new endpoint is in the stack file,
cases survive and new ones are decided; a child that cannot start makes `up` give up instead of
looping. Each stack test runs its own `up` (and local broker) in a child process, as an operator
would; the backoff rule itself is tested without processes first."""

from __future__ import annotations

import itertools
import os
import random
import signal
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from services.common.identity.citizen_id import make_citizen_id
from services.stack.probes import serving as _serving
from services.stack.restart import RestartPolicy, RestartState
from services.stack.stackfile import StackInfo, read_stack
from tests.integration.test_stack import _alive, _children, _window, up
from tests.support import wait_until

_sequences = itertools.count(random.randrange(0, 300) * 2 + 1, 2)


def _couple() -> tuple[str, str]:
    """A fresh man and woman (odd sequence codes are men, even ones women)."""
    base = next(_sequences) % 996
    born = date(1985 + base % 9, 1 + base % 12, 1 + base % 28)
    return make_citizen_id("640104", born, base), make_citizen_id("640104", born, base + 1)


def _register(data: Path) -> str:
    husband, wife = _couple()
    married = _window(data, "register", husband, "张三", wife, "李四")
    assert married.returncode == 0, married.stdout + married.stderr
    assert "REGISTERED" in married.stdout, married.stdout
    return married.stdout.split()[0]


def _stack_with(data: Path, changed: Callable[[StackInfo], bool]) -> StackInfo | None:
    info = read_stack(data)
    return info if info is not None and changed(info) else None


# -- the rule, without processes -------------------------------------------------------------------


def test_backoff_doubles_to_its_cap_and_starts_over_after_a_stable_run() -> None:
    state = RestartState(RestartPolicy(first_delay=0.5, max_delay=4, stable_after=60, quick=10, give_up_after=5))
    delays = [state.died(uptime=20).delay for _ in range(6)]
    assert delays == [0.5, 1, 2, 4, 4, 4], "doubling, capped; runs past `quick` never give up"
    assert state.died(uptime=61).delay == 0.5, "a child that stayed up long enough is healthy again"
    assert state.died(uptime=20).delay == 1


def test_five_quick_deaths_in_a_row_give_up_and_a_longer_run_resets_the_count() -> None:
    state = RestartState(RestartPolicy(quick=10, give_up_after=5))
    assert not any(state.died(uptime=1).give_up for _ in range(4))
    assert not state.died(uptime=30).give_up, "a run that lasted resets the count"
    verdicts = [state.died(uptime=2) for _ in range(5)]
    assert [v.give_up for v in verdicts] == [False] * 4 + [True]
    assert verdicts[-1].failed_starts == 5


# -- a running stack -------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_killed_service_comes_back_on_a_new_endpoint_with_its_cases(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with up(data, "--regions", "640000", "--services", "marriage") as (process, info, log):
        [before] = info.endpoints
        case = _register(data)
        registry_pid = info.registry_pid

        os.kill(before.pid, signal.SIGKILL)
        after = wait_until(lambda: _stack_with(data, lambda i: i.endpoints[0].pid != before.pid),
                           timeout=45, interval=0.2, what="the stack file to show the restarted service")
        [endpoint] = after.endpoints
        assert endpoint.address != before.address and _serving(endpoint.address)
        assert after.registry_pid == registry_pid, "the rest kept running"

        shown = _window(data, "case", "show", case)
        assert shown.returncode == 0 and case in shown.stdout, "a case from before the kill is still there"
        _register(data)  # and a new one is decided by the registry
        # Said once its group gave it its partitions, as `up` waits for them at the start.
        wait_until(lambda: "tongban up: marriage 640000 consumes again" in log.read_text(), timeout=30,
                   what="the supervisor to say the restarted service consumes again")
        assert process.poll() is None
    output = log.read_text()
    assert f"marriage 640000 (pid {before.pid}) died: killed by SIGKILL" in output
    assert str(data / "logs" / "640000-marriage.log") in output, "the report points at the child's log"
    assert f"marriage 640000 is back: gRPC on {endpoint.address}" in output
    assert process.returncode == 0 and not [pid for pid in _children(after) if _alive(pid)]


@pytest.mark.slow
def test_a_killed_registry_worker_comes_back_and_registrations_still_complete(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with up(data, "--regions", "640000", "--services", "marriage") as (_process, info, log):
        _register(data)
        assert info.registry_pid is not None
        os.kill(info.registry_pid, signal.SIGKILL)
        after = wait_until(lambda: _stack_with(data, lambda i: i.registry_pid != info.registry_pid),
                           timeout=30, interval=0.2, what="the stack file to show the restarted registry")
        assert after.endpoints == info.endpoints, "the services kept running"
        _register(data)
        wait_until(lambda: "tongban up: registry consumes again" in log.read_text(), timeout=30,
                   what="the supervisor to say the restarted registry consumes again")
    output = log.read_text()
    assert f"registry (pid {info.registry_pid}) died: killed by SIGKILL" in output
    assert f"registry started again (pid {after.registry_pid})" in output


@pytest.mark.slow
def test_a_service_that_cannot_start_again_makes_up_give_up_with_its_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with up(data, "--regions", "640000", "--services", "marriage") as (process, info, log):
        [service] = info.endpoints
        store = data / "640000" / "marriage.db"
        garbage = store.with_name("garbage.db")
        garbage.write_bytes(random.randbytes(8192))
        os.replace(garbage, store)  # the running service keeps the old file; a new one cannot open this
        for journal in ("-wal", "-shm"):  # (nor read its first page from the old write-ahead log)
            store.with_name(store.name + journal).unlink(missing_ok=True)
        os.kill(service.pid, signal.SIGKILL)
        # A deadline, not a pause: five starts of a service (an interpreter each) and 7.5 s of backoff took
        # 87 s on 2 cores at load 11 (other sessions running beside this one), 22 s at load 6.
        assert process.wait(timeout=150) == 1, "up gives up rather than loop for ever"
    output = log.read_text()
    assert "tongban up: marriage 640000 cannot start: it ended 5 times in a row within 10s of starting" in output
    assert "file is not a database" in output, "the log's tail says why"
    assert str(data / "logs" / "640000-marriage.log") in output
    assert not [pid for pid in _children(info) if _alive(pid)], "everything else was stopped"
    assert read_stack(data) is None


@pytest.mark.slow
def test_a_killed_local_broker_comes_back_on_its_address_and_the_stack_with_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with up(data, "--regions", "640000", "--services", "marriage") as (process, info, log):
        case = _register(data)
        assert info.broker_pid is not None
        os.kill(info.broker_pid, signal.SIGKILL)

        def restarted(i: StackInfo) -> bool:
            return i.broker_pid != info.broker_pid and i.endpoints[0].pid != info.endpoints[0].pid
        after = wait_until(lambda: _stack_with(data, restarted), timeout=50, interval=0.2,
                           what="the stack file to show the restarted broker and service")
        assert after.kafka == info.kafka, "the broker keeps its address"
        assert after.registry_pid != info.registry_pid, "the registry was restarted on the empty broker"
        wait_until(lambda: _serving(after.endpoints[0].address), timeout=30, what="the service to serve")

        shown = _window(data, "case", "show", case)
        assert shown.returncode == 0 and case in shown.stdout
        _register(data)  # the registry kept its records in its own store, the store refilled the broker
        for child in ("registry", "marriage 640000"):
            wait_until(lambda c=child: f"tongban up: {c} consumes again" in log.read_text(), timeout=30,
                       what=f"the supervisor to say the restarted {child} consumes again")
        assert process.poll() is None
    output = log.read_text()
    assert f"broker (pid {info.broker_pid}) died: killed by SIGKILL" in output
    assert f"broker is back on {info.kafka}" in output
