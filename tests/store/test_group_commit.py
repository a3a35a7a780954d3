"""``GroupCommit``: every batch submitted in a round is written in one engine write with at most
one fsync, and each submitter is told only after that write; a failed write stops the node and
acknowledges nothing, then or later."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from multiraft.storage.engine import WriteBatch
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.store.group_commit import GroupCommit


class RecordingEngine(MemoryEngine):
    """A memory engine that records each ``write_many`` (how many batches, synced or not), and
    can be told to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[int, bool]] = []
        self.fail = False

    def write_many(self, batches: Sequence[WriteBatch], sync: bool = False) -> None:
        if self.fail:
            raise OSError(28, "No space left on device")
        self.writes.append((len(batches), sync))
        super().write_many(batches, sync)


def batch(engine: MemoryEngine, key: bytes) -> WriteBatch:
    b = engine.batch()
    b.put(key, b"v")
    return b


def test_a_round_is_one_write_and_each_submitter_is_told_after_it_in_order() -> None:
    engine = RecordingEngine()
    seen: list[tuple[str, bytes | None]] = []
    group: GroupCommit[str] = GroupCommit(
        engine, lambda what, e: pytest.fail(f"{what}: {e}"),
        lambda token: seen.append((token, engine.get(token.encode()))))
    group.submit(batch(engine, b"a"), False, "a")
    group.submit(batch(engine, b"b"), True, "b")
    group.submit(batch(engine, b"c"), False, "c")
    assert group.pending == 3 and seen == [] and engine.writes == []
    group.flush()
    assert engine.writes == [(3, True)], "one write, synced because one batch asked"
    assert seen == [("a", b"v"), ("b", b"v"), ("c", b"v")], "told after the write, in order"
    assert (group.counters.groups, group.counters.batches) == (1, 3)
    group.flush()  # nothing new: no write at all
    assert engine.writes == [(3, True)]
    group.submit(batch(engine, b"d"), False, "d")
    group.flush()
    assert engine.writes[-1] == (1, False), "no fsync when no batch asked for one"


def test_a_failed_write_stops_the_node_and_acknowledges_nothing_then_or_later() -> None:
    engine = RecordingEngine()
    engine.fail = True
    fatal: list[str] = []
    told: list[int] = []
    group: GroupCommit[int] = GroupCommit(engine, lambda what, e: fatal.append(what), told.append)
    group.submit(batch(engine, b"a"), True, 1)
    group.flush()
    assert fatal == ["durable write failed"] and told == [] and group.failed
    engine.fail = False
    group.submit(batch(engine, b"b"), True, 2)
    group.flush()
    assert told == [] and engine.writes == [], "after a failure nothing is written or told"
