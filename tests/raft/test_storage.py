"""MemoryStorage against the contract ("Storage raises CompactedError / UnavailableError /
SnapOutOfDateError as etcd's does"), modelled on etcd-io/raft's storage_test.go.

Every case starts from etcd's fixture: a snapshot at (index 3, term 3) followed by entries
(4, 4) and (5, 5), so the storage holds the dummy entry 3 and the real entries 4 and 5.
"""

from __future__ import annotations

import pytest

from multiraft.raft import (CompactedError, ConfState, Entry, MemoryStorage, Snapshot, SnapshotMetadata,
                  SnapOutOfDateError, UnavailableError)

CS = ConfState(voters=(1, 2, 3))


def fixture_storage() -> MemoryStorage:
    s = MemoryStorage()
    s.apply_snapshot(Snapshot(b"", SnapshotMetadata(CS, 3, 3)))
    s.append([Entry(4, 4), Entry(5, 5)])
    return s


def pairs(ents: list[Entry]) -> list[tuple[int, int]]:
    return [(e.index, e.term) for e in ents]


def held(s: MemoryStorage) -> list[tuple[int, int]]:
    """(index, term) of the dummy entry and every entry after it."""
    first = s.first_index()
    dummy = (first - 1, s.term(first - 1))
    rest = s.entries(first, s.last_index() + 1) if s.last_index() >= first else []
    return [dummy] + pairs(rest)


@pytest.mark.parametrize("i,want", [(2, CompactedError), (3, 3), (4, 4), (5, 5), (6, UnavailableError)])
def test_term(i: int, want: int | type) -> None:
    """etcd TestStorageTerm: below the dummy entry is compacted, past the last is unavailable;
    the dummy entry (the snapshot's index) still answers its term."""
    s = fixture_storage()
    if isinstance(want, type):
        with pytest.raises(want):
            s.term(i)
    else:
        assert s.term(i) == want


@pytest.mark.parametrize("lo,hi,max_size,want", [
    (2, 6, None, CompactedError),
    (3, 4, None, CompactedError),
    (4, 5, None, [(4, 4)]),
    (4, 6, None, [(4, 4), (5, 5)]),
    (4, 6, 0, [(4, 4)]),  # max_size 0: exactly one entry
    (4, 6, 1 << 20, [(4, 4), (5, 5)]),
    (4, 7, None, UnavailableError),
])
def test_entries(lo: int, hi: int, max_size: int | None, want: list | type) -> None:
    """etcd TestStorageEntries: [lo, hi) with the size limit (never fewer than one entry)."""
    s = fixture_storage()
    if isinstance(want, type):
        with pytest.raises(want):
            s.entries(lo, hi, max_size)
    else:
        assert pairs(s.entries(lo, hi, max_size)) == want


def test_first_last_index_and_compact() -> None:
    """etcd TestStorageLastIndex / FirstIndex: first is the dummy's index + 1; compact moves it."""
    s = fixture_storage()
    assert (s.first_index(), s.last_index()) == (4, 5)
    s.append([Entry(5, 6)])
    assert s.last_index() == 6
    s.compact(4)
    assert (s.first_index(), s.last_index()) == (5, 6)


@pytest.mark.parametrize("i,err,want", [
    (2, CompactedError, None), (3, CompactedError, None), (4, None, [(4, 4), (5, 5)]),
    (5, None, [(5, 5)]), (6, ValueError, None)])
def test_compact(i: int, err: type | None, want: list | None) -> None:
    """etcd TestStorageCompact: compacting at or below the current dummy raises CompactedError;
    compacting at i keeps i as the new dummy entry (its term stays known)."""
    s = fixture_storage()
    if err is not None:
        with pytest.raises(err):
            s.compact(i)
        assert held(s) == [(3, 3), (4, 4), (5, 5)]
    else:
        s.compact(i)
        assert held(s) == want


@pytest.mark.parametrize("i,want_term", [(4, 4), (5, 5)])
def test_create_snapshot(i: int, want_term: int) -> None:
    """etcd TestStorageCreateSnapshot: the snapshot takes the term of its index and the given
    ConfState and data; an older one is refused with SnapOutOfDateError."""
    s = fixture_storage()
    snap = s.create_snapshot(i, CS, b"data")
    assert (snap.metadata.index, snap.metadata.term, snap.metadata.conf_state, snap.data) == (i, want_term, CS, b"data")
    assert s.snapshot() == snap
    with pytest.raises(SnapOutOfDateError):
        s.create_snapshot(3, CS, b"old")


@pytest.mark.parametrize("ents,want", [
    ([(1, 1), (2, 2)], [(3, 3), (4, 4), (5, 5)]),  # all compacted: ignored
    ([(3, 3), (4, 4), (5, 5)], [(3, 3), (4, 4), (5, 5)]),
    ([(3, 3), (4, 6), (5, 6)], [(3, 3), (4, 6), (5, 6)]),
    ([(3, 3), (4, 4), (5, 5), (6, 5)], [(3, 3), (4, 4), (5, 5), (6, 5)]),
    ([(2, 3), (3, 3), (4, 5)], [(3, 3), (4, 5)]),  # truncate the compacted head, then conflict
    ([(4, 5)], [(3, 3), (4, 5)]),  # conflict truncates the rest
    ([(6, 5)], [(3, 3), (4, 4), (5, 5), (6, 5)]),
])
def test_append(ents: list[tuple[int, int]], want: list[tuple[int, int]]) -> None:
    """etcd TestStorageAppend: entries already compacted are skipped; an entry at an existing
    index replaces it and everything after it."""
    s = fixture_storage()
    s.append([Entry(t, i) for i, t in ents])
    assert held(s) == want


def test_append_with_a_gap_raises() -> None:
    """Appending past last_index + 1 would leave a hole in the log: refused (etcd panics)."""
    s = fixture_storage()
    with pytest.raises(ValueError):
        s.append([Entry(5, 7)])
    assert held(s) == [(3, 3), (4, 4), (5, 5)]


def test_apply_snapshot() -> None:
    """etcd TestStorageApplySnapshot: a newer snapshot replaces the log (the storage then holds
    just its dummy entry); an older or equal one is refused with SnapOutOfDateError."""
    s = fixture_storage()
    s.apply_snapshot(Snapshot(b"d", SnapshotMetadata(CS, 4, 4)))
    assert held(s) == [(4, 4)] and s.snapshot().metadata.index == 4
    with pytest.raises(UnavailableError):
        s.entries(5, 5 + 1)
    with pytest.raises(SnapOutOfDateError):
        s.apply_snapshot(Snapshot(b"d", SnapshotMetadata(CS, 3, 3)))
    assert s.initial_state()[1] == CS
