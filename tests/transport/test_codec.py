"""Round trips of every frame kind and client message through the codec."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multiraft.raft.types import LOCAL_MESSAGES, Message, MessageType
from multiraft.transport import (DecodeError, decode_frame, decode_request, decode_response,
                       encode_request, encode_response)
from multiraft.transport.codec import (VERSION, FrameKind, ReplicaCheck, ReplicaGone,
                             heartbeats_frame, raft_frame, raft_item, replica_check_frame,
                             replica_gone_frame, snapshot_chunk_frame)

from transport_strategies import chunks, heartbeats, raft_items, requests, responses, u64

settings.register_profile("transport", deadline=None)
settings.load_profile("transport")


@settings(max_examples=200)
@given(u64, st.lists(raft_items, max_size=5))
def test_raft_batch_round_trip(sender, items):
    frame = raft_frame(sender, [raft_item(r, m) for r, m in items])
    kind, got_sender, got = decode_frame(frame)
    assert (kind, got_sender) == (FrameKind.RAFT, sender)
    assert got == [(r, Message(m.type, m.to, m.from_, m.term, m.log_term, m.index,
                               tuple(m.entries), m.commit, m.snapshot, m.reject, m.reject_hint,
                               m.context)) for r, m in items]


@settings(max_examples=300)
@given(u64, st.lists(heartbeats, max_size=20), st.booleans())
def test_heartbeats_round_trip(sender, hbs, responses_kind):
    kind, got_sender, got = decode_frame(heartbeats_frame(sender, hbs, responses=responses_kind))
    expected = FrameKind.HEARTBEAT_RESPONSES if responses_kind else FrameKind.HEARTBEATS
    assert (kind, got_sender, got) == (expected, sender, hbs)


@settings(max_examples=300)
@given(u64, chunks)
def test_snapshot_chunk_round_trip(sender, chunk):
    assert decode_frame(snapshot_chunk_frame(sender, chunk)) == (
        FrameKind.SNAPSHOT_CHUNK, sender, chunk)


@given(u64, u64, u64, u64)
def test_replica_gone_and_check_round_trip(sender, range_id, replica_id, conf_ver):
    gone = ReplicaGone(range_id, replica_id, conf_ver)
    assert decode_frame(replica_gone_frame(sender, gone)) == (FrameKind.REPLICA_GONE, sender, gone)
    check = ReplicaCheck(range_id, replica_id, conf_ver)
    assert decode_frame(replica_check_frame(sender, check)) == (
        FrameKind.REPLICA_CHECK, sender, check)


@pytest.mark.parametrize("kind", [FrameKind.REPLICA_GONE, FrameKind.REPLICA_CHECK])
@pytest.mark.parametrize("body", [(1, 2), (1, 2, -1), (1, "2", 3), (1, 2, 3, 4), None])
def test_a_bad_replica_gone_or_check_frame_is_a_decode_error(kind, body):
    with pytest.raises(DecodeError):
        decode_frame(msgpack.packb((VERSION, kind, 1, body)))


@settings(max_examples=300)
@given(requests)
def test_client_request_round_trip(req):
    assert decode_request(encode_request(req)) == req


@settings(max_examples=300)
@given(responses)
def test_client_response_round_trip(resp):
    assert decode_response(encode_response(resp)) == resp


@pytest.mark.parametrize("n", [0, 15, 16, 65535, 65536])
def test_frames_of_every_array_header_size(n):
    item = raft_item(3, Message(MessageType.APP_RESP, 2, 1, 4, index=9))
    kind, sender, got = decode_frame(raft_frame(1, [item] * n))
    assert len(got) == n and all(r == 3 and m.index == 9 for r, m in got)


def test_unpackable_message_raises_in_the_caller():
    with pytest.raises(TypeError):
        raft_item(1, Message(MessageType.APP, context=object()))


@pytest.mark.parametrize("mtype", sorted(LOCAL_MESSAGES))
def test_local_messages_never_decode(mtype):
    frame = raft_frame(1, [raft_item(1, Message(mtype))])
    with pytest.raises(DecodeError):
        decode_frame(frame)


def test_unknown_version_and_kind_rejected():
    with pytest.raises(DecodeError, match="version"):
        decode_frame(msgpack.packb((VERSION + 1, FrameKind.RAFT, 1, ())))
    with pytest.raises(DecodeError, match="kind"):
        decode_frame(msgpack.packb((VERSION, 99, 1, ())))
    with pytest.raises(DecodeError, match="not a node-to-node frame"):
        decode_frame(msgpack.packb((VERSION, FrameKind.CLIENT_REQUEST, 1, ())))


def test_bools_and_floats_are_not_ints():
    good = list(raft_item(1, Message(MessageType.APP, 2, 1, 3)))
    for pos, bad in [(2, True), (4, 3.0), (0, -1), (6, None)]:
        item = list(good)
        item[pos] = bad
        with pytest.raises(DecodeError):
            decode_frame(msgpack.packb((VERSION, FrameKind.RAFT, 1, [item])))

