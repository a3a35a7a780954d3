"""Staged snapshots: pairs go to disk (or, for the in-memory engine, a list) and come back in
order; a staged file that is not whole is never installed; a crash's leftovers are removed at
start, once the installs that need them are finished."""

from __future__ import annotations

import os

import pytest

from multiraft.raft.types import ConfState
from multiraft.storage import (FileStaging, MemoryEngine, MemoryStaging, RangeDescriptor,
                               ReplicaStorage, SnapshotHeader, SnapshotInstall,
                               StorageCorruptionError, bootstrap_range, keys, recover_installs)
from multiraft.storage.records import AppliedState

PAIRS = [(keys.user_key(b"k%05d" % i), b"v" * (i % 700)) for i in range(3_000)]
DESC = RangeDescriptor(1, b"", None, ((1, 1),))


@pytest.fixture(params=["file", "memory"])
def staging(request, tmp_path):
    return FileStaging(str(tmp_path / "snapshots")) if request.param == "file" else MemoryStaging()


def test_pairs_come_back_in_order(staging):
    staged = staging.create(1)
    for i in range(0, len(PAIRS), 256):
        staged.append(PAIRS[i:i + 256])
    staged.seal()
    assert list(staged.pairs()) == PAIRS
    assert list(staging.open(staged.name).pairs()) == PAIRS  # found again by its name
    staged.discard()
    with pytest.raises(StorageCorruptionError):
        list(staging.open(staged.name).pairs())


def test_clear_removes_everything_staged(staging):
    a, b = staging.create(1), staging.create(2)
    assert a.name != b.name
    a.append(PAIRS[:10])
    a.seal()
    staging.clear()
    for s in (a, b):
        with pytest.raises(StorageCorruptionError):
            list(staging.open(s.name).pairs())


def test_a_staging_dir_is_made_on_first_use_only(tmp_path):
    d = tmp_path / "snapshots"
    staging = FileStaging(str(d))
    staging.clear()
    assert not d.exists()
    staging.create(1).discard()
    assert d.is_dir() and os.listdir(d) == []


@pytest.mark.parametrize("damage", ["truncated", "flipped", "footer missing", "missing"])
def test_a_damaged_file_is_refused_when_read_to_its_end(tmp_path, damage):
    staging = FileStaging(str(tmp_path / "snapshots"))
    staged = staging.create(1)
    staged.append(PAIRS)
    staged.seal()
    path = os.path.join(staging.directory, staged.name)
    raw = open(path, "rb").read()
    if damage == "truncated":
        raw = raw[:len(raw) // 2] + raw[-20:]  # the footer kept, half the records gone
    elif damage == "flipped":
        i = len(raw) // 3
        raw = raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1:]
    elif damage == "footer missing":
        raw = raw[:-20]
    if damage == "missing":
        os.unlink(path)
    else:
        open(path, "wb").write(raw)
    with pytest.raises(StorageCorruptionError):
        list(staging.open(staged.name).pairs())


def test_names_are_confined_to_the_staging_dir(tmp_path):
    staging = FileStaging(str(tmp_path / "snapshots"))
    for bad in ("../IDENT", "/etc/passwd", "1-1", "a/1-1.snap"):
        with pytest.raises(StorageCorruptionError):
            staging.open(bad)


def test_recovery_refuses_an_install_whose_staged_file_is_damaged(tmp_path):
    """The record names a staged file that is not whole: the node must not start, and the range
    still does not claim the snapshot."""
    engine = MemoryEngine()
    b = engine.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1,)))
    engine.write(b)
    staging = FileStaging(str(tmp_path / "snapshots"))
    staged = staging.create(1)
    staged.append(PAIRS)
    staged.seal()
    header = SnapshotHeader(DESC, AppliedState(40, 3, ConfState(voters=(1,))))
    install = SnapshotInstall(engine, header, staged)
    begin, durable = next(install.writes(install.final_batch(ReplicaStorage(engine, 1))))
    engine.write(begin, sync=durable)
    path = os.path.join(staging.directory, staged.name)
    open(path, "r+b").truncate(os.path.getsize(path) - 1)
    with pytest.raises(StorageCorruptionError):
        recover_installs(engine, staging)
    assert ReplicaStorage(engine, 1).first_index() == 2  # still the bootstrap's (1, 1)
    assert engine.scan(*keys.installing_snapshot_span()) != []  # and still to be finished
