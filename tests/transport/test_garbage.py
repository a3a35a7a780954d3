"""Garbage in: whatever bytes arrive, decoding raises DecodeError and nothing else.

At least 10,000 hypothesis examples in all (random bytes, mutations, wrong structures), plus
every truncation of valid frames and hand-made huge lengths.
"""

from __future__ import annotations

import random

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiraft.raft.types import ConfState, Entry, Message, MessageType, Snapshot, SnapshotMetadata
from multiraft.transport import (ClientOp, ClientRequest, ClientResponse, ClientStatus, DecodeError,
                       Heartbeat, SnapshotChunk, decode_frame, decode_request, decode_response,
                       encode_request, encode_response)
from multiraft.transport.codec import (VERSION, FrameKind, heartbeats_frame, raft_frame, raft_item,
                             snapshot_chunk_frame)



def fast(n: int) -> settings:
    return settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


DECODERS = (decode_frame, decode_request, decode_response)

_META = SnapshotMetadata(ConfState((1, 2, 3), (4,), (), (), False), 10, 2)
VALID = [
    raft_frame(1, [raft_item(7, Message(MessageType.APP, 2, 1, 3, 2, 9, (
        Entry(3, 10, data=b"put k v"), Entry(3, 11)), 8, context=b"ctx")),
        raft_item(8, Message(MessageType.SNAP, 2, 1, 3, snapshot=Snapshot(b"s", _META))),
        raft_item(9, Message(MessageType.VOTE_RESP, 2, 1, 4, reject=True, reject_hint=5))]),
    heartbeats_frame(1, [Heartbeat(r, 1, 2, 5, 100, r % 2 == 0) for r in range(5)]),
    heartbeats_frame(1, [Heartbeat(3, 1, 2, 5, 100)], responses=True),
    snapshot_chunk_frame(1, SnapshotChunk(7, 1, 2, 3, _META, 0, True, b"chunk")),
    encode_request(ClientRequest(5, ClientOp.CAS, (b"k", None, b"v"))),
    encode_response(ClientResponse(5, ClientOp.SCAN, ClientStatus.OK, (((b"a", b"1"),), b""))),
]


def decodes_or_rejects(data: bytes) -> None:
    """Every decoder either accepts ``data`` or raises DecodeError; anything else fails."""
    for decode in DECODERS:
        try:
            decode(data)
        except DecodeError:
            pass


@fast(3500)
@given(st.binary(max_size=200))
def test_random_bytes(data):
    decodes_or_rejects(data)


@fast(3000)
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                        min_size=1, max_size=4))
def test_mutated_valid_frames(frame, edits):
    data = bytearray(frame)
    for pos, value in edits:
        data[pos % len(data)] = value
    decodes_or_rejects(bytes(data))


# Any msgpack value: what a structurally wrong frame puts where something else belongs.
_any = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats() | st.binary(max_size=8)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=4)


def _paths(value, path=()):
    yield path
    if isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, path + (i,))


def _replace(value, path, new):
    if not path:
        return new
    value = list(value)
    value[path[0]] = _replace(value[path[0]], path[1:], new)
    return value


_TREES = [msgpack.unpackb(f) for f in VALID]


@fast(2500)
@given(st.sampled_from(_TREES), st.randoms(use_true_random=False), _any)
def test_structurally_wrong_frames(tree, rnd, replacement):
    path = rnd.choice(list(_paths(tree)))
    decodes_or_rejects(msgpack.packb(_replace(tree, path, replacement)))


@fast(1500)
@given(st.sampled_from(_TREES), st.randoms(use_true_random=False))
def test_dropped_and_duplicated_fields(tree, rnd):
    path = rnd.choice([p for p in _paths(tree) if p])
    mangled = msgpack.unpackb(msgpack.packb(tree))
    target = mangled
    for i in path[:-1]:
        target = target[i]
    if rnd.random() < 0.5:
        del target[path[-1]]
    else:
        target.insert(path[-1], target[path[-1]])
    decodes_or_rejects(msgpack.packb(mangled))


def test_every_truncation_of_valid_frames():
    for frame in VALID:
        for n in range(len(frame)):
            decodes_or_rejects(frame[:n])


@pytest.mark.parametrize("data", [
    b"\xdd\xff\xff\xff\xff",                      # array claiming 4G elements
    b"\x94\x01\x01\x01\xdd\xff\xff\xff\xff",      # RAFT body claiming 4G items
    b"\x94\x01\x01\x01\x91\xc6\xff\xff\xff\xff",  # bin claiming 4 GiB
    b"\xdf\xff\xff\xff\xff",                      # map claiming 4G pairs
    b"\xc7\x01\x05\x00",                          # ext type
    b"\x91" * 5000 + b"\xc0",                     # nesting far deeper than any frame
    msgpack.packb((VERSION, FrameKind.RAFT, 1, [[0] * 13])) + b"\x00",  # trailing data
])
def test_huge_lengths_and_odd_encodings(data):
    decodes_or_rejects(data)
    with pytest.raises(DecodeError):
        decode_frame(data)


def test_valid_frames_decode():
    """The corpus the mutations start from is itself valid."""
    for frame in VALID[:4]:
        decode_frame(frame)
    decode_request(VALID[4])
    decode_response(VALID[5])


def test_random_corpus_seeded():
    """A fixed-seed batch of mutations, so a regression shows without hypothesis' database."""
    rnd = random.Random(4)
    for _ in range(2000):
        data = bytearray(rnd.choice(VALID))
        data[rnd.randrange(len(data))] = rnd.randrange(256)
        decodes_or_rejects(bytes(data))
