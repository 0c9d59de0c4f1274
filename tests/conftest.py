"""Shared fixtures: real PostgreSQL and Kafka brokers, started once per test session.

And the marker ``alone`` for the test modules that need the machine to themselves: `./dev test` runs
its sessions side by side (scripts/suite.py), then these in a session of their own."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.brokers",
    "tests.fixtures.stores",
]

_HERE = Path(__file__).parent
# The chaos test paces its writers and calls a run stuck when no case is decided for 90 s: on cores
# shared with other sessions, that measures the neighbours. The benchmarks check only the shape of
# their output, but their numbers are only worth printing from a machine that is not running anything else.
ALONE_MODULES: frozenset[Path] = frozenset(_HERE / name for name in (
    "integration/test_chaos.py",
    "integration/test_bench.py",
    "integration/test_bench_api.py",
    "integration/test_bench_registry.py",
    "integration/test_audit_bench.py",
    "integration/payments/test_payment_bench.py",
))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(item.path) in ALONE_MODULES:
            item.add_marker(pytest.mark.alone)
