"""Hypothesis strategies for every value the transport codec carries."""

from __future__ import annotations

from hypothesis import strategies as st

from multiraft.raft.types import (LOCAL_MESSAGES, ConfState, Entry, EntryType, Message, MessageType,
                        Snapshot, SnapshotMetadata)
from multiraft.transport import (ClientOp, ClientRequest, ClientResponse, ClientStatus, Heartbeat,
                       SnapshotChunk)

u64 = st.integers(min_value=0, max_value=2**64 - 1)
small = st.binary(max_size=64)
ids = st.lists(u64, max_size=5).map(tuple)

entries = st.builds(Entry, u64, u64, st.sampled_from(EntryType), small)
conf_states = st.builds(ConfState, ids, ids, ids, ids, st.booleans())
metadata = st.builds(SnapshotMetadata, conf_states, u64, u64)
snapshots = st.builds(Snapshot, small, metadata)
wire_types = st.sampled_from([t for t in MessageType if t not in LOCAL_MESSAGES])

messages = st.builds(
    Message, wire_types, u64, u64, u64, u64, u64,
    st.lists(entries, max_size=4).map(tuple), u64, st.none() | snapshots, st.booleans(), u64,
    small)
raft_items = st.tuples(u64, messages)
heartbeats = st.builds(Heartbeat, u64, u64, u64, u64, u64, st.booleans())
chunks = st.builds(SnapshotChunk, u64, u64, u64, u64, metadata, u64, st.booleans(), small)

_ARGS = {
    ClientOp.PUT: st.tuples(small, small),
    ClientOp.GET: st.tuples(small),
    ClientOp.DELETE: st.tuples(small),
    ClientOp.CAS: st.tuples(small, st.none() | small, st.none() | small),
    ClientOp.SCAN: st.tuples(small, small, u64),
    ClientOp.STATUS: st.tuples(st.dictionaries(st.text(max_size=8), u64 | small, max_size=4)),
    ClientOp.SPLIT: st.tuples(small),
    ClientOp.LOOKUP: st.tuples(small),
    ClientOp.CHANGE_REPLICAS: st.tuples(small, u64, u64, st.sampled_from(["add", "remove", "move"]),
                                        u64, u64),
    ClientOp.TRANSFER_LEADER: st.tuples(small, u64, u64),
    ClientOp.DECOMMISSION: st.tuples(u64, st.sampled_from(["decommissioning", "decommissioned",
                                                           "active"])),
    ClientOp.JOIN: st.tuples(u64, st.text(max_size=20), st.text(max_size=20),
                             st.text(max_size=20)),
}
_WIRE_DESCRIPTOR = st.tuples(u64, small, small, u64)
_RESULTS = {
    ClientOp.PUT: st.none(),
    ClientOp.GET: st.none() | small,
    ClientOp.DELETE: st.booleans(),
    ClientOp.CAS: st.tuples(st.booleans(), st.none() | small),
    ClientOp.SCAN: st.tuples(st.lists(st.tuples(small, small), max_size=4).map(tuple), small),
    ClientOp.STATUS: st.dictionaries(st.text(max_size=8), u64 | st.text(max_size=8), max_size=4),
    ClientOp.SPLIT: st.tuples(_WIRE_DESCRIPTOR, _WIRE_DESCRIPTOR),
    ClientOp.LOOKUP: st.tuples(st.lists(_WIRE_DESCRIPTOR, min_size=1, max_size=3).map(tuple), u64),
    **{op: st.dictionaries(st.text(max_size=8), u64 | st.text(max_size=8), max_size=4)
       for op in (ClientOp.CHANGE_REPLICAS, ClientOp.TRANSFER_LEADER, ClientOp.DECOMMISSION,
                  ClientOp.JOIN)},
}
_NON_OK = {
    ClientStatus.NOT_LEADER: u64,
    ClientStatus.RANGE_NOT_FOUND: st.none(),
    ClientStatus.REFUSED: st.text(max_size=40),
    ClientStatus.UNAVAILABLE: st.text(max_size=40),
    ClientStatus.BUSY: st.text(max_size=40),
    ClientStatus.RANGE_KEY_MISMATCH: st.lists(st.tuples(u64, small, small, u64), max_size=3).map(tuple),
    ClientStatus.TOO_LARGE: st.text(max_size=40),
    ClientStatus.SESSION_EXPIRED: st.text(max_size=40),
    ClientStatus.SESSIONS_FULL: st.text(max_size=40),
    ClientStatus.RANGE_BOUNDARY: st.text(max_size=40),
}

requests = st.sampled_from(ClientOp).flatmap(
    lambda op: st.builds(ClientRequest, u64, st.just(op), _ARGS[op], u64, u64, st.booleans()))


def _response(op: ClientOp, status: ClientStatus) -> st.SearchStrategy[ClientResponse]:
    result = _RESULTS[op] if status is ClientStatus.OK else _NON_OK[status]
    return st.builds(ClientResponse, u64, st.just(op), st.just(status), result)


responses = st.tuples(st.sampled_from(ClientOp), st.sampled_from(ClientStatus)).flatmap(
    lambda t: _response(*t))
