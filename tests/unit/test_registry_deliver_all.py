"""The worker's acknowledged sends (registry/worker/forwarder.py, `deliver_all`): a batch's messages
leave in order and the call returns only once every one is acknowledged; what the broker did not
acknowledge is sent again, in order, with everything after it (at-least-once; the readers take a
repeat as a repeat). A fake topic: no broker in unit tests."""

from __future__ import annotations

import asyncio
from typing import Any

from services.common.registry.worker.forwarder import Outgoing, deliver_all


class _Topic:
    """Records what is enqueued; refuses the acknowledgement of the values in `refuse` once."""

    def __init__(self, refuse: frozenset[bytes] = frozenset()) -> None:
        self.sent: list[bytes] = []
        self._refuse = set(refuse)

    def get_topic_name(self) -> str:
        return "claims"

    async def send(self, *, key: bytes, value: bytes, headers: Any) -> asyncio.Future[None]:
        self.sent.append(value)
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if value in self._refuse:
            self._refuse.discard(value)
            ack.set_exception(ConnectionError("the broker went away"))
        else:
            ack.set_result(None)
        return ack


def _messages(topic: _Topic, count: int) -> list[tuple[Any, Outgoing]]:
    return [(topic, Outgoing(b"person", f"input-{n}".encode(), [])) for n in range(count)]


def test_a_batch_of_decisions_leaves_in_order_each_once_when_the_broker_takes_them() -> None:
    """DecisionsAreIdempotent does not excuse reordering: one person's inputs and decisions keep
    their order on their partition (Tongban invariant 5, a single writer per person, in order)."""
    topic = _Topic()
    asyncio.run(deliver_all(_messages(topic, 4)))
    assert topic.sent == [b"input-0", b"input-1", b"input-2", b"input-3"]


def test_a_message_the_broker_did_not_acknowledge_is_sent_again_with_those_after_it() -> None:
    """At-least-once (invariant 1): the call returns only when everything is acknowledged; the
    refused message and every later one go again, in order, so the last copy of each is in order."""
    topic = _Topic(refuse={b"input-1"})
    asyncio.run(deliver_all(_messages(topic, 4)))
    assert topic.sent == [b"input-0", b"input-1", b"input-2", b"input-3", b"input-1", b"input-2", b"input-3"]


def test_nothing_to_send_returns_at_once() -> None:
    asyncio.run(deliver_all([]))
