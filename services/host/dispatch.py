"""Dispatching one Kafka message to what a service wired for its topic, after the gate
(services/common/consumer.py, `MessageGate`) let it through: a message that is not intact or
not signed by whom it must be is recorded as rejected, with its reason, and goes no further.

- on a topic with a raw handler (e.g. `tongban.registry.decisions.v1`, whose messages are not
  stored-event envelopes): to that handler, which keeps its own inbox;
- otherwise: decode and verify the envelope, pick the reactions for its event type, let each
  one's `wants` filter it (nothing is recorded for a message a reaction does not want, not even
  an inbox row), and apply the reaction through `consume` (the inbox: exactly one effect however
  often the message arrives)."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.exc import OperationalError

from services.common.consumer import Headers, MessageGate, consume
from services.common.errors import ConcurrencyConflict, TongbanError
from services.common.store import EventStore
from services.host.definition import RawHandler, Reaction

log = logging.getLogger(__name__)

# A consumer hands over what a fetch brought, up to DISPATCH_BATCH messages of a topic at a time,
# and their transactions share commits (dispatch_batch).
DISPATCH_BATCH = 64


class Dispatcher:
    """Routes messages of (prefixed) topics. `reactions` are (topic, reaction) pairs;
    `raw_signers` names, for each raw topic, the one speaker that may send on it and what for
    (e.g. the decisions topic: the registry, "registry-decision"); `raw_skips` names, for a raw
    topic, the messages that, once their signature is checked, need no handling here
    (registry/topics.py, redundant_on_the_national_record)."""

    def __init__(self, store: EventStore, reactions: Sequence[tuple[str, Reaction]],
                 raw_handlers: Mapping[str, RawHandler], stop: threading.Event, *,
                 gate: MessageGate | None = None, raw_signers: Mapping[str, tuple[str, str]] | None = None,
                 raw_skips: Mapping[str, Callable[[bytes], bool]] | None = None) -> None:
        self.store = store
        self._raw_skips = dict(raw_skips or {})  # see the class docstring
        self.gate = gate or MessageGate(store, None)
        self._raw_signers = dict(raw_signers or {})
        self._raw = dict(raw_handlers)
        self._stop = stop
        self._by_topic_type: dict[tuple[str, str], list[Reaction]] = defaultdict(list)
        for topic, reaction in reactions:
            for event_type in reaction.event_types:
                self._by_topic_type[(topic, event_type)].append(reaction)

    def dispatch(self, topic: str, key: bytes | None, value: bytes, headers: Headers) -> None:
        """Handle one message of `topic`. Never raises for a bad message: it is logged and skipped,
        and stays unprocessed in the inbox, so a republish brings it back."""
        raw = self._raw.get(topic)
        if raw is not None:
            if not self._raw_trusted(topic, value, headers):
                return  # refused and recorded, whatever it says (a forgery leaves its trace)
            skip = self._raw_skips.get(topic)
            if skip is not None and skip(value):
                return
            self._guarded(f"raw message on {topic}", lambda: raw(key, value, headers))
            return
        event = self.gate.envelope(topic, value)
        if event is None:
            return
        for reaction in self._by_topic_type.get((topic, event.type), ()):
            try:
                if reaction.wants is not None and not reaction.wants(event):
                    continue
            except TongbanError as refused:  # e.g. a hand-off whose declared sender did not send it
                self.gate.reject(topic, value, str(refused), event=event)
                continue
            what = f"{event.type} {event.event_id} ({reaction.name})"
            applied = self._guarded(what, lambda r=reaction: consume(self.store, r.name, value, headers, r.handle,
                                                                     verified=event))
            if applied is not None:
                log.info("%s %s", "applied" if applied else "duplicate", what)

    def dispatch_batch(self, topic: str, messages: Sequence[tuple[bytes | None, bytes, Headers]]) -> None:
        """`dispatch` each message in order, their transactions sharing commits (EventStore.deferred);
        returns once all of it is committed. A commit per message held a region to ~280 registry
        decisions/s after a burst of registrations (issue 15)."""
        with self.store.deferred():
            for key, value, headers in messages:
                self.dispatch(topic, key, value, headers)

    def _raw_trusted(self, topic: str, value: bytes, headers: Headers) -> bool:
        signer = self._raw_signers.get(topic)
        if signer is None:
            if self.gate.keys is None:
                return True
            self.gate.reject(topic, value, "nobody is trusted to send on this topic")
            return False
        speaker, purpose = signer
        return self.gate.message(topic, value, headers, speaker=speaker, purpose=purpose)

    def _guarded(self, what: str, work: Callable[[], Any]) -> Any:
        """Run `work`, retrying what a retry can fix: a version conflict with a concurrent writer
        (a few times), a database that went away (until it is back, or the host stops). A message
        refused by the protocol, or a bug, is logged and skipped; returns None then."""
        conflicts = 0
        delay = 0.1
        while True:
            try:
                return work()
            except ConcurrencyConflict as conflict:
                conflicts += 1
                if conflicts >= 10:
                    log.error("skipping %s: still conflicting after %d attempts: %s", what, conflicts, conflict)
                    return None
            except OperationalError:
                log.warning("database unavailable while handling %s; retrying in %.1fs", what, delay, exc_info=True)
                if self._stop.wait(delay):
                    raise
                delay = min(delay * 2, 5.0)
            except TongbanError as refused:
                log.warning("rejected %s: %s", what, refused)
                return None
            except Exception:
                log.exception("skipping %s: unexpected error", what)
                return None
