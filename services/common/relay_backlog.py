"""Topics the outbox relay could not make yet, and the messages it owes them.

Why: a hand-off message also goes to its addressee's hand-off topic (handoff/topics.py), which the
relay makes on first use when an admin has not made it. If it cannot -- the ACLs refuse CREATE on
Apache Kafka, a slow controller does not answer -- waiting for that one topic would hold back every
later event of the store on every topic. So such a topic is set aside: the relay goes on publishing
everything else, and records in the store (`relay_backlogs`, one row per topic) the log position
after which that topic's messages are owed. It tries to make the topic again between batches,
pausing longer after each failure, and once the topic exists sends it the owed messages, in log
order, before the relay's main path uses it again.

An attempt runs on the relay's thread and lasts as long as `prepare` takes: the host bounds it
(PREPARE_TIMEOUT, 5 s), and the growing pause (1 s doubling to 60 s) keeps a broker that never
answers from costing more than one such wait a minute. Attempts on a thread of their own would not
hold the relay even that long; they were left out for simplicity (one thread touches the producer).

At-least-once: the row is written before the relay's cursor moves past the first message left out,
moves forward only as owed messages are acknowledged, and is deleted once all of them are; a crash
replays from the row. Order: while a topic is set aside nothing else sends to it; the replay walks
the log in order up to the relay's saved cursor, and only then does the main path take the topic up
again, from that cursor. A set-aside topic's messages reach it later than their copies reach the
events topic; nothing orders two topics anyway.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from sqlalchemy import BigInteger, Column, MetaData, String, Table, delete, insert, select, update

from services.common.events import RecordedEvent, to_micros
from services.common.store import EventStore
from services.common.store.engine import WRITE

log = logging.getLogger("services.common.relay")

TABLES = MetaData()
relay_backlogs = Table(
    "relay_backlogs", TABLES,
    Column("relay", String(100), primary_key=True),
    Column("topic", String(249), primary_key=True),  # Kafka's longest topic name
    # The log position after which this topic's messages are owed.
    Column("position", BigInteger, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False),
)

# How long a relay waits for a hand-off topic to be made before it sets it aside and goes on with the
# others (the host passes it to ensure_topics); a healthy broker takes well under a second.
PREPARE_TIMEOUT = 5.0
FIRST_PAUSE = 1.0
MAX_PAUSE = 60.0

Send = Callable[[str, list[RecordedEvent]], None]  # to one topic, returns once acknowledged


class TopicBacklog:
    """The set-aside topics of one relay (see the module docstring)."""

    def __init__(self, store: EventStore, relay: str, prepare: Callable[[list[str]], None], *,
                 first_pause: float = FIRST_PAUSE, max_pause: float = MAX_PAUSE) -> None:
        store.ensure_tables(TABLES)
        self._store, self._relay, self._prepare = store, relay, prepare
        self._first_pause, self._max_pause = first_pause, max_pause
        self._lock = threading.Lock()  # republish_from may rewind from another thread
        with store.engine.connect() as conn:
            rows = conn.execute(select(relay_backlogs.c.topic, relay_backlogs.c.position)
                                .where(relay_backlogs.c.relay == relay)).all()
        self._owed: dict[str, int] = {row.topic: int(row.position) for row in rows}
        self._next_try: dict[str, float] = dict.fromkeys(self._owed, 0.0)  # after a restart: at once
        self._pause: dict[str, float] = {}
        for topic, position in self._owed.items():
            log.warning("relay %s: topic %s is still owed its messages after log position %d; "
                        "trying to make it again", relay, topic, position)

    def owed(self) -> dict[str, int]:
        """Each set-aside topic and the log position after which its messages are owed."""
        with self._lock:
            return dict(self._owed)

    def prepare(self, topics: Sequence[str], after: int) -> set[str]:
        """Make `topics` ready for a batch of events after log position `after`; returns those that
        are. Any other is (or stays) set aside, owed its messages after `after`."""
        with self._lock:
            fresh = [t for t in dict.fromkeys(topics) if t not in self._owed]
        if not fresh:
            return set()
        try:
            self._prepare(fresh)  # all at once, as usual
            return set(fresh)
        except Exception as exc:
            if len(fresh) == 1:
                self._set_aside(fresh[0], after, repr(exc))
                return set()
        ready: set[str] = set()
        for topic in fresh:  # one at a time: which of them cannot be made
            try:
                self._prepare([topic])
            except Exception as exc:
                self._set_aside(topic, after, repr(exc))
            else:
                ready.add(topic)
        return ready

    def catch_up(self, upto: int, send: Send, destinations: Callable[[RecordedEvent], Sequence[str]],
                 batch_size: int = 500) -> list[str]:
        """For every set-aside topic that could be made by now, send its owed messages up to log
        position `upto` (the relay's saved cursor) and stop owing; returns those topics. A topic
        that still cannot be made is tried again after its pause; nothing here raises."""
        done: list[str] = []
        for topic, position in self.owed().items():
            if not self._made(topic):
                continue
            try:
                finished = self._replay(topic, position, upto, send, destinations, batch_size)
            except Exception as exc:
                self._failed(topic, f"sending its owed messages failed: {exc!r}")
                continue
            if finished:
                done.append(topic)
        return done

    def rewind(self, position: int) -> None:
        """The relay's cursor moved back to `position` (a refill): owe from there at the latest."""
        now = to_micros(self._store.clock.now())
        with self._lock, self._store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            conn.execute(update(relay_backlogs)
                         .where(relay_backlogs.c.relay == self._relay, relay_backlogs.c.position > position)
                         .values(position=position, updated_at_us=now))
            self._owed = {t: min(p, position) for t, p in self._owed.items()}

    # -- internals -------------------------------------------------------------------------------

    def _made(self, topic: str) -> bool:
        """Whether `topic` exists now: tried again once its pause is over."""
        if time.monotonic() < self._next_try.get(topic, 0.0):
            return False
        try:
            self._prepare([topic])
        except Exception as exc:
            self._failed(topic, repr(exc))
            return False
        return True

    def _set_aside(self, topic: str, after: int, why: str) -> None:
        now = to_micros(self._store.clock.now())
        with self._lock, self._store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            if topic in self._owed:
                return
            conn.execute(insert(relay_backlogs).values(relay=self._relay, topic=topic, position=after,
                                                       updated_at_us=now))
            self._owed[topic] = after
        pause = self._schedule(topic)
        log.warning("relay %s: cannot make topic %s: %s. Its messages after log position %d wait for it; "
                    "every other topic goes on. Trying again in %.0fs", self._relay, topic, why, after, pause)

    def _failed(self, topic: str, why: str) -> None:
        pause = self._schedule(topic)
        log.warning("relay %s: topic %s still cannot take its owed messages (after log position %d): %s. "
                    "Trying again in %.0fs", self._relay, topic, self._owed.get(topic, 0), why, pause)

    def _schedule(self, topic: str) -> float:
        pause = self._pause.get(topic, 0.0)
        pause = self._first_pause if pause == 0.0 else min(pause * 2, self._max_pause)
        self._pause[topic] = pause
        self._next_try[topic] = time.monotonic() + pause
        return pause

    def _replay(self, topic: str, position: int, upto: int, send: Send,
                destinations: Callable[[RecordedEvent], Sequence[str]], batch_size: int) -> bool:
        """Send `topic` its messages in (position, upto], moving its row as each batch is
        acknowledged; False if a rewind moved the row meanwhile (the next call starts from it)."""
        sent = 0
        while position < upto:
            events = [e for e in self._store.read_log(after=position, limit=batch_size) if e.position <= upto]
            if not events:
                break
            mine = [e for e in events if topic in destinations(e)]
            if mine:
                send(topic, mine)
                sent += len(mine)
            if not self._advance(topic, position, events[-1].position):
                return False
            position = events[-1].position
        with self._lock, self._store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            gone = conn.execute(delete(relay_backlogs).where(
                relay_backlogs.c.relay == self._relay, relay_backlogs.c.topic == topic,
                relay_backlogs.c.position == position)).rowcount
            if gone != 1:
                return False
            del self._owed[topic]
        self._pause.pop(topic, None)
        self._next_try.pop(topic, None)
        log.info("relay %s: topic %s is made; its %d owed message(s) were sent, and it takes new ones again",
                 self._relay, topic, sent)
        return True

    def _advance(self, topic: str, expected: int, position: int) -> bool:
        now = to_micros(self._store.clock.now())
        with self._lock, self._store.engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
            moved = conn.execute(update(relay_backlogs).where(
                relay_backlogs.c.relay == self._relay, relay_backlogs.c.topic == topic,
                relay_backlogs.c.position == expected).values(position=position, updated_at_us=now)).rowcount
            if moved == 1:
                self._owed[topic] = position
            return moved == 1
