"""The host's relay thread: publish what the store commits, check now and then that the broker
still holds the store's events (refill.py), and send again the claims whose answer never came
(registry/resend.py). One thread, so the producer is only ever used from it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from services.common.registry.resend import ClaimResender
from services.common.relay import OutboxRelay
from services.common.relay_producer import relay_producer
from services.common.store import EventStore
from services.host.refill import refill_if_broker_lost

log = logging.getLogger(__name__)


@dataclass
class RelayLoop:
    store: EventStore
    relay: OutboxRelay
    kafka: str
    partitions: int
    resender: ClaimResender | None
    relay_interval: float
    refill_check_interval: float
    resend_check_interval: float

    def run(self, stop: threading.Event) -> None:
        """Until `stop` is set. Errors are logged and retried with a new producer: the cursor only
        moves after the broker acknowledged, so a retry never loses an event."""
        store, relay = self.store, self.relay
        next_check = time.monotonic() + self.refill_check_interval
        next_resend = time.monotonic() + self.resend_check_interval
        while not stop.is_set():
            try:
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + self.refill_check_interval
                    refill_if_broker_lost(store, relay, self.kafka, partitions=self.partitions)
                if self.resender is not None and time.monotonic() >= next_resend:
                    next_resend = time.monotonic() + self.resend_check_interval
                    self.resender.sweep()  # on this thread: it publishes through the relay's producer
                store.committed.clear()  # before reading: a commit from here on wakes the wait below
                if relay.publish_pending():
                    continue
            except Exception:
                log.exception("relay %s failed; retrying with a new producer", relay.name)
                self.renew_producer()
            store.committed.wait(self.relay_interval)  # a commit, or the interval (stop, checks)

    def renew_producer(self) -> None:
        """Replace the relay's producer. An idempotent producer whose broker restarted empty asks
        for a new producer id and, refused (tansu answers InitProducerId with UnknownError), stays
        in a fatal state for good; a fresh one starts clean."""
        old = self.relay.producer
        try:
            self.relay.producer = relay_producer(self.kafka)
        except Exception:
            log.exception("relay %s: cannot create a producer yet", self.relay.name)
            return
        try:
            old.close(timeout=0)
        except Exception:
            log.debug("closing the failed producer failed", exc_info=True)
