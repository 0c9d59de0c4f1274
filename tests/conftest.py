"""Shared fixtures: real PostgreSQL and Kafka brokers, started once per test session."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.brokers",
    "tests.fixtures.stores",
]
