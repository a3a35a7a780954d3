"""Opening data directories: created when missing; refused, with a clear error naming the
directory, when foreign, newer, not ours, or damaged."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from multiraft.storage import DataDirError, load_descriptors, open_data_dir, RangeDescriptor
from multiraft.storage.range_descriptor import encode_descriptor
from multiraft.storage import keys
from multiraft.storage.layout import bootstrap_node
from multiraft.storage.rocks_engine import RocksEngine


def test_created_when_missing_and_reopened(tmp_path):
    path = str(tmp_path / "a" / "b")
    d = open_data_dir(path, "cluster-1", 3)
    b = d.engine.batch()
    for rid in (5, 2, 9):
        b.put(keys.descriptor_key(rid), encode_descriptor(RangeDescriptor(rid, b"", None)))
        b.put(keys.log_key(rid, 1), b"\x00" * 9)
    d.engine.write(b, sync=True)
    d.close()
    d = open_data_dir(path, "cluster-1", 3)
    assert (d.ident.cluster_id, d.ident.node_id) == ("cluster-1", 3)
    assert [r.range_id for r in load_descriptors(d.engine)] == [2, 5, 9]
    d.close()


def expect_error(path, *fragments, cluster="c", node=1):
    with pytest.raises(DataDirError) as exc:
        open_data_dir(str(path), cluster, node)
    msg = str(exc.value)
    assert str(path) in msg
    for f in fragments:
        assert f in msg
    # no chained traceback: the message is the whole story
    assert exc.value.__cause__ is None
    assert exc.value.__context__ is None or exc.value.__suppress_context__


def test_foreign_cluster_or_node(tmp_path):
    open_data_dir(str(tmp_path), "c", 1).close()
    expect_error(tmp_path, "cluster 'c'", cluster="other")
    expect_error(tmp_path, "node 1", node=2)


def test_newer_format(tmp_path):
    open_data_dir(str(tmp_path), "c", 1).close()
    ident = tmp_path / "IDENT"
    d = json.loads(ident.read_text())
    d["format_version"] = 99
    ident.write_text(json.dumps(d))
    expect_error(tmp_path, "format version 99")


@pytest.mark.parametrize("content", [b"", b"{not json", b'{"cluster_id": "c"}',
                                     b'{"cluster_id": 1, "node_id": 1, "format_version": 1}'])
def test_corrupt_ident(tmp_path, content):
    open_data_dir(str(tmp_path), "c", 1).close()
    (tmp_path / "IDENT").write_bytes(content)
    expect_error(tmp_path, "corrupt")


def test_corrupt_engine(tmp_path):
    open_data_dir(str(tmp_path), "c", 1).close()
    engine_dir = tmp_path / "engine"
    for name in os.listdir(engine_dir):
        if name.startswith("MANIFEST") or name == "CURRENT":
            (engine_dir / name).write_bytes(b"garbage\n")
    expect_error(tmp_path, "engine")


def test_not_a_data_dir(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    expect_error(tmp_path, "not a multiraft data dir")
    f = tmp_path / "file"
    f.write_text("x")
    expect_error(f, "not a directory")


# Amnesia (issue 12, defect 3): a data dir whose IDENT exists has bootstrapped, so an engine that
# is missing or empty means the disk was wiped. Rebuilding the ranges at term 1 under the same
# replica ids could vote twice in a term and lose committed entries: refuse to open, and say the
# node must come back as a new node.

def bootstrapped_dir(path) -> None:
    """A data dir as a node leaves it after its first start: IDENT and its bootstrapped ranges."""
    d = open_data_dir(str(path), "c", 1)
    bootstrap_node(d.engine, 1, [2, 3], 4)
    assert load_descriptors(d.engine)
    d.close()


def expect_amnesia(path, reason):
    expect_error(path, reason, "IDENT", "new node")


def test_fresh_dir_bootstraps_and_restarts(tmp_path):
    bootstrapped_dir(tmp_path)
    d = open_data_dir(str(tmp_path), "c", 1)
    assert [r.range_id for r in load_descriptors(d.engine)] == [1, 2, 3, 4]
    assert bootstrap_node(d.engine, 1, [2, 3], 4) == set()  # not new: nothing rewritten
    d.close()


def test_amnesia_engine_dir_missing(tmp_path):
    bootstrapped_dir(tmp_path)
    shutil.rmtree(tmp_path / "engine")
    expect_amnesia(tmp_path, "engine")
    assert not (tmp_path / "engine").exists()  # refused before anything was created


def test_amnesia_engine_dir_empty(tmp_path):
    bootstrapped_dir(tmp_path)
    shutil.rmtree(tmp_path / "engine")
    (tmp_path / "engine").mkdir()
    expect_amnesia(tmp_path, "no RocksDB database")
    assert os.listdir(tmp_path / "engine") == []


def test_amnesia_engine_dir_without_current(tmp_path):
    bootstrapped_dir(tmp_path)
    engine_dir = tmp_path / "engine"
    shutil.rmtree(engine_dir)
    engine_dir.mkdir()
    (engine_dir / "LOG").write_text("left over\n")
    expect_amnesia(tmp_path, "no RocksDB database")
    assert not (engine_dir / "CURRENT").exists()


def test_amnesia_engine_holds_no_store_records(tmp_path):
    bootstrapped_dir(tmp_path)
    shutil.rmtree(tmp_path / "engine")
    RocksEngine(str(tmp_path / "engine")).close()  # a brand-new, empty RocksDB
    expect_amnesia(tmp_path, "no store records")


def test_amnesia_engine_holds_only_user_data(tmp_path):
    bootstrapped_dir(tmp_path)
    shutil.rmtree(tmp_path / "engine")
    e = RocksEngine(str(tmp_path / "engine"))
    b = e.batch()
    b.put(keys.user_key(b"k"), b"v")
    e.write(b, sync=True)
    e.close()
    expect_amnesia(tmp_path, "no store records")


# The first start's crash windows (storage/data_dir.py docstring): a node that crashed during
# its very first start is not locked out, because IDENT is written only once the engine holds
# the store's identity record, and the node contacts no peer before its bootstrap is durable.

def test_crash_after_ident_before_the_bootstrap_batch(tmp_path):
    open_data_dir(str(tmp_path), "c", 1).close()  # IDENT written; bootstrap_node never ran
    d = open_data_dir(str(tmp_path), "c", 1)
    assert load_descriptors(d.engine) == []
    assert bootstrap_node(d.engine, 1, [2, 3], 4) == {1, 4}  # bootstraps now
    d.close()
    d = open_data_dir(str(tmp_path), "c", 1)
    assert len(load_descriptors(d.engine)) == 4
    d.close()


@pytest.mark.parametrize("engine", ["identity record", "empty database", "empty dir", "none"])
def test_crash_before_ident_was_written(tmp_path, engine):
    if engine == "identity record":
        open_data_dir(str(tmp_path), "c", 1).close()
        (tmp_path / "IDENT").unlink()
    elif engine == "empty database":
        RocksEngine(str(tmp_path / "engine")).close()
    elif engine == "empty dir":
        (tmp_path / "engine").mkdir()
    (tmp_path / "IDENT.tmp").write_text("{half writ")
    d = open_data_dir(str(tmp_path), "c", 1)
    assert (d.ident.cluster_id, d.ident.node_id) == ("c", 1)
    assert bootstrap_node(d.engine, 1, [2, 3], 4) == {1, 4}
    d.close()
    assert json.loads((tmp_path / "IDENT").read_text())["node_id"] == 1
    d = open_data_dir(str(tmp_path), "c", 1)
    assert len(load_descriptors(d.engine)) == 4
    d.close()


def test_ident_lost_but_engine_holds_raft_state(tmp_path):
    bootstrapped_dir(tmp_path)
    (tmp_path / "IDENT").unlink()
    expect_error(tmp_path, "no IDENT file", "raft state", "restore it")


def test_engine_of_another_node(tmp_path):
    bootstrapped_dir(tmp_path / "n1")
    d = open_data_dir(str(tmp_path / "n2"), "c", 2)
    bootstrap_node(d.engine, 2, [1, 3], 4)
    d.close()
    shutil.rmtree(tmp_path / "n1" / "engine")
    shutil.move(str(tmp_path / "n2" / "engine"), str(tmp_path / "n1" / "engine"))
    expect_error(tmp_path / "n1", "engine belongs to node 2")


def test_dir_from_before_the_identity_record_opens(tmp_path):
    bootstrapped_dir(tmp_path)
    e = RocksEngine(str(tmp_path / "engine"))
    b = e.batch()
    b.delete(keys.store_ident_key())  # as a build without the record left it
    e.write(b, sync=True)
    e.close()
    d = open_data_dir(str(tmp_path), "c", 1)
    assert len(load_descriptors(d.engine)) == 4
    d.close()
