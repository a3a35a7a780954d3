"""``Liveness.paused``: a tick long after the one before is a pause the node slept through."""

from __future__ import annotations

from multiraft.store.liveness import PAUSE_SECONDS, Liveness


def test_a_long_gap_between_ticks_is_a_pause_and_only_that_tick_says_so() -> None:
    now = [100.0]
    lv = Liveness([2, 3], period=20, clock=lambda: now[0])
    for _ in range(5):
        now[0] += 0.1
        lv.tick()
        assert not lv.paused
    now[0] += PAUSE_SECONDS
    lv.tick()
    assert lv.paused
    now[0] += 0.1
    lv.tick()
    assert not lv.paused
