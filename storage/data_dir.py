"""Opening a node's data directory: its identity file and its engine.

Layout: ``<dir>/IDENT`` (JSON: format version, cluster id, node id; written once, atomically)
and ``<dir>/engine/`` (the RocksDB database). Every reason the directory cannot be used raises
one ``DataDirError`` whose message names the directory and the reason, meant to be printed as
is by the executables (no traceback).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .errors import DataDirError
from .rocks_engine import RocksEngine

__all__ = ["FORMAT_VERSION", "StoreIdent", "DataDir", "open_data_dir"]

#: The on-disk format this code writes; it opens this version and older ones.
FORMAT_VERSION = 1
IDENT_FILE = "IDENT"
ENGINE_DIR = "engine"


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

    def close(self) -> None:
        self.engine.close()


def open_data_dir(path: str, cluster_id: str, node_id: int) -> DataDir:
    """Open the data directory of node ``node_id`` of cluster ``cluster_id``, creating it if it
    is missing or empty. Raises ``DataDirError`` if it belongs to another cluster or node, has a
    newer format, is not a data directory, or is damaged."""
    path = os.path.abspath(path)
    try:
        ident = _read_ident(path)
        if ident is None:
            ident = StoreIdent(cluster_id, node_id)
            _create(path, ident)
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
    try:
        engine = RocksEngine(os.path.join(path, ENGINE_DIR))
    except Exception as e:  # rocksdict reports every open failure as a bare Exception
        raise DataDirError(f"data dir {path}: cannot open the engine: {e}") from None
    return DataDir(path, ident, engine)


def _read_ident(path: str) -> StoreIdent | None:
    """The directory's identity; None if the directory is missing or empty."""
    if not os.path.exists(path):
        return None
    if not os.path.isdir(path):
        raise DataDirError(f"data dir {path} is not a directory")
    ident_path = os.path.join(path, IDENT_FILE)
    if not os.path.exists(ident_path):
        if set(os.listdir(path)) - {IDENT_FILE + ".tmp"}:  # a crash may leave the temp file
            raise DataDirError(f"data dir {path} is not empty and has no {IDENT_FILE} file: "
                               f"not a multiraft data dir")
        return None
    with open(ident_path, "rb") as f:
        raw = f.read()
    try:
        d = json.loads(raw)
        ident = StoreIdent(d["cluster_id"], d["node_id"], d["format_version"])
        if not (isinstance(ident.cluster_id, str) and type(ident.node_id) is int
                and type(ident.format_version) is int):
            raise TypeError("wrong field types")
    except (ValueError, TypeError, KeyError) as e:
        raise DataDirError(f"data dir {path}: {IDENT_FILE} is corrupt ({e})") from None
    return ident


def _create(path: str, ident: StoreIdent) -> None:
    """Write ``IDENT`` atomically (temp file, fsync, rename, fsync the directory)."""
    os.makedirs(path, exist_ok=True)
    tmp = os.path.join(path, IDENT_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump({"format_version": ident.format_version, "cluster_id": ident.cluster_id,
                   "node_id": ident.node_id}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(path, IDENT_FILE))
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
