"""When `tongban up` restarts a child that died, and when it gives up (pure: no processes, no clock).

Backoff: the first restart waits `first_delay` (0.5 s), each further one twice as long, up to
`max_delay` (30 s). A child that stayed up `stable_after` seconds (60 s) before it died is
considered healthy again: its next restart waits `first_delay` once more.

Giving up: a run that ends within `quick` seconds (10 s) of its start is a failed start. After
`give_up_after` (5) failed starts in a row the child cannot start at all (a bad argument, a store
it cannot open, a port it cannot have) and restarting it again would only loop: `tongban up` stops
everything and exits 1. With the default numbers that takes about 8 s of backoff (0.5 + 1 + 2 + 4)
plus five start attempts. A run that lasts longer than `quick` resets the count: a child that
crashes now and then, after having worked, is restarted for ever (logged each time)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 0.5
    max_delay: float = 30.0
    stable_after: float = 60.0
    quick: float = 10.0
    give_up_after: int = 5

    def describe(self) -> str:
        return (f"restarted after {self.first_delay:g}s, doubling up to {self.max_delay:g}s (back to "
                f"{self.first_delay:g}s once it stayed up {self.stable_after:g}s); {self.give_up_after} deaths in a "
                f"row within {self.quick:g}s of starting stop the stack")


@dataclass(frozen=True)
class Verdict:
    """What to do about one death: restart after `delay` seconds, or give up."""

    give_up: bool
    delay: float
    failed_starts: int  # in a row, this death included
    restarts: int  # restarts so far, this one included


class RestartState:
    """The history of one child (one name: a service of a region, the registry, the broker)."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self.failed_starts = 0
        self.restarts = 0
        self._next_delay = policy.first_delay

    def died(self, uptime: float) -> Verdict:
        """The child died after running `uptime` seconds."""
        policy = self.policy
        if uptime >= policy.stable_after:
            self._next_delay = policy.first_delay
        self.failed_starts = self.failed_starts + 1 if uptime < policy.quick else 0
        if self.failed_starts >= policy.give_up_after:
            return Verdict(give_up=True, delay=0.0, failed_starts=self.failed_starts, restarts=self.restarts)
        delay = self._next_delay
        self._next_delay = min(policy.max_delay, delay * 2)
        self.restarts += 1
        return Verdict(give_up=False, delay=delay, failed_starts=self.failed_starts, restarts=self.restarts)
