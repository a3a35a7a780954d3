"""Unit tests of ``raft/inflights.py`` (the leader's per-follower window of MsgApps in flight),
modelled on etcd-io/raft's tracker/inflights_test.go.

etcd's Inflights is a ring buffer, so its tests also check the buffer layout and wrap-around;
this port keeps a deque, so the same scenarios are checked through the observable behaviour:
``count()``, ``full()`` (by number and by bytes), which messages ``free_le`` releases and the
stated invariant (indexes strictly increasing, ``_bytes`` the sum of ``_sizes``).
"""

from __future__ import annotations

import pytest

from multiraft.raft.inflights import Inflights


def in_flight(ins: Inflights) -> list[tuple[int, int]]:
    """(last index, bytes) of every message in flight, oldest first."""
    return list(zip(ins._indexes, ins._sizes))


def assert_invariant(ins: Inflights) -> None:
    idx = list(ins._indexes)
    assert all(a < b for a, b in zip(idx, idx[1:])), idx
    assert len(ins._indexes) == len(ins._sizes) == ins.count()
    assert ins._bytes == sum(ins._sizes)
    assert ins.count() <= ins.size


def test_new_inflights_is_empty() -> None:
    ins = Inflights(10)
    assert ins.count() == 0
    assert not ins.full()
    assert ins.size == 10
    assert ins.max_bytes == 0
    assert_invariant(ins)


def test_add() -> None:
    """etcd TestInflightsAdd: fill a window of 10 in two halves."""
    ins = Inflights(10)
    for i in range(5):
        ins.add(i, 100 + i)
        assert ins.count() == i + 1
        assert not ins.full()
    assert in_flight(ins) == [(i, 100 + i) for i in range(5)]
    assert ins._bytes == 510
    for i in range(5, 10):
        assert not ins.full()
        ins.add(i, 100 + i)
    assert ins.count() == 10
    assert ins.full()
    assert in_flight(ins) == [(i, 100 + i) for i in range(10)]
    assert ins._bytes == 1045
    assert_invariant(ins)


def test_add_wraps_around() -> None:
    """etcd's wrap-around case: after freeing the front, a full window is built again from
    later indexes and keeps them in order."""
    ins = Inflights(10)
    for i in range(5):
        ins.add(i, 100 + i)
    ins.free_le(4)
    assert ins.count() == 0
    for i in range(5, 15):
        assert not ins.full()
        ins.add(i, 100 + i)
    assert ins.full()
    assert in_flight(ins) == [(i, 100 + i) for i in range(5, 15)]
    ins.free_le(9)
    assert in_flight(ins) == [(i, 100 + i) for i in range(10, 15)]
    for i in range(15, 20):
        ins.add(i, 100 + i)
    assert ins.full()
    assert [i for i, _ in in_flight(ins)] == list(range(10, 20))
    assert_invariant(ins)


def test_free_le() -> None:
    """etcd TestInflightFreeTo."""
    ins = Inflights(10)
    for i in range(10):
        ins.add(i, 100 + i)

    ins.free_le(0)
    assert ins.count() == 9
    assert [i for i, _ in in_flight(ins)] == list(range(1, 10))
    assert ins._bytes == sum(100 + i for i in range(1, 10))
    assert not ins.full()

    ins.free_le(4)
    assert ins.count() == 5
    assert [i for i, _ in in_flight(ins)] == list(range(5, 10))

    ins.free_le(8)
    assert ins.count() == 1
    assert in_flight(ins) == [(9, 109)]
    assert ins._bytes == 109

    # Wrap around the window and free in the middle of it.
    for i in range(10, 15):
        ins.add(i, 100 + i)
    ins.free_le(12)
    assert in_flight(ins) == [(13, 113), (14, 114)]
    assert ins._bytes == 227

    ins.free_le(14)
    assert ins.count() == 0
    assert ins._bytes == 0
    assert_invariant(ins)


def test_free_le_between_indexes() -> None:
    """A message is freed only if its *last* index is acknowledged."""
    ins = Inflights(10)
    for last in (3, 7, 12):  # three MsgApps covering (.., 3], (3, 7], (7, 12]
        ins.add(last, 10)
    ins.free_le(6)  # acknowledges part of the second message only
    assert in_flight(ins) == [(7, 10), (12, 10)]
    ins.free_le(11)
    assert in_flight(ins) == [(12, 10)]
    ins.free_le(100)
    assert ins.count() == 0
    assert ins._bytes == 0


def test_free_le_stale_or_empty_is_noop() -> None:
    ins = Inflights(4)
    ins.free_le(100)  # empty window
    assert ins.count() == 0
    for i in (5, 6, 7):
        ins.add(i, 1)
    ins.free_le(4)  # left of the window: an old ack
    ins.free_le(0)
    assert [i for i, _ in in_flight(ins)] == [5, 6, 7]
    assert ins._bytes == 3
    # freeing twice to the same point changes nothing the second time
    ins.free_le(6)
    ins.free_le(6)
    assert in_flight(ins) == [(7, 1)]


def test_free_first_one() -> None:
    """etcd's (older) FreeFirstOne == FreeLE(first index): exactly one message is released.
    The port has no free_first_one, so free_le with the first index in flight stands in."""
    ins = Inflights(10)
    for i in range(10):
        ins.add(i, 1)
    first = ins._indexes[0]
    ins.free_le(first)
    assert ins.count() == 9
    assert ins._indexes[0] == 1
    assert not ins.full()


def test_full_by_count_frees_room() -> None:
    ins = Inflights(3)
    for i in (1, 2, 3):
        ins.add(i, 1)
    assert ins.full()
    ins.free_le(1)
    assert not ins.full()
    ins.add(4, 1)
    assert ins.full()


@pytest.mark.parametrize("size,max_bytes,full_at,free_le,again_at", [
    # etcd TestInflightsFull; message i carries 100 + i bytes.
    (0, 0, 0, 0, 0),            # always full
    (1, 0, 1, 1, 2),            # single entry
    (1, 10, 1, 1, 2),           # single entry overflowing the byte limit
    (15, 0, 15, 6, 22),         # multiple entries
    (8, 400, 4, 2, 7),          # slight overflow: 100+101+102+103 = 406 >= 400
    (8, 406, 4, 3, 8),          # exactly max bytes: 406 >= 406
    (15, 408, 5, 1, 6),         # larger overflow: 406 < 408, 510 >= 408
])
def test_full(size: int, max_bytes: int, full_at: int, free_le: int, again_at: int) -> None:
    ins = Inflights(size, max_bytes)

    def add_until_full(begin: int, end: int) -> None:
        for i in range(begin, end):
            assert not ins.full(), f"full at {i}, want {end}"
            ins.add(i, 100 + i)
        assert ins.full(), f"not full at {end}"

    add_until_full(0, full_at)
    if size > 0:
        ins.free_le(free_le)
        add_until_full(full_at, again_at)
    assert_invariant(ins)
    before = in_flight(ins)
    with pytest.raises(RuntimeError):
        ins.add(100, 1024)
    assert in_flight(ins) == before  # the refused add left the window as it was
    assert_invariant(ins)


def test_byte_limit_is_soft() -> None:
    """A message that takes the total from below the limit to past it is accepted; the window is
    full only afterwards."""
    ins = Inflights(100, 1000)
    ins.add(1, 999)
    assert not ins.full()
    ins.add(2, 5000)
    assert ins.full()
    assert ins._bytes == 5999
    ins.free_le(1)
    assert ins.full()  # 5000 bytes still in flight
    ins.free_le(2)
    assert not ins.full()
    assert ins._bytes == 0


def test_zero_byte_messages_never_hit_the_byte_limit() -> None:
    ins = Inflights(3, 1)
    for i in (1, 2):
        ins.add(i, 0)
        assert not ins.full()
    ins.add(3, 0)
    assert ins.full()  # by count
    ins.free_le(3)
    assert not ins.full()


def test_no_byte_limit() -> None:
    ins = Inflights(2, 0)
    ins.add(1, 10**12)
    assert not ins.full()
    ins.add(2, 10**12)
    assert ins.full()


def test_reset() -> None:
    ins = Inflights(5, 300)
    for i in range(3):
        ins.add(i, 100)
    assert ins.full()  # by bytes
    ins.reset()
    assert ins.count() == 0
    assert not ins.full()
    assert ins._bytes == 0
    assert in_flight(ins) == []
    # limits survive the reset and the window is usable again
    assert (ins.size, ins.max_bytes) == (5, 300)
    ins.add(10, 100)
    assert in_flight(ins) == [(10, 100)]
    assert_invariant(ins)
