"""The Engine interface, against both engines."""

from __future__ import annotations

import pytest

from multiraft.storage import RocksEngine


def fill(engine, n=10):
    b = engine.batch()
    for i in range(n):
        b.put(bytes([i]), b"v%d" % i)
    engine.write(b, sync=True)


def keys_of(pairs):
    return [k[0] for k, _ in pairs]


def test_get_and_multi_get(engine):
    fill(engine)
    assert engine.get(b"\x03") == b"v3"
    assert engine.get(b"\x03\x00") is None
    assert engine.multi_get([b"\x09", b"zz", b"\x00"]) == [b"v9", None, b"v0"]


@pytest.mark.parametrize("start,end,limit,reverse,expected", [
    (b"\x02", b"\x05", None, False, [2, 3, 4]),
    (b"\x02", b"\x05", None, True, [4, 3, 2]),
    (b"\x02", b"\x05", 2, False, [2, 3]),
    (b"\x02", b"\x05", 2, True, [4, 3]),
    (b"\x02\x00", b"\x05\x00", None, True, [5, 4, 3]),
    (b"", b"\xff", None, False, list(range(10))),
    (b"\x05", b"\x05", None, False, []),
    (b"\x05", b"\x05", None, True, []),
    (b"\x0a", b"\xff", None, True, []),
    (b"\x02", b"\x05", 0, False, []),
])
def test_scan_bounds(engine, start, end, limit, reverse, expected):
    fill(engine)
    assert keys_of(engine.scan(start, end, limit, reverse)) == expected


def test_batch_applies_in_order_and_atomically(engine):
    fill(engine)
    b = engine.batch()
    b.delete_range(b"\x02", b"\x08")
    b.put(b"\x03", b"back")
    b.delete(b"\x00")
    b.put(b"\x01", b"one")
    assert len(b) == 4
    assert engine.get(b"\x00") == b"v0"  # nothing visible before the write
    engine.write(b)
    assert engine.scan(b"", b"\xff") == [(b"\x01", b"one"), (b"\x03", b"back"),
                                         (b"\x08", b"v8"), (b"\x09", b"v9")]


def test_snapshot_is_consistent(engine):
    fill(engine)
    snap = engine.snapshot()
    b = engine.batch()
    b.put(b"\x03", b"new")
    b.delete(b"\x04")
    b.delete_range(b"\x07", b"\x09")
    b.put(b"\x20", b"x")
    engine.write(b)
    assert snap.get(b"\x03") == b"v3" and snap.get(b"\x04") == b"v4"
    assert snap.multi_get([b"\x07", b"\x20"]) == [b"v7", None]
    assert keys_of(snap.scan(b"\x02", b"\xff")) == [2, 3, 4, 5, 6, 7, 8, 9]
    assert keys_of(snap.scan(b"\x02", b"\xff", 3, reverse=True)) == [9, 8, 7]
    assert engine.get(b"\x03") == b"new" and engine.get(b"\x04") is None
    snap.close()


def test_binary_keys_sort_bytewise(engine):
    b = engine.batch()
    for k in (b"\xff", b"\x00\x01", b"\x00", b"a", b"\x80\x00"):
        b.put(k, k)
    engine.write(b)
    assert [k for k, _ in engine.scan(b"", b"\xff\xff")] == [b"\x00", b"\x00\x01", b"a",
                                                             b"\x80\x00", b"\xff"]


def test_rocks_reopen_keeps_synced_writes(tmp_path):
    e = RocksEngine(str(tmp_path / "db"))
    fill(e)
    e.close()
    e.close()  # harmless
    e = RocksEngine(str(tmp_path / "db"))
    assert e.get(b"\x09") == b"v9"
    e.close()


def test_write_many_applies_batches_in_order(engine):
    fill(engine)
    first, second, third = engine.batch(), engine.batch(), engine.batch()
    first.put(b"\x03", b"first")
    first.put(b"\x20", b"x")
    second.delete_range(b"\x02", b"\x05")  # drops the first batch's put of \x03 too
    second.put(b"\x04", b"second")
    third.delete(b"\x20")
    engine.write_many([first, second, third], sync=True)
    assert keys_of(engine.scan(b"", b"\xff")) == [0, 1, 4, 5, 6, 7, 8, 9]
    assert engine.get(b"\x04") == b"second"
    assert [len(b) for b in (first, second, third)] == [0, 0, 0]


def test_write_many_rejects_a_written_batch_and_writes_nothing(engine):
    done, fresh = engine.batch(), engine.batch()
    done.put(b"a", b"1")
    engine.write(done)
    fresh.put(b"b", b"2")
    with pytest.raises(ValueError):
        engine.write_many([fresh, done])
    with pytest.raises(ValueError):
        engine.write_many([fresh, fresh])
    assert engine.get(b"b") is None
    engine.write_many([fresh])  # still unwritten
    assert engine.get(b"b") == b"2"


def test_write_many_of_nothing(engine):
    engine.write_many([], sync=True)
    engine.write_many([engine.batch()], sync=True)
    assert engine.scan(b"", b"\xff") == []


def test_rocks_sync_write_many_makes_earlier_unsynced_writes_durable(tmp_path):
    e = RocksEngine(str(tmp_path / "db"))
    b = e.batch()
    b.put(b"early", b"unsynced")
    e.write(b)
    e.write_many([], sync=True)  # nothing to write: fsyncs the WAL all the same
    b1, b2 = e.batch(), e.batch()
    b1.put(b"k1", b"v1")
    b2.put(b"k2", b"v2")
    e.write_many([b1, b2], sync=True)
    e.close()
    e = RocksEngine(str(tmp_path / "db"))
    assert e.multi_get([b"early", b"k1", b"k2"]) == [b"unsynced", b"v1", b"v2"]
    e.close()
