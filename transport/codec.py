"""The node-to-node wire codec: a versioned envelope around positional msgpack arrays.

Every frame is one msgpack array ``[VERSION, kind, sender_node_id, body]``. The kinds:

- ``RAFT``: ``body`` is a list of items ``[range_id, type, to, from, term, log_term, index,
  entries, commit, snapshot, reject, reject_hint, context]``, one per raft message, for any
  number of ranges, all bound for one node. ``entries`` is flattened
  (``[term, index, type, data, term, index, ...]``) and ``snapshot`` is ``None`` or
  ``[data, *metadata]``: flat arrays decode faster than nested ones (msgpack decode is the
  transport's ceiling, see DESIGN).
- ``HEARTBEATS`` / ``HEARTBEAT_RESPONSES``: ``body`` is a list of
  ``[range_id, from_replica, to_replica, term, commit, quiesce]``: one frame per node pair
  per heartbeat interval, however many ranges the pair shares.
- ``SNAPSHOT_CHUNK``: ``body`` is one bounded chunk of a range's snapshot stream.
- ``SNAPSHOT_ACK``: ``body`` is the receiver's answer to a whole stream (accepted or refused).
- ``REPLICA_GONE``: ``body`` tells a replica that its range removed it (``ReplicaGone``).
- ``REPLICA_CHECK``: ``body`` asks a member of a range whether the sender's replica is still
  in it (``ReplicaCheck``; answered REPLICA_GONE if not, nothing otherwise).
- ``NODE_DIRECTORY``: ``body`` is the sender's whole node directory, a list of
  ``[node_id, raft_address, client_address, state, version]`` (gossiped every few ticks:
  ``store.node_directory``); ``state`` is one of ``NODE_STATES``.
- ``NODE_LOAD``: ``body`` is ``[replicas, leaders]``: how many ranges the sender holds and
  leads, gossiped with its directory (``NodeLoadReport``, for the allocator).

Raft items are packed one by one on the sender's thread (``raft_item``) and joined into a
frame on the transport thread (``raft_frame``), which then does almost no work per message.
Decoding validates every field (exact types, unsigned ranges, enum values, lengths) and raises
``DecodeError`` only, whatever the input.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Sequence

import msgpack

from multiraft.raft.types import (LOCAL_MESSAGES, ConfState, Entry, EntryType, Message, MessageType,
                        Snapshot, SnapshotMetadata)

__all__ = [
    "VERSION", "MAX_FRAME_BYTES", "DecodeError", "FrameKind", "Heartbeat", "SnapshotChunk",
    "SnapshotAck", "ReplicaGone", "replica_gone_frame", "ReplicaCheck", "replica_check_frame", "unpack_envelope", "raft_item",
    "raft_frame", "heartbeats_frame", "snapshot_chunk_frame", "snapshot_ack_frame", "decode_frame",
    "NODE_STATES", "DirectoryItem", "node_directory_frame", "decode_directory_items",
    "MAX_DIRECTORY_RECORDS", "MAX_ADDRESS_LEN", "NodeLoadReport", "node_load_frame",
]

VERSION = 1

#: Largest frame a node accepts; bounds every length the decoder allows.
MAX_FRAME_BYTES = 64 << 20


class DecodeError(ValueError):
    """A frame or client message is malformed: wrong version, kind, type, range or length."""


class FrameKind(IntEnum):
    RAFT = 1
    HEARTBEATS = 2
    HEARTBEAT_RESPONSES = 3
    SNAPSHOT_CHUNK = 4
    CLIENT_REQUEST = 5
    CLIENT_RESPONSE = 6
    SNAPSHOT_ACK = 7
    REPLICA_GONE = 8
    NODE_DIRECTORY = 9
    NODE_LOAD = 10
    REPLICA_CHECK = 11


#: A node's operator state, as a directory record carries it: serving, being drained (its
#: replicas are to move away), or gone for good (its id may never join again).
NODE_STATES = ("active", "decommissioning", "decommissioned")
#: One record of a NODE_DIRECTORY frame: (node_id, raft_address, client_address, state,
#: version); ``client_address`` is "" while unknown.
DirectoryItem = tuple[int, str, str, str, int]
#: Bounds a NODE_DIRECTORY frame is held to.
MAX_DIRECTORY_RECORDS = 10_000
MAX_ADDRESS_LEN = 256


@dataclass(slots=True)
class Heartbeat:
    """One range's heartbeat (or heartbeat response) inside a coalesced frame.

    ``quiesce`` asks the follower to stop ticking the range until it hears otherwise.
    """

    range_id: int
    from_replica: int
    to_replica: int
    term: int
    commit: int
    quiesce: bool = False


@dataclass(slots=True)
class SnapshotChunk:
    """One piece of a snapshot stream; ``last`` marks the final chunk.

    Chunks of one stream share (range_id, from_replica, term, metadata, stream_id) and are
    numbered from 0 by ``index``; the storage layer bounds ``data``. ``stream_id`` names one
    sending of one snapshot: a resent snapshot is a new stream.
    """

    range_id: int
    from_replica: int
    to_replica: int
    term: int
    metadata: SnapshotMetadata
    index: int
    last: bool
    data: bytes
    stream_id: int = 0


@dataclass(slots=True, frozen=True)
class SnapshotAck:
    """The receiver's answer to a whole snapshot stream: ``accepted`` once it installed it (or
    already held it), else refused (damaged, incomplete, superseded); the sender reports the
    snapshot to raft from this answer."""

    range_id: int
    from_replica: int  # the receiver
    to_replica: int    # the sender
    stream_id: int
    accepted: bool


@dataclass(slots=True, frozen=True)
class ReplicaGone:
    """A member of range ``range_id`` tells replica ``replica_id`` (which sent it a message)
    that the range's descriptor, at ``conf_ver``, no longer lists it: it was removed
    (CockroachDB's ``ReplicaTooOldError``). Ids are never reused, so the replica may destroy
    itself."""

    range_id: int
    replica_id: int
    conf_ver: int


@dataclass(slots=True, frozen=True)
class ReplicaCheck:
    """Replica ``replica_id`` of range ``range_id``, whose descriptor is at ``conf_ver``, asks
    a member whether it is still in the range (CockroachDB's replica GC queue: a quiesced range
    never tells a replica it removed, so the replica asks)."""

    range_id: int
    replica_id: int
    conf_ver: int


# Wire enum lookups keyed by exact int; local raft messages never travel.
_WIRE_TYPES = {int(t): t for t in MessageType if t not in LOCAL_MESSAGES}
_ENTRY_TYPES = {int(t): t for t in EntryType}
_KINDS = {int(k): k for k in FrameKind}

# One Packer per thread (a Packer is not thread-safe; ``packb`` would build one per call).
_packers = threading.local()

def _unpack(data: bytes | memoryview) -> Any:
    """msgpack.unpackb with the limits every frame is held to (tuples, not lists)."""
    return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=True,
                           max_bin_len=MAX_FRAME_BYTES, max_str_len=1 << 20,
                           max_array_len=1 << 22, max_map_len=1 << 16, max_ext_len=0)


def _fail(what: str) -> DecodeError:
    return DecodeError(f"malformed frame: {what}")


def unpack_envelope(data: bytes | memoryview) -> tuple[FrameKind, tuple[Any, ...]]:
    """Unpack ``data`` and check its envelope; returns (kind, fields after the kind)."""
    try:
        frame = _unpack(data)
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise DecodeError(f"not msgpack: {type(e).__name__}: {e}") from None
    if type(frame) is not tuple or len(frame) < 2:
        raise _fail("envelope is not an array")
    if frame[0] != VERSION or type(frame[0]) is not int:
        raise DecodeError(f"unsupported version {frame[0]!r}")
    kind = _KINDS.get(frame[1]) if type(frame[1]) is int else None
    if kind is None:
        raise _fail(f"unknown kind {frame[1]!r}")
    return kind, frame[2:]


def _uint_tuple(ids: Any) -> tuple[int, ...]:
    if type(ids) is not tuple or not all(type(i) is int and i >= 0 for i in ids):
        raise _fail("id list")
    return ids


def _pack_metadata(md: SnapshotMetadata) -> list[Any]:
    cs = md.conf_state
    return [md.index, md.term, cs.voters, cs.learners, cs.voters_outgoing, cs.learners_next,
            cs.auto_leave]


def _decode_metadata(index: Any, term: Any, voters: Any, learners: Any, voters_out: Any,
                     learners_next: Any, auto_leave: Any) -> SnapshotMetadata:
    if type(index) is not int or type(term) is not int or (index | term) < 0:
        raise _fail("snapshot index/term")
    if type(auto_leave) is not bool:
        raise _fail("auto_leave")
    cs = ConfState(_uint_tuple(voters), _uint_tuple(learners), _uint_tuple(voters_out),
                   _uint_tuple(learners_next), auto_leave)
    return SnapshotMetadata(cs, index, term)


def raft_item(range_id: int, m: Message) -> bytes:
    """Pack one (range, message) item of a RAFT frame, on the caller's thread.

    Packed items queue as bytes, which the garbage collector never scans (queued tuples made
    it a measured bottleneck), and their exact size caps frames. Raises TypeError or
    OverflowError for a value msgpack cannot pack, to the caller.
    """
    try:
        packer = _packers.packer
    except AttributeError:
        packer = _packers.packer = msgpack.Packer()
    flat: Any = ()
    if m.entries:
        flat = []
        for e in m.entries:
            flat += (e.term, e.index, e.type, e.data)
    snap = m.snapshot
    packed_snap = None if snap is None else (snap.data, *_pack_metadata(snap.metadata))
    item: bytes = packer.pack((range_id, m.type, m.to, m.from_, m.term, m.log_term, m.index,
                               flat, m.commit, packed_snap, m.reject, m.reject_hint, m.context))
    return item


def _array_header(n: int) -> bytes:
    """The msgpack header of an array of ``n`` elements."""
    if n < 16:
        return bytes((0x90 | n,))
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


def raft_frame(sender: int, items: Sequence[bytes]) -> bytes:
    """A RAFT frame from items packed by ``raft_item``, joined without re-packing."""
    head = msgpack.packb((VERSION, FrameKind.RAFT, sender))
    # head is a 3-element array; a 4-element header makes the joined items its 4th element.
    return b"\x94" + head[1:] + _array_header(len(items)) + b"".join(items)


def heartbeats_frame(sender: int, heartbeats: Sequence[Heartbeat], responses: bool = False) -> bytes:
    """A coalesced HEARTBEATS (or HEARTBEAT_RESPONSES) frame."""
    kind = FrameKind.HEARTBEAT_RESPONSES if responses else FrameKind.HEARTBEATS
    body = [(h.range_id, h.from_replica, h.to_replica, h.term, h.commit, h.quiesce)
            for h in heartbeats]
    return msgpack.packb((VERSION, kind, sender, body))


def snapshot_chunk_frame(sender: int, c: SnapshotChunk) -> bytes:
    """A SNAPSHOT_CHUNK frame."""
    body = (c.range_id, c.from_replica, c.to_replica, c.term, _pack_metadata(c.metadata),
            c.index, c.last, c.data, c.stream_id)
    frame: bytes = msgpack.packb((VERSION, FrameKind.SNAPSHOT_CHUNK, sender, body))
    return frame


def snapshot_ack_frame(sender: int, a: SnapshotAck) -> bytes:
    """A SNAPSHOT_ACK frame."""
    body = (a.range_id, a.from_replica, a.to_replica, a.stream_id, a.accepted)
    frame: bytes = msgpack.packb((VERSION, FrameKind.SNAPSHOT_ACK, sender, body))
    return frame


@dataclass(slots=True, frozen=True)
class NodeLoadReport:
    """How many initialized replicas the sending node holds and how many of them lead."""

    replicas: int
    leaders: int


def node_load_frame(sender: int, load: NodeLoadReport) -> bytes:
    """A NODE_LOAD frame."""
    frame: bytes = msgpack.packb((VERSION, FrameKind.NODE_LOAD, sender,
                                  (load.replicas, load.leaders)))
    return frame


def replica_gone_frame(sender: int, g: ReplicaGone) -> bytes:
    """A REPLICA_GONE frame."""
    frame: bytes = msgpack.packb((VERSION, FrameKind.REPLICA_GONE, sender,
                                  (g.range_id, g.replica_id, g.conf_ver)))
    return frame


def node_directory_frame(sender: int, records: Sequence[DirectoryItem]) -> bytes:
    """A NODE_DIRECTORY frame carrying ``records``."""
    frame: bytes = msgpack.packb((VERSION, FrameKind.NODE_DIRECTORY, sender, list(records)))
    return frame


def decode_directory_items(body: Any) -> list[DirectoryItem]:
    """Validate a NODE_DIRECTORY body (msgpack-decoded with tuples for arrays): the records;
    ``DecodeError`` for anything else. Also reads the directory a node persisted."""
    if type(body) is not tuple or len(body) > MAX_DIRECTORY_RECORDS:
        raise _fail("node directory body")
    out: list[DirectoryItem] = []
    for rec in body:
        if type(rec) is not tuple or len(rec) != 5:
            raise _fail("node directory record")
        node_id, raft, client, state, version = rec
        if type(node_id) is not int or not 0 < node_id < 1 << 64:
            raise _fail("node directory node id")
        if type(version) is not int or not 0 <= version < 1 << 64:
            raise _fail("node directory version")
        if not (type(raft) is str and type(client) is str and 0 < len(raft) <= MAX_ADDRESS_LEN
                and len(client) <= MAX_ADDRESS_LEN):
            raise _fail("node directory address")
        if type(state) is not str or state not in NODE_STATES:
            raise _fail("node directory state")
        out.append((node_id, raft, client, state, version))
    return out


def replica_check_frame(sender: int, q: ReplicaCheck) -> bytes:
    """A REPLICA_CHECK frame."""
    frame: bytes = msgpack.packb((VERSION, FrameKind.REPLICA_CHECK, sender,
                                  (q.range_id, q.replica_id, q.conf_ver)))
    return frame


def _decode_entries(flat: Any) -> tuple[Entry, ...]:
    if type(flat) is not tuple or len(flat) % 4:
        raise _fail("entries")
    out = []
    it = iter(flat)
    for term, index, etype, data in zip(it, it, it, it):
        if type(term) is not int or type(index) is not int or (term | index) < 0:
            raise _fail("entry term/index")
        if type(etype) is not int or type(data) is not bytes:
            raise _fail("entry type/data")
        out.append(Entry(term, index, _ENTRY_TYPES[etype], data))
    return tuple(out)


def _decode_raft_item(item: Any) -> tuple[int, Message]:
    (range_id, mtype, to, frm, term, log_term, index, entries, commit, snap, reject, hint,
     context) = item
    if not (type(range_id) is int and type(mtype) is int and type(to) is int
            and type(frm) is int and type(term) is int and type(log_term) is int
            and type(index) is int and type(commit) is int and type(hint) is int):
        raise _fail("raft message field is not an int")
    if (range_id | to | frm | term | log_term | index | commit | hint) < 0:
        raise _fail("negative id/term/index")
    if type(reject) is not bool or type(context) is not bytes:
        raise _fail("reject/context")
    if snap is not None:
        if type(snap) is not tuple or len(snap) != 8 or type(snap[0]) is not bytes:
            raise _fail("snapshot")
        snap = Snapshot(snap[0], _decode_metadata(*snap[1:]))
    ents = _decode_entries(entries) if entries else ()
    return range_id, Message(_WIRE_TYPES[mtype], to, frm, term, log_term, index, ents, commit,
                             snap, reject, hint, context)


def _decode_heartbeat(h: Any) -> Heartbeat:
    range_id, frm, to, term, commit, quiesce = h
    if not (type(range_id) is int and type(frm) is int and type(to) is int
            and type(term) is int and type(commit) is int and type(quiesce) is bool):
        raise _fail("heartbeat field type")
    if (range_id | frm | to | term | commit) < 0:
        raise _fail("negative heartbeat field")
    return Heartbeat(range_id, frm, to, term, commit, quiesce)


def _decode_chunk(body: Any) -> SnapshotChunk:
    range_id, frm, to, term, metadata, index, last, data, stream_id = body
    if not (type(range_id) is int and type(frm) is int and type(to) is int
            and type(term) is int and type(index) is int and type(stream_id) is int):
        raise _fail("snapshot chunk field type")
    if (range_id | frm | to | term | index | stream_id) < 0 or stream_id >= 1 << 64:
        raise _fail("snapshot chunk field out of range")
    if type(last) is not bool or type(data) is not bytes or type(metadata) is not tuple:
        raise _fail("snapshot chunk last/data/metadata")
    return SnapshotChunk(range_id, frm, to, term, _decode_metadata(*metadata), index, last, data,
                         stream_id)


def _decode_ack(body: Any) -> SnapshotAck:
    range_id, frm, to, stream_id, accepted = body
    if not (type(range_id) is int and type(frm) is int and type(to) is int
            and type(stream_id) is int and type(accepted) is bool):
        raise _fail("snapshot ack field type")
    if (range_id | frm | to | stream_id) < 0 or stream_id >= 1 << 64:
        raise _fail("snapshot ack field out of range")
    return SnapshotAck(range_id, frm, to, stream_id, accepted)


def _decode_replica_fields(body: Any) -> tuple[int, int, int]:
    range_id, replica_id, conf_ver = body
    if not all(type(v) is int and 0 <= v < 1 << 64 for v in (range_id, replica_id, conf_ver)):
        raise _fail("replica gone/check field")
    return range_id, replica_id, conf_ver


def decode_frame(data: bytes | memoryview) -> tuple[FrameKind, int, Any]:
    """Decode a node-to-node frame: (kind, sender node id, payload).

    The payload is a list of ``(range_id, Message)`` for RAFT, a list of ``Heartbeat`` for
    HEARTBEATS and HEARTBEAT_RESPONSES, a ``SnapshotChunk`` for SNAPSHOT_CHUNK, a
    ``SnapshotAck`` for SNAPSHOT_ACK, a ``ReplicaGone`` for REPLICA_GONE, a ``ReplicaCheck``
    for REPLICA_CHECK, a list of
    ``DirectoryItem`` for NODE_DIRECTORY, a ``NodeLoadReport`` for NODE_LOAD.
    Raises ``DecodeError`` for anything else, client kinds included.
    """
    kind, fields = unpack_envelope(data)
    try:
        sender, body = fields
        if type(sender) is not int or sender < 0:
            raise _fail("sender")
        if kind is FrameKind.RAFT:
            if type(body) is not tuple:
                raise _fail("raft body")
            return kind, sender, [_decode_raft_item(item) for item in body]
        if kind is FrameKind.HEARTBEATS or kind is FrameKind.HEARTBEAT_RESPONSES:
            if type(body) is not tuple:
                raise _fail("heartbeat body")
            return kind, sender, [_decode_heartbeat(h) for h in body]
        if kind is FrameKind.SNAPSHOT_CHUNK:
            return kind, sender, _decode_chunk(body)
        if kind is FrameKind.SNAPSHOT_ACK:
            return kind, sender, _decode_ack(body)
        if kind is FrameKind.REPLICA_GONE:
            return kind, sender, ReplicaGone(*_decode_replica_fields(body))
        if kind is FrameKind.REPLICA_CHECK:
            return kind, sender, ReplicaCheck(*_decode_replica_fields(body))
        if kind is FrameKind.NODE_DIRECTORY:
            return kind, sender, decode_directory_items(body)
        if kind is FrameKind.NODE_LOAD:
            replicas, leaders = body
            if not all(type(v) is int and 0 <= v < 1 << 32 for v in (replicas, leaders)):
                raise _fail("node load field")
            return kind, sender, NodeLoadReport(replicas, leaders)
    except DecodeError:
        raise
    except (ValueError, TypeError, KeyError) as e:  # wrong arity, non-iterable, bad enum
        raise _fail(f"{type(e).__name__}: {e}") from None
    raise _fail(f"{kind.name} is not a node-to-node frame")
