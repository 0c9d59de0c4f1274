"""faust's aiokafka transport, with consumers that wait at most FETCH_MAX_WAIT_MS for a fetch.

Why: faust-streaming 0.15.3 builds its consumer with ``fetch_max_wait_ms=1500`` (hard-coded), and
the development broker (tansu 0.6) answers a fetch over several partitions only when that time is
up, not when a record arrives (one partition it answers at once): measured, a message on an
8-partition topic was read 2-1,400 ms after it was sent with 1,500 ms, 4-52 ms with 100 ms. Each
hop of a registration's registry round trip (service topic → forwarder → claims topic → decide →
the region's decisions topic → its consumer) paid up to that wait. Apache Kafka answers as soon
as a record arrives, so there this only bounds an idle consumer's fetch rate (1 / FETCH_MAX_WAIT_MS).

`create_app` (faust_app.py) names this transport by its scheme for the consumer only; the
producer is faust's own."""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as driver

from services.common.kafka_settings import FETCH_MAX_WAIT_MS

SCHEME = "tongban-kafka"


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka hands this to its fetcher in start(), which runs after this: the one way to
        # change a value faust does not let its settings reach.
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(driver.Transport):
    Consumer = _Consumer


def consumer_url(bootstrap: str) -> str:
    """faust's ``broker_consumer`` setting for `bootstrap` (``host:port[,host:port]``), naming this
    transport (registered on first use)."""
    TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")
    return ",".join(f"{SCHEME}://{server}" for server in bootstrap.split(","))
