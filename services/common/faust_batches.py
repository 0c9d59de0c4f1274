"""A faust stream's messages in batches, taken the way a consumer under load and an idle one both
want: sleep until a message comes, then take what comes with it, for at most `within` seconds.

Why not faust's own `Stream.noack_take(max_, within)`: it wakes every `within` seconds whether or
not anything came, and each wake-up builds and cancels waiter tasks. With a 10 ms window and one
agent per topic, a marriage service spent ~0.12 of a core on those wake-ups alone, idle or not
(py-spy of `tongban bench api`: 40% of its GIL time during the `Check` phase, when no message came;
a quarter during a burst of registrations). Here an agent wakes once per batch.

This is faust 0.15.3's `noack_take` (faust-streaming, pinned in pyproject.toml) with that one
change, on the same stream hooks: a processor fills the buffer while the stream is consumed
passively, the buffer stops growing while the caller holds a batch, and nothing is acknowledged:
the caller acks each event once what it did is committed.

Nothing in the services reads this way any more: the hosts read with one plain aiokafka consumer
(services/host/consuming.py; issue 15's seventh pass), and so does the registry worker (eighth
pass). `tongban bench consumers` keeps it as the baseline those consumers are measured against."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from mode.utils.futures import notify

# How long a batch waits for one more message before it goes (see `batches`).
QUIET = 0.002


async def batches(stream: Any, max_: int, within: float) -> AsyncIterator[list[Any]]:
    """The stream's events (faust `EventT`s, not acknowledged), at most `max_` at a time: the ones
    that came with the first (none more for QUIET seconds), within `within` seconds of it."""
    buffer: list[Any] = []
    arrived = asyncio.Event()  # the buffer holds a first event
    consumed = asyncio.Event()
    consuming: asyncio.Future[Any] | None = None  # while the caller holds a batch

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("a batch found the stream's current event missing")
            buffer.append(event)
            arrived.set()
            if len(buffer) >= max_:
                consumed.clear()
                await stream.wait(consumed)  # never more than max_ in one batch
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            stream.log.exception("Error adding to a batch: %r", exc)
            await stream.crash(exc)
        return value

    enable_acks = stream.enable_acks
    stream.enable_acks = False  # the caller acks, after its commit
    stream.add_processor(add_to_buffer)
    stream._enable_passive(aiter(stream.channel))
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(arrived)  # idle: no timer, no wake-up
            if not buffer:
                continue  # stopping
            # The rest of what came with it: the messages of one fetch follow each other within a
            # few loop turns, so the batch is in once QUIET passes without one (a lone message
            # waits QUIET, not all of `within`); a steady stream fills it for at most `within`.
            deadline = stream.loop.time() + within
            while len(buffer) < max_ and not stream.should_stop:
                before = len(buffer)
                await asyncio.sleep(min(QUIET, max(0.0, deadline - stream.loop.time())))
                if len(buffer) == before or stream.loop.time() >= deadline:
                    break
            consuming = stream.loop.create_future()
            try:
                yield list(buffer)
            finally:
                buffer.clear()
                arrived.clear()
                notify(consuming)  # an event that came meanwhile goes into the next batch
                consumed.set()
    finally:
        stream.enable_acks = enable_acks
        stream._processors.remove(add_to_buffer)
