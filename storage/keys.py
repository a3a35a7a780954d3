"""The engine's key layout: one ordered key space shared by every range of a store.

Every key starts with a one-byte prefix (``\\x00`` is reserved for store-wide records);
integers are fixed-width big-endian, so bytewise key order equals numeric order and each
range's records are contiguous::

    \\x00 b"bootstrapped"                  this node bootstrapped or joined a cluster (layout)
    \\x00 b"ident"                         the store's identity (data_dir: written at creation)
    \\x00 b"node-directory"                the cluster's nodes as this node last knew them
                                          (store.node_directory)
    \\x00 b"range-ids"                     the end of the range ids this node reserved (range_ids)
    \\x00 b"snap" rid:u64                  a snapshot install in progress (snapshot_install)
    \\x01 rid:u64 b"a"                      applied state (index, term, conf state)
    \\x01 rid:u64 b"c" client_id:u64        dedup record of one client (last seq, result)
    \\x01 rid:u64 b"d"                      range descriptor
    \\x01 rid:u64 b"h"                      raft HardState
    \\x01 rid:u64 b"l" index:u64            raft log entry
    \\x01 rid:u64 b"t"                      truncated state (index, term of the last dropped entry)
    \\x02 user_key                          user data, shared by all ranges; descriptors split it

Invariants: a range's records all lie in ``[range_prefix(rid), range_prefix(rid + 1))``; its
log entries lie in ``[log_key(rid, 0), log_key(rid, 2**64 - 1)]`` and sort by index; user keys
sort as their raw bytes do. The suffix letters are in ascending order so that the records a
group commit writes for one range (``h`` then ``l``) are in key order.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial

__all__ = [
    "STORE_LOCAL_PREFIX", "store_ident_key", "bootstrapped_key", "node_directory_key",
    "range_id_reservation_key", "installing_snapshot_key", "installing_snapshot_span",
    "range_id_of_installing_key", "tombstone_key", "RANGE_LOCAL_PREFIX", "USER_PREFIX",
    "USER_END", "range_prefix",
    "applied_state_key", "dedup_key", "dedup_span", "client_id_of_dedup_key", "descriptor_key",
    "hard_state_key", "log_key", "log_key_encoder", "log_span", "index_of_log_key",
    "truncated_state_key", "range_id_of_key", "user_key", "user_key_of", "user_span",
]

STORE_LOCAL_PREFIX = b"\x00"
RANGE_LOCAL_PREFIX = b"\x01"
USER_PREFIX = b"\x02"
#: Upper bound of the user key space (exclusive).
USER_END = b"\x03"

_RANGE = struct.Struct(">cQ")
_RANGE_SUFFIX = struct.Struct(">cQc")
_RANGE_SUFFIX_U64 = struct.Struct(">cQcQ")
_U64 = struct.Struct(">Q")
_PREFIX_U64 = struct.Struct(">%dsQ" % _RANGE_SUFFIX.size)  # a range's suffixed prefix, then a u64

_APPLIED, _DEDUP, _DESCRIPTOR, _HARD_STATE, _LOG, _TRUNCATED = b"a", b"c", b"d", b"h", b"l", b"t"
_AFTER_DEDUP, _AFTER_LOG = b"d", b"m"  # the suffix letters right after "c" and "l": span ends


def store_ident_key() -> bytes:
    """The store-wide record naming the store an engine belongs to (see ``data_dir``)."""
    return STORE_LOCAL_PREFIX + b"ident"


def bootstrapped_key() -> bytes:
    """The store-wide marker that this node has bootstrapped its share of a cluster or joined
    one: from then on it never bootstraps again, even holding no range (``layout``)."""
    return STORE_LOCAL_PREFIX + b"bootstrapped"


def node_directory_key() -> bytes:
    """The store-wide record of the cluster's node directory, so a restarted node knows the
    cluster without its original peer list (``store.node_directory``)."""
    return STORE_LOCAL_PREFIX + b"node-directory"


def range_id_reservation_key() -> bytes:
    """The store-wide record of the range ids reserved by this node (``range_ids``)."""
    return STORE_LOCAL_PREFIX + b"range-ids"


_INSTALLING = STORE_LOCAL_PREFIX + b"snap"


def installing_snapshot_key(range_id: int) -> bytes:
    """The store-wide record of range ``range_id``'s snapshot install in progress. Store-wide,
    not range-local, so a restarting node finds every interrupted install in one short scan
    (``installing_snapshot_span``) instead of walking every range's records."""
    return _INSTALLING + _U64.pack(range_id)


def installing_snapshot_span() -> tuple[bytes, bytes]:
    """Engine bounds ``[lo, hi)`` of every install-in-progress record."""
    return _INSTALLING, STORE_LOCAL_PREFIX + b"snaq"


def range_id_of_installing_key(key: bytes) -> int:
    range_id: int = _U64.unpack_from(key, len(_INSTALLING))[0]
    return range_id


def tombstone_key(range_id: int) -> bytes:
    """The store-wide record of the lowest replica id of ``range_id`` this node may still
    hold (its removed replicas' ids are below it). Store-wide, so destroying the range's
    records leaves it."""
    return STORE_LOCAL_PREFIX + b"tomb" + _U64.pack(range_id)


def range_prefix(range_id: int) -> bytes:
    """The first key of a range's local records; ``range_prefix(rid + 1)`` bounds them."""
    return _RANGE.pack(RANGE_LOCAL_PREFIX, range_id)


def range_id_of_key(key: bytes) -> int:
    """The range id of a range-local key."""
    range_id: int = _RANGE.unpack_from(key)[1]
    return range_id


def applied_state_key(range_id: int) -> bytes:
    return _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _APPLIED)


def dedup_span(range_id: int) -> tuple[bytes, bytes]:
    """Engine bounds ``[lo, hi)`` of every dedup record of a range."""
    return (_RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _DEDUP),
            _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _AFTER_DEDUP))


def dedup_key(range_id: int, client_id: int) -> bytes:
    return _RANGE_SUFFIX_U64.pack(RANGE_LOCAL_PREFIX, range_id, _DEDUP, client_id)


def client_id_of_dedup_key(key: bytes) -> int:
    client_id: int = _U64.unpack_from(key, _RANGE_SUFFIX.size)[0]
    return client_id


def descriptor_key(range_id: int) -> bytes:
    return _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _DESCRIPTOR)


def hard_state_key(range_id: int) -> bytes:
    return _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _HARD_STATE)


def log_key(range_id: int, index: int) -> bytes:
    return _RANGE_SUFFIX_U64.pack(RANGE_LOCAL_PREFIX, range_id, _LOG, index)


def log_key_encoder(range_id: int) -> Callable[[int], bytes]:
    """``log_key(range_id, i)`` as a function of ``i`` alone: the range's prefix is packed once,
    so the append path (one key per entry, every Ready) pays one C call per key."""
    return partial(_PREFIX_U64.pack, _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _LOG))


def log_span(range_id: int) -> tuple[bytes, bytes]:
    """Engine bounds ``[lo, hi)`` of every possible log key of a range."""
    return log_key(range_id, 0), _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _AFTER_LOG)


def index_of_log_key(key: bytes) -> int:
    index: int = _U64.unpack_from(key, _RANGE_SUFFIX.size)[0]
    return index


def truncated_state_key(range_id: int) -> bytes:
    return _RANGE_SUFFIX.pack(RANGE_LOCAL_PREFIX, range_id, _TRUNCATED)


def user_key(key: bytes) -> bytes:
    """The engine key of user key ``key``."""
    return USER_PREFIX + key


def user_key_of(engine_key: bytes) -> bytes:
    """The user key an engine key of the user key space stands for."""
    return engine_key[1:]


def user_span(start: bytes, end: bytes | None) -> tuple[bytes, bytes]:
    """Engine bounds ``[lo, hi)`` of user keys in ``[start, end)``; ``end=None`` is unbounded."""
    return USER_PREFIX + start, USER_END if end is None else USER_PREFIX + end
