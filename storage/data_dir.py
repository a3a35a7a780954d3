"""Opening a node's data directory: its identity file and its engine.

Layout: ``<dir>/IDENT`` (JSON: format version, cluster id, node id; written once, atomically),
``<dir>/engine/`` (the RocksDB database) and ``<dir>/snapshots/`` (received snapshots staged
until installed: ``snapshot_staging``; created when the first one arrives, so only after
``IDENT`` exists). The engine also holds the same identity as a
store-wide record (``keys.store_ident_key()``). Every reason the directory cannot be used
raises one ``DataDirError`` whose message names the directory and the reason, meant to be
printed as is by the executables (no traceback).

**Amnesia.** ``IDENT`` exists only once the engine is durably created, so a directory with
``IDENT`` whose engine is missing, holds no RocksDB database (no ``CURRENT`` file) or holds no
store records (neither the identity record nor any range state) lost its engine: a wiped or
replaced disk. Such a node has forgotten its votes and its log; rebuilding its ranges at term 1
under the same replica ids could vote twice in a term and lose committed entries. It is
refused: as etcd and CockroachDB require, a node whose disk was wiped comes back only as a new
node (remove its data dir and join it to the cluster as a new node).

**First start, and its crash windows.** A fresh directory is created in this order:

1. the engine is created and the identity record is written into it, synced;
2. the data dir is fsynced (the ``engine/`` entry is durable), then ``IDENT`` is written
   atomically (temp file, fsync, rename, fsync the directory);
3. after ``open_data_dir`` returns, the node writes its bootstrap batch (``layout.bootstrap_node``,
   one synced write) and only then starts its transport (``store/lifecycle.py``).

A crash at any point leaves a directory that opens again without losing anything:

- before ``IDENT`` is durable (steps 1-2): no ``IDENT``, and an ``engine/`` that is missing, not
  yet a database, empty, or holding only the identity record. The node never bootstrapped and
  never sent a message, so the directory is simply created again (the engine is reused).
- after ``IDENT``, before the bootstrap batch (step 3): ``IDENT`` and an engine holding the
  identity record and no ranges. It opens, and ``bootstrap_node`` finds no ranges and writes
  them now; no peer was contacted before that batch was durable.

So "``IDENT`` present, identity record absent" never happens on our own crash, only on a wiped
disk; and an engine holding raft state without ``IDENT`` means ``IDENT`` was lost, which is
refused too (the engine is intact: restore ``IDENT``). Data dirs written before the identity
record existed (same format version) are accepted when their engine holds range records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import NoReturn

from . import keys
from .fsync import fsync_dir
from .errors import DataDirError
from .rocks_engine import RocksEngine
from .snapshot_staging import FileStaging

__all__ = ["FORMAT_VERSION", "StoreIdent", "DataDir", "open_data_dir"]

#: The on-disk format this code writes; it opens this version and older ones.
FORMAT_VERSION = 1
IDENT_FILE = "IDENT"
ENGINE_DIR = "engine"
SNAPSHOTS_DIR = "snapshots"
#: RocksDB's pointer to its live MANIFEST: a directory without it holds no database.
ROCKSDB_CURRENT = "CURRENT"


@dataclass(slots=True, frozen=True)
class StoreIdent:
    cluster_id: str
    node_id: int
    format_version: int = FORMAT_VERSION


@dataclass(slots=True)
class DataDir:
    """An opened data directory. Invariant: ``engine`` is open until ``close``."""

    path: str
    ident: StoreIdent
    engine: RocksEngine
    staging: FileStaging

    def close(self) -> None:
        self.engine.close()


def open_data_dir(path: str, cluster_id: str, node_id: int) -> DataDir:
    """Open the data directory of node ``node_id`` of cluster ``cluster_id``, creating it if it
    is missing or empty (or left by a crash before its ``IDENT`` was written). Raises
    ``DataDirError`` if it belongs to another cluster or node, has a newer format, is not a data
    directory, is damaged, or has lost its engine (a wiped disk: see the module docstring)."""
    path = os.path.abspath(path)
    try:
        ident = _read_ident(path)
        if ident is None:
            return _create(path, StoreIdent(cluster_id, node_id))
    except OSError as e:
        raise DataDirError(f"data dir {path}: {e.strerror or e}") from None
    if ident.format_version > FORMAT_VERSION:
        raise DataDirError(f"data dir {path} has format version {ident.format_version}; this "
                           f"build reads up to {FORMAT_VERSION}")
    if ident.cluster_id != cluster_id:
        raise DataDirError(f"data dir {path} belongs to cluster {ident.cluster_id!r}, "
                           f"not {cluster_id!r}")
    if ident.node_id != node_id:
        raise DataDirError(f"data dir {path} belongs to node {ident.node_id}, not {node_id}")
    engine_dir = os.path.join(path, ENGINE_DIR)
    # checked before opening: RocksDB would create an empty database in its place
    if not os.path.isdir(engine_dir):
        _amnesia(path, f"its engine directory {ENGINE_DIR}/ is missing")
    if not os.path.exists(os.path.join(engine_dir, ROCKSDB_CURRENT)):
        _amnesia(path, f"{ENGINE_DIR}/ holds no RocksDB database (no {ROCKSDB_CURRENT} file)")
    engine = _open_engine(path)
    try:
        if not _check_store_ident(path, engine, ident) and not _holds_range_records(engine):
            _amnesia(path, f"its RocksDB in {ENGINE_DIR}/ holds no store records")
    except BaseException:
        engine.close()
        raise
    return _opened(path, ident, engine)


def _opened(path: str, ident: StoreIdent, engine: RocksEngine) -> DataDir:
    return DataDir(path, ident, engine, FileStaging(os.path.join(path, SNAPSHOTS_DIR)))


def _amnesia(path: str, reason: str) -> NoReturn:
    raise DataDirError(
        f"data dir {path} has an {IDENT_FILE} file but {reason}: its disk was wiped or "
        f"replaced and this node's raft state is lost; restarting it under its old identity "
        f"could vote twice in a term and lose committed entries. Remove the data dir and join "
        f"this node to the cluster as a new node") from None


def _open_engine(path: str) -> RocksEngine:
    try:
        return RocksEngine(os.path.join(path, ENGINE_DIR))
    except Exception as e:  # rocksdict reports every open failure as a bare Exception
        raise DataDirError(f"data dir {path}: cannot open the engine: {e}") from None


def _encode_ident(ident: StoreIdent) -> bytes:
    return json.dumps({"format_version": ident.format_version, "cluster_id": ident.cluster_id,
                       "node_id": ident.node_id}).encode()


def _decode_ident(path: str, raw: bytes, what: str) -> StoreIdent:
    try:
        d = json.loads(raw)
        ident = StoreIdent(d["cluster_id"], d["node_id"], d["format_version"])
        if not (isinstance(ident.cluster_id, str) and type(ident.node_id) is int
                and type(ident.format_version) is int):
            raise TypeError("wrong field types")
    except (ValueError, TypeError, KeyError) as e:
        raise DataDirError(f"data dir {path}: {what} is corrupt ({e})") from None
    return ident


def _check_store_ident(path: str, engine: RocksEngine, ident: StoreIdent) -> bool:
    """Whether the engine holds its identity record; raises if it names another store."""
    raw = engine.get(keys.store_ident_key())
    if raw is None:
        return False
    mine = _decode_ident(path, raw, "the engine's identity record")
    if (mine.cluster_id, mine.node_id) != (ident.cluster_id, ident.node_id):
        raise DataDirError(f"data dir {path}: its engine belongs to node {mine.node_id} of "
                           f"cluster {mine.cluster_id!r}, not node {ident.node_id} of cluster "
                           f"{ident.cluster_id!r}")
    return True


def _holds_range_records(engine: RocksEngine) -> bool:
    """Whether the engine holds any range's local records (descriptor, raft state, ...): a
    store that has bootstrapped."""
    return bool(engine.scan(keys.RANGE_LOCAL_PREFIX, keys.USER_PREFIX, limit=1))


def _holds_more_than_store_records(engine: RocksEngine) -> bool:
    return bool(engine.scan(keys.RANGE_LOCAL_PREFIX, b"\xff", limit=1))


def _read_ident(path: str) -> StoreIdent | None:
    """The directory's identity; None if the directory is missing, empty, or holds only what a
    crash before ``IDENT`` was written can leave (``engine/``, ``IDENT.tmp``)."""
    if not os.path.exists(path):
        return None
    if not os.path.isdir(path):
        raise DataDirError(f"data dir {path} is not a directory")
    ident_path = os.path.join(path, IDENT_FILE)
    if not os.path.exists(ident_path):
        if set(os.listdir(path)) - {IDENT_FILE + ".tmp", ENGINE_DIR}:
            raise DataDirError(f"data dir {path} is not empty and has no {IDENT_FILE} file: "
                               f"not a multiraft data dir")
        return None
    with open(ident_path, "rb") as f:
        raw = f.read()
    return _decode_ident(path, raw, IDENT_FILE)


def _create(path: str, ident: StoreIdent) -> DataDir:
    """Create the data dir (or finish creating one a crash interrupted): the engine with its
    identity record, synced, then ``IDENT``. Refuses an engine that already holds range state
    (its ``IDENT`` was lost, not never written)."""
    os.makedirs(path, exist_ok=True)
    engine = _open_engine(path)
    try:
        if _holds_more_than_store_records(engine):
            raise DataDirError(f"data dir {path} has no {IDENT_FILE} file but its engine holds "
                               f"raft state: {IDENT_FILE} was lost; restore it, or remove the "
                               f"data dir and join this node to the cluster as a new node")
        if not _check_store_ident(path, engine, ident):
            b = engine.batch()
            b.put(keys.store_ident_key(), _encode_ident(ident))
            engine.write(b, sync=True)
        fsync_dir(path)
        _write_ident(path, ident)
    except OSError as e:
        engine.close()
        raise DataDirError(f"data dir {path}: {e.strerror or e}") from None
    except BaseException:
        engine.close()
        raise
    return _opened(path, ident, engine)


def _write_ident(path: str, ident: StoreIdent) -> None:
    """Write ``IDENT`` atomically (temp file, fsync, rename, fsync the directory)."""
    tmp = os.path.join(path, IDENT_FILE + ".tmp")
    with open(tmp, "wb") as f:
        f.write(_encode_ident(ident))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(path, IDENT_FILE))
    fsync_dir(path)
