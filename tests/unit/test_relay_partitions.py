"""The relay producer's murmur2 places every key where the Kafka clients place it (aiokafka's and
kafka-python's murmur2, the Java client's): a stream's events stay on the partition they always went to."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from services.common.relay_producer import murmur2


@settings(max_examples=2000)
@given(st.binary(max_size=200))
def test_murmur2_is_the_kafka_clients_hash(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


def test_known_placements() -> None:
    for key in [b"", b"a", b"ab", b"abc", b"abcd", "640000-婚姻-00001".encode(), b"x" * 1000]:
        assert murmur2(key) == aiokafka_murmur2(key) == kafka_python_murmur2(key) & 0xFFFFFFFF
