"""``ThreadPoolScheduler``'s rounds: with ``after_round``, a worker runs every task ready now,
then ends the round once (the store's one write per round, ``store.group_commit``); what the
round's end queues starts the next round; a round never runs more than ``round_tasks`` tasks."""

from __future__ import annotations

import threading

import pytest

from multiraft.actors.runtime import ThreadPoolScheduler

pytestmark = pytest.mark.timeout(60)
WAIT = 10.0


class Step:
    """A task that records its name into ``log`` when run."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    def run(self) -> None:
        self.log.append(self.name)


def test_tasks_ready_together_end_in_one_round_and_what_the_end_queues_starts_the_next() -> None:
    log: list[str] = []
    gate = threading.Event()
    done = threading.Event()
    rounds = []

    def after_round() -> None:
        rounds.append(len(log))
        log.append("end")
        if len(rounds) == 1:  # the first round's end queues the next round's task
            pool.submit(Step("reply", log))
        else:
            done.set()

    pool = ThreadPoolScheduler(after_round=after_round)

    class Blocker:
        def run(self) -> None:
            gate.wait(WAIT)
            log.append("first")

    pool.submit(Blocker())  # holds the worker while the others queue up behind it
    pool.start()
    for i in range(5):
        pool.submit(Step(f"t{i}", log))
    gate.set()
    assert done.wait(WAIT)
    assert log == ["first", "t0", "t1", "t2", "t3", "t4", "end", "reply", "end"]
    stopped = threading.Event()
    stopped.set()
    assert pool.shutdown(stopped, WAIT)


def test_a_round_ends_after_round_tasks_even_while_work_keeps_coming() -> None:
    log: list[str] = []
    ended = threading.Event()
    gate = threading.Event()

    def after_round() -> None:
        log.append("end")
        if log.count("end") == 2:
            ended.set()

    pool = ThreadPoolScheduler(after_round=after_round, round_tasks=2)

    class Blocker:
        def run(self) -> None:
            gate.wait(WAIT)
            log.append("first")

    pool.submit(Blocker())
    pool.start()
    for i in range(3):
        pool.submit(Step(f"t{i}", log))
    gate.set()
    assert ended.wait(WAIT)
    assert log == ["first", "t0", "end", "t1", "t2", "end", "end"][:len(log)] or \
        log[:3] == ["first", "t0", "end"]
    stopped = threading.Event()
    stopped.set()
    assert pool.shutdown(stopped, WAIT)


def test_round_tasks_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ThreadPoolScheduler(round_tasks=0)
