"""A service's region hosted in-process for the national-exchange tests: the service host
(services/host/) on a fake clock -- gRPC server, outbox relay and deadline scheduler threads, exactly
as `tongban serve` runs them -- and the host's own consumer (services/host/consuming.py) of the
topics it consumes, in its group, in batches, with its commits, on an event loop of a thread of its
own (`tongban serve` runs it on its main loop). What production runs, not a stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import grpc

from services.common.clock import FakeClock
from services.host import HostConfig, ServiceHost
from services.host.consuming import HostConsumer
from services.host.definition import ServiceDefinition
from tests.fixtures.trust import install_idp


@contextlib.contextmanager
def hosted_region(definition: ServiceDefinition, code: str, bootstrap: str, prefix: str, data_dir: Path,
                  start: datetime, *, partitions: int) -> Iterator[tuple[ServiceHost, FakeClock, grpc.Channel]]:
    """The region's host, its fake clock and a channel to its front door; its consumer runs until
    the block ends (a consumer that failed fails the test there)."""
    clock = FakeClock(start)
    config = HostConfig(region=code, kafka=bootstrap, data_dir=data_dir, topic_prefix=prefix,
                        partitions=partitions, relay_interval=0.05, scheduler_interval=0.1)
    install_idp(data_dir, code)
    host = ServiceHost(definition, config, clock=clock)
    host.prepare()
    host.start_background()
    channel = grpc.insecure_channel(f"127.0.0.1:{host.grpc_port}")
    consumer = HostConsumerThread(host.consumer(), name=f"exchange-{code}")
    try:
        yield host, clock, channel
    finally:
        try:
            consumer.stop()
        finally:
            channel.close()
            host.stop_background()
            host.close()


class HostConsumerThread:
    """A HostConsumer on an event loop of its own thread, as the host runs it on its main loop."""

    def __init__(self, consumer: HostConsumer, *, name: str = "host-consumer") -> None:
        self._consumer = consumer
        self._loop = asyncio.new_event_loop()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._consumer.run())
        except BaseException as exc:  # reported to the test by check()
            self._failure = exc

    def check(self) -> bool:
        """Raise what stopped the consumer, if it did; else False (so it reads as "not yet")."""
        if self._failure is not None:
            raise AssertionError(f"the consumer failed: {self._failure!r}") from self._failure
        return False

    def stop(self) -> None:
        """Stop it (the batch in hand is finished and committed first), then report a failure."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._consumer.stop)
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise AssertionError("the host's consumer did not stop within 30 s")
        self._loop.close()
        self.check()
