"""Unit tests of ``raft/log_unstable.py`` (the unstable tail of the log), modelled on
etcd-io/raft's log_unstable_test.go.

Cases are written as (entries, offset, snapshot) fixtures, as etcd's are: entries are given by
(index, term) pairs and a snapshot by its (index, term).
"""

from __future__ import annotations

import pytest

from multiraft.raft.log_unstable import Unstable
from multiraft.raft.types import ConfState, Entry, Snapshot, SnapshotMetadata

Pairs = list[tuple[int, int]]


def snap(index: int, term: int) -> Snapshot:
    return Snapshot(b"", SnapshotMetadata(ConfState(voters=(1,)), index, term))


def ents(pairs: Pairs) -> list[Entry]:
    return [Entry(term, index) for index, term in pairs]


def make(pairs: Pairs, offset: int, sn: tuple[int, int] | None = None) -> Unstable:
    u = Unstable(offset)
    u.entries = ents(pairs)
    if sn is not None:
        u.snapshot = snap(*sn)
    return u


def held(u: Unstable) -> Pairs:
    return [(e.index, e.term) for e in u.entries]


def assert_invariant(u: Unstable) -> None:
    """The class invariant: entries are contiguous from ``offset`` and follow the snapshot."""
    for k, e in enumerate(u.entries):
        assert e.index == u.offset + k, f"entries[{k}].index={e.index}, offset={u.offset}"
    if u.snapshot is not None:
        assert u.offset >= u.snapshot.metadata.index + 1


def test_new_unstable_is_empty() -> None:
    u = Unstable(7)
    assert u.offset == 7
    assert u.entries == []
    assert u.snapshot is None
    assert u.maybe_first_index() is None
    assert u.maybe_last_index() is None
    assert u.maybe_term(6) is None
    assert u.maybe_term(7) is None


@pytest.mark.parametrize("pairs,offset,sn,want", [
    # no snapshot: the first index is the storage's business
    ([(5, 1)], 5, None, None),
    ([], 0, None, None),
    # with a snapshot: the log starts right after it, entries or not
    ([(5, 1)], 5, (4, 1), 5),
    ([], 5, (4, 1), 5),
])
def test_maybe_first_index(pairs: Pairs, offset: int, sn: tuple[int, int] | None, want: int | None) -> None:
    assert make(pairs, offset, sn).maybe_first_index() == want


@pytest.mark.parametrize("pairs,offset,sn,want", [
    # last in entries
    ([(5, 1)], 5, None, 5),
    ([(5, 1), (6, 1), (7, 2)], 5, None, 7),
    ([(5, 1)], 5, (4, 1), 5),
    # last in snapshot
    ([], 5, (4, 1), 4),
    # empty unstable
    ([], 0, None, None),
])
def test_maybe_last_index(pairs: Pairs, offset: int, sn: tuple[int, int] | None, want: int | None) -> None:
    assert make(pairs, offset, sn).maybe_last_index() == want


@pytest.mark.parametrize("pairs,offset,sn,index,want", [
    # term from entries
    ([(5, 1)], 5, None, 5, 1),
    ([(5, 1)], 5, None, 6, None),
    ([(5, 1)], 5, None, 4, None),
    ([(5, 1), (6, 2), (7, 3)], 5, None, 6, 2),
    ([(5, 1), (6, 2), (7, 3)], 5, None, 7, 3),
    ([(5, 1), (6, 2), (7, 3)], 5, None, 8, None),
    ([(5, 1)], 5, (4, 1), 5, 1),
    ([(5, 1)], 5, (4, 1), 6, None),
    # term from the snapshot
    ([(5, 1)], 5, (4, 1), 4, 1),
    ([(5, 1)], 5, (4, 1), 3, None),
    ([], 5, (4, 1), 5, None),
    ([], 5, (4, 1), 4, 1),
    ([], 5, (4, 2), 4, 2),
    ([], 5, (4, 1), 3, None),
    ([], 0, None, 5, None),
])
def test_maybe_term(pairs: Pairs, offset: int, sn: tuple[int, int] | None, index: int,
                    want: int | None) -> None:
    assert make(pairs, offset, sn).maybe_term(index) == want


def test_restore() -> None:
    u = make([(5, 1)], 5, (4, 1))
    s = snap(6, 2)
    u.restore(s)
    assert u.offset == 7
    assert u.entries == []
    assert u.snapshot is s
    assert u.maybe_first_index() == 7
    assert u.maybe_last_index() == 6
    assert u.maybe_term(6) == 2
    assert u.maybe_term(5) is None  # the old entry is gone
    assert u.maybe_term(4) is None  # and so is the old snapshot
    assert_invariant(u)


def test_restore_then_append_follows_the_snapshot() -> None:
    u = make([(5, 1), (6, 1)], 5)
    u.restore(snap(10, 3))
    u.truncate_and_append(ents([(11, 3), (12, 3)]))
    assert u.offset == 11
    assert held(u) == [(11, 3), (12, 3)]
    assert u.maybe_first_index() == 11
    assert u.maybe_last_index() == 12
    assert u.maybe_term(10) == 3
    assert_invariant(u)


@pytest.mark.parametrize("pairs,offset,sn,index,term,woffset,wheld", [
    ([], 0, None, 5, 1, 0, []),
    # stable to the first entry
    ([(5, 1)], 5, None, 5, 1, 6, []),
    ([(5, 1), (6, 1)], 5, None, 5, 1, 6, [(6, 1)]),
    # stable to the last of several
    ([(5, 1), (6, 1), (7, 1)], 5, None, 7, 1, 8, []),
    ([(5, 1), (6, 1), (7, 2)], 5, None, 6, 1, 7, [(7, 2)]),
    # term mismatch: the entry was replaced after it was handed out for persisting
    ([(6, 2)], 6, None, 6, 1, 6, [(6, 2)]),
    # stable to an old entry (already gone from unstable)
    ([(5, 1)], 5, None, 4, 1, 5, [(5, 1)]),
    ([(5, 1)], 5, None, 4, 2, 5, [(5, 1)]),
    # past the last entry: nothing there to drop
    ([(5, 1)], 5, None, 6, 1, 5, [(5, 1)]),
    # with a snapshot
    ([(5, 1)], 5, (4, 1), 5, 1, 6, []),
    ([(5, 1), (6, 1)], 5, (4, 1), 5, 1, 6, [(6, 1)]),
    ([(6, 2)], 6, (5, 1), 6, 1, 6, [(6, 2)]),
    # stable to the snapshot's index: that is stable_snap_to's job, entries are untouched
    ([(5, 1)], 5, (4, 1), 4, 1, 5, [(5, 1)]),
    ([(5, 2)], 5, (4, 2), 4, 1, 5, [(5, 2)]),
    # the snapshot is still pending but entries after it were already persisted (offset > index + 1)
    ([(6, 1), (7, 1)], 6, (4, 1), 4, 1, 6, [(6, 1), (7, 1)]),
    ([(6, 1), (7, 1)], 6, (4, 1), 6, 1, 7, [(7, 1)]),
])
def test_stable_to(pairs: Pairs, offset: int, sn: tuple[int, int] | None, index: int, term: int,
                   woffset: int, wheld: Pairs) -> None:
    u = make(pairs, offset, sn)
    before_snap = u.snapshot
    u.stable_to(index, term)
    assert u.offset == woffset
    assert held(u) == wheld
    assert u.snapshot is before_snap  # stable_to never touches the snapshot
    assert_invariant(u)


def test_stable_to_snapshot_index_keeps_entries_and_snapshot() -> None:
    u = make([], 5, (4, 1))
    u.stable_to(4, 1)
    assert u.offset == 5
    assert u.snapshot is not None and u.snapshot.metadata.index == 4


@pytest.mark.parametrize("index,cleared", [(4, True), (3, False), (5, False)])
def test_stable_snap_to(index: int, cleared: bool) -> None:
    u = make([(5, 1)], 5, (4, 1))
    u.stable_snap_to(index)
    assert (u.snapshot is None) == cleared
    # entries and offset never move
    assert u.offset == 5
    assert held(u) == [(5, 1)]


def test_stable_snap_to_without_snapshot_is_noop() -> None:
    u = make([(5, 1)], 5)
    u.stable_snap_to(4)
    assert u.snapshot is None
    assert held(u) == [(5, 1)]


def test_stable_to_then_stable_snap_to() -> None:
    """A Ready with a snapshot and entries after it: both are persisted, nothing is left."""
    u = Unstable(1)
    u.restore(snap(4, 1))
    u.truncate_and_append(ents([(5, 1), (6, 1)]))
    u.stable_snap_to(4)
    u.stable_to(6, 1)
    assert u.snapshot is None
    assert u.entries == []
    assert u.offset == 7
    assert u.maybe_last_index() is None
    assert u.maybe_first_index() is None


@pytest.mark.parametrize("pairs,offset,sn,append,woffset,wheld", [
    # append to the end
    ([(5, 1)], 5, None, [(6, 1), (7, 1)], 5, [(5, 1), (6, 1), (7, 1)]),
    ([], 5, None, [(5, 1)], 5, [(5, 1)]),
    ([], 5, (4, 1), [(5, 2), (6, 2)], 5, [(5, 2), (6, 2)]),
    # replace the unstable entries
    ([(5, 1)], 5, None, [(5, 2), (6, 2)], 5, [(5, 2), (6, 2)]),
    ([(5, 1)], 5, None, [(4, 2), (5, 2), (6, 2)], 4, [(4, 2), (5, 2), (6, 2)]),
    ([(5, 1), (6, 1)], 5, None, [(3, 2)], 3, [(3, 2)]),
    ([], 5, None, [(2, 2)], 2, [(2, 2)]),
    # truncate the existing entries and append
    ([(5, 1), (6, 1), (7, 1)], 5, None, [(6, 2)], 5, [(5, 1), (6, 2)]),
    ([(5, 1), (6, 1), (7, 1)], 5, None, [(7, 2), (8, 2)], 5, [(5, 1), (6, 1), (7, 2), (8, 2)]),
    ([(5, 1), (6, 1), (7, 1)], 5, (4, 1), [(6, 3), (7, 3), (8, 3), (9, 3)], 5,
     [(5, 1), (6, 3), (7, 3), (8, 3), (9, 3)]),
])
def test_truncate_and_append(pairs: Pairs, offset: int, sn: tuple[int, int] | None, append: Pairs,
                             woffset: int, wheld: Pairs) -> None:
    u = make(pairs, offset, sn)
    u.truncate_and_append(ents(append))
    assert u.offset == woffset
    assert held(u) == wheld
    assert (u.snapshot is None) == (sn is None)  # the pending snapshot is kept
    assert u.maybe_last_index() == wheld[-1][0]
    for i, t in wheld:
        assert u.maybe_term(i) == t


def test_truncate_and_append_does_not_alias_the_callers_list() -> None:
    for pairs in ([], [(5, 1)], [(5, 1), (6, 1)]):
        u = make(pairs, 5)
        new = ents([(5, 2), (6, 2)])
        u.truncate_and_append(new)
        new.append(Entry(2, 7))
        new[0] = Entry(9, 5)
        assert held(u) == [(5, 2), (6, 2)], pairs


def test_truncate_and_append_past_the_end_is_rejected() -> None:
    """A batch starting beyond ``offset + len(entries)`` would leave a hole in the log and break
    the invariant ``entries[i].index == offset + i``. etcd's truncateAndAppend reaches this
    case through ``u.slice(u.offset, fromIndex)``, whose bounds check panics; the port must
    refuse it too rather than store entries at the wrong positions."""
    u = make([(5, 1), (6, 1)], 5)
    with pytest.raises(IndexError, match="out of bound"):
        u.truncate_and_append(ents([(8, 1)]))
    assert [(e.index, e.term) for e in u.entries] == [(5, 1), (6, 1)]  # nothing appended
    assert_invariant(u)


@pytest.mark.parametrize("lo,hi,want", [
    (5, 5, []),
    (5, 6, [(5, 1)]),
    (5, 8, [(5, 1), (6, 1), (7, 2)]),
    (6, 8, [(6, 1), (7, 2)]),
    (8, 8, []),
])
def test_slice(lo: int, hi: int, want: Pairs) -> None:
    u = make([(5, 1), (6, 1), (7, 2)], 5)
    got = u.slice(lo, hi)
    assert [(e.index, e.term) for e in got] == want
    # Appending to the result must not corrupt the unstable log.
    got.append(Entry(9, 99))
    assert held(u) == [(5, 1), (6, 1), (7, 2)]


@pytest.mark.parametrize("lo,hi", [(4, 6), (5, 9), (7, 6), (9, 9), (3, 4)])
def test_slice_out_of_bounds(lo: int, hi: int) -> None:
    u = make([(5, 1), (6, 1), (7, 2)], 5)
    with pytest.raises(IndexError):
        u.slice(lo, hi)
