"""The raft Storage contract (etcd's storage_test cases), with the same test code against
``raft.storage.MemoryStorage`` (the reference), ``ReplicaStorage`` over both engines, and
``ReplicaStorage`` rebuilt from the engine (empty cache: every read goes to the engine)."""

from __future__ import annotations

import pytest

from multiraft.raft.errors import CompactedError, SnapOutOfDateError, UnavailableError
from multiraft.raft.sizing import entry_size
from multiraft.raft.storage import MemoryStorage
from multiraft.raft.types import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from multiraft.storage import MemoryEngine, ReplicaStorage, RocksEngine, bootstrap_range, RangeDescriptor

RID = 7


class EngineLog:
    """MemoryStorage's mutator API over ReplicaStorage: each call is one written batch.
    With ``reopen``, every read goes through a ReplicaStorage freshly loaded from the engine."""

    def __init__(self, engine, reopen: bool) -> None:
        self.engine, self.reopen = engine, reopen
        self.rs = ReplicaStorage(engine, RID)

    def _write(self, method, *args):
        b = self.engine.batch()
        getattr(self.rs, method)(b, *args)
        self.engine.write(b, sync=True)

    def append(self, ents):
        self._write("append", ents)

    def set_hard_state(self, hs):
        self._write("set_hard_state", hs)

    def compact(self, i):
        self._write("truncate", i)

    def apply_snapshot(self, snap):
        self._write("apply_snapshot", snap.metadata)

    def __getattr__(self, name):  # reads
        rs = ReplicaStorage(self.engine, RID) if self.reopen else self.rs
        return getattr(rs, name)


@pytest.fixture(params=["reference", "memory", "memory-reopened", "rocks", "rocks-reopened"])
def new_log(request, tmp_path):
    """A factory: a storage holding ``ents`` (the first one is the snapshot/truncation point)."""
    engines = []

    def make(ents):
        if request.param == "reference":
            s = MemoryStorage()
        else:
            e = MemoryEngine() if request.param.startswith("memory") else RocksEngine(
                str(tmp_path / f"db{len(engines)}"))
            engines.append(e)
            s = EngineLog(e, request.param.endswith("reopened"))
        s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=ents[0].index, term=ents[0].term)))
        s.append(ents[1:])
        return s

    yield make
    for e in engines:
        e.close()


def all_entries(s):
    return s.entries(s.first_index(), s.last_index() + 1)


E345 = [Entry(3, 3), Entry(4, 4), Entry(5, 5)]


@pytest.mark.parametrize("i,expected", [(2, CompactedError), (3, 3), (4, 4), (5, 5),
                                        (6, UnavailableError)])
def test_term(new_log, i, expected):
    s = new_log(E345)
    if isinstance(expected, int):
        assert s.term(i) == expected
    else:
        with pytest.raises(expected):
            s.term(i)


E3456 = [Entry(3, 3), Entry(4, 4), Entry(5, 5), Entry(6, 6, data=b"x" * 10)]
S4, S5, S6 = (entry_size(e) for e in E3456[1:])


@pytest.mark.parametrize("lo,hi,max_size,expected", [
    (2, 6, None, CompactedError),
    (3, 4, None, CompactedError),
    (4, 5, None, [4]),
    (4, 6, None, [4, 5]),
    (4, 7, None, [4, 5, 6]),
    (4, 8, None, UnavailableError),
    (4, 7, 0, [4]),
    (4, 7, S4 + S5, [4, 5]),
    (4, 7, S4 + S5 + S6 // 2, [4, 5]),
    (4, 7, S4 + S5 + S6 - 1, [4, 5]),
    (4, 7, S4 + S5 + S6, [4, 5, 6]),
    (5, 5, None, []),
])
def test_entries(new_log, lo, hi, max_size, expected):
    s = new_log(E3456)
    if isinstance(expected, list):
        got = s.entries(lo, hi, max_size)
        assert [e.index for e in got] == expected
        assert got == E3456[lo - 3:lo - 3 + len(expected)]
    else:
        with pytest.raises(expected):
            s.entries(lo, hi, max_size)


def test_entries_of_an_empty_log_are_unavailable(new_log):
    s = new_log([Entry(3, 3)])
    with pytest.raises(UnavailableError):
        s.entries(4, 4)
    assert (s.first_index(), s.last_index(), s.term(3)) == (4, 3, 3)


def test_first_and_last_index(new_log):
    s = new_log(E345)
    assert (s.first_index(), s.last_index()) == (4, 5)
    s.append([Entry(5, 6)])
    assert s.last_index() == 6
    s.compact(4)
    assert (s.first_index(), s.last_index()) == (5, 6)


@pytest.mark.parametrize("i,err,first,term", [
    (2, CompactedError, 4, 3), (3, CompactedError, 4, 3), (4, None, 5, 4), (5, None, 6, 5),
    (6, ValueError, 4, 3),
])
def test_compact(new_log, i, err, first, term):
    s = new_log(E345)
    if err:
        with pytest.raises(err):
            s.compact(i)
    else:
        s.compact(i)
    assert s.first_index() == first
    assert s.term(first - 1) == term
    assert s.last_index() == 5


@pytest.mark.parametrize("ents,expected", [
    ([Entry(3, 3), Entry(4, 4), Entry(5, 5)], [(4, 4), (5, 5)]),
    ([Entry(3, 3), Entry(6, 4), Entry(6, 5)], [(6, 4), (6, 5)]),
    ([Entry(3, 3), Entry(4, 4), Entry(5, 5), Entry(5, 6)], [(4, 4), (5, 5), (5, 6)]),
    ([Entry(3, 2), Entry(3, 3), Entry(5, 4)], [(5, 4)]),  # truncate incoming, then existing
    ([Entry(5, 4)], [(5, 4)]),
    ([Entry(5, 6)], [(4, 4), (5, 5), (5, 6)]),
    ([Entry(1, 1), Entry(2, 2)], [(4, 4), (5, 5)]),  # all compacted: ignored
])
def test_append(new_log, ents, expected):
    s = new_log(E345)
    s.append(ents)
    assert [(e.term, e.index) for e in all_entries(s)] == expected
    assert s.term(s.last_index()) == expected[-1][0]


def test_append_with_a_gap_is_refused(new_log):
    s = new_log(E345)
    with pytest.raises(ValueError):
        s.append([Entry(5, 7)])
    assert s.last_index() == 5


def test_apply_snapshot(new_log):
    s = new_log(E345)
    s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=8, term=6)))
    assert (s.first_index(), s.last_index(), s.term(8)) == (9, 8, 6)
    with pytest.raises(CompactedError):
        s.term(5)
    with pytest.raises(SnapOutOfDateError):
        s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=7, term=6)))
    s.append([Entry(6, 9)])
    assert [e.index for e in all_entries(s)] == [9]


def test_hard_state_round_trip(new_log, request):
    s = new_log(E345)
    # Reopened from an engine holding a truncated state and no HardState (as a split writes a
    # right-hand range: storage.split), the HardState reads as raised to the truncated point.
    reopened = request.node.callspec.params["new_log"].endswith("reopened")
    assert s.initial_state()[0] == (HardState(term=3, commit=3) if reopened else HardState())
    s.set_hard_state(HardState(term=5, vote=2, commit=4))
    assert s.initial_state()[0] == HardState(term=5, vote=2, commit=4)


# -- ReplicaStorage only --

def write(engine, fn, *args):
    b = engine.batch()
    fn(b, *args)
    engine.write(b, sync=True)


def test_entries_span_engine_and_cache(engine):
    rs = ReplicaStorage(engine, RID, cache_entries=4)
    ents = [Entry(1, i, data=b"d%d" % i) for i in range(1, 21)]
    for chunk in (ents[:7], ents[7:15], ents[15:]):
        write(engine, rs.append, chunk)
    assert rs.entries(1, 21) == ents
    assert rs.entries(10, 19, entry_size(ents[9]) * 3) == ents[9:12]
    assert [rs.term(i) for i in range(0, 21)] == [0] + [1] * 20
    write(engine, rs.append, [Entry(2, 18)])  # conflict inside the cache
    assert [e.term for e in rs.entries(15, 19)] == [1, 1, 1, 2]
    assert ReplicaStorage(engine, RID).entries(1, 19) == rs.entries(1, 19)


def test_cache_is_bounded_by_bytes(engine):
    rs = ReplicaStorage(engine, RID, cache_entries=100, cache_bytes=1000)
    big = [Entry(1, i, data=b"x" * 300) for i in range(1, 11)]
    write(engine, rs.append, big)
    assert len(rs._cache) <= 4
    assert rs.entries(1, 11) == big


def test_truncation_deletes_the_log_keys(engine):
    rs = ReplicaStorage(engine, RID)
    write(engine, rs.append, [Entry(1, i) for i in range(1, 10_001)])
    write(engine, rs.truncate, 9_000)
    from multiraft.storage import keys
    left = engine.scan(*keys.log_span(RID))
    assert [keys.index_of_log_key(k) for k, _ in left] == list(range(9_001, 10_001))
    rs2 = ReplicaStorage(engine, RID)
    assert (rs2.first_index(), rs2.last_index(), rs2.term(9_000)) == (9_001, 10_000, 1)


def test_snapshot_and_initial_state_come_from_the_applied_state(engine):
    cs = ConfState(voters=(1, 2, 3))
    desc = RangeDescriptor(RID, b"a", b"m", ((1, 1), (2, 2), (3, 3)), 1)
    write(engine, lambda b: bootstrap_range(b, desc, cs))
    rs = ReplicaStorage(engine, RID)
    assert rs.initial_state() == (HardState(term=1, commit=1), cs)
    assert (rs.first_index(), rs.last_index(), rs.term(1)) == (2, 1, 1)
    snap = rs.snapshot()
    assert snap.metadata == SnapshotMetadata(cs, 1, 1)
    assert ReplicaStorage(engine, RID + 1).snapshot().is_empty()


def test_ranges_do_not_see_each_other(engine):
    a, b = ReplicaStorage(engine, 1), ReplicaStorage(engine, 2)
    write(engine, a.append, [Entry(1, 1), Entry(1, 2)])
    write(engine, b.append, [Entry(3, 1)])
    write(engine, a.truncate, 2)
    b2 = ReplicaStorage(engine, 2)
    assert (b2.first_index(), b2.last_index(), b2.term(1)) == (1, 1, 3)
