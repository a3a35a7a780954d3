"""``TimerActor``: ticks every awake replica once per tick interval and tells the store to send
the coalesced heartbeats. Quiesced replicas are not ticked, so idle ranges cost nothing.

The clock is injected: a ``Ticker`` thread tells the timer ``TICK_NOW`` every interval in
production; a test (or a simulation with virtual time) tells it ``TICK_NOW`` itself.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

from multiraft.store.lifecycle import Fatal

from .fail_stop import FailStop
from .messages import FLUSH_HEARTBEATS, TICK, TICK_NOW, Awake, Quiesced
from .runtime import PooledActor

__all__ = ["TimerActor", "Ticker"]


class TimerActor(FailStop, PooledActor):
    """Invariant: ``awake`` maps range id -> replica handle for exactly the ranges that last said
    they are awake (and not quiesced since)."""

    def __init__(self, store: Any, fatal: Fatal) -> None:
        self.store = store
        self.fatal = fatal
        self.awake: dict[int, Any] = {}
        self.ticks = 0

    def on_receive(self, msg: Any) -> Any:
        if msg is TICK_NOW:
            self.ticks += 1
            gone = []
            for range_id, replica in self.awake.items():
                # Coalesced: a replica still behind on its last tick is not sent another, so
                # under overload raft's clock slows down instead of a backlog building up.
                try:
                    replica.tell_coalesced(TICK)
                except pykka.ActorDeadError:  # dropped (uninitialized) or the node stopping
                    gone.append(range_id)
            for range_id in gone:
                del self.awake[range_id]
            self.store.tell(FLUSH_HEARTBEATS)
        elif type(msg) is Awake:
            self.awake[msg.range_id] = msg.replica
        elif type(msg) is Quiesced:
            self.awake.pop(msg.range_id, None)
        else:
            return super().on_receive(msg)
        return None


class Ticker:
    """A thread that tells ``target`` ``TICK_NOW`` every ``interval`` seconds until stopped.

    Ticks are paced against the monotonic clock, not slept back to back, so a slow tick
    round does not stretch every later interval.
    """

    def __init__(self, target: Any, interval: float) -> None:
        self._target = target
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="multiraft-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        import time
        next_at = time.monotonic() + self._interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self._interval
            now = time.monotonic()
            if next_at < now:  # fell behind (paused process): skip, don't burst
                next_at = now + self._interval
            try:
                self._target.tell(TICK_NOW)
            except pykka.ActorDeadError:
                return
