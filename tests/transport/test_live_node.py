"""One or two transports in the test process: garbage and spoofing against a live node,
heartbeat and snapshot frames on the wire, fault delays, the client endpoint, key files."""

from __future__ import annotations

import os
import random
import stat
import time

import msgpack
import pytest
import zmq

from multiraft.raft.types import ConfState, Message, MessageType, SnapshotMetadata
from multiraft.transport import (ClientConnection, ClientOp, ClientStatus, CurveConfig, FaultInjector,
                       Heartbeat, LinkFault, SnapshotChunk, Transport, generate_keypair,
                       load_keypair)
from multiraft.transport.codec import VERSION, FrameKind, raft_frame, raft_item
from multiraft.transport.keys import main as keys_main

from transport_cluster import Recorder, curve_config, curve_node1, resend_until, wait_until


@pytest.fixture
def pair():
    """Nodes 1 and 2 connected both ways; node 1 has faults and a client endpoint."""
    r1, r2, faults = Recorder(), Recorder(), FaultInjector(seed=3)
    t1 = Transport(1, "127.0.0.1:0", {}, r1, faults=faults, client_listen="127.0.0.1:0")
    t1.start()
    t2 = Transport(2, "127.0.0.1:0", {1: t1.address}, r2)
    t2.start()
    t1.add_peer(2, t2.address)
    resend_until(lambda: t1.send(2, 0, Message(MessageType.APP, 2, 1, term=1)), lambda: r2.raft)
    resend_until(lambda: t2.send(1, 0, Message(MessageType.APP, 1, 2, term=1)), lambda: r1.raft)
    yield t1, r1, t2, r2, faults
    t1.stop()
    t2.stop()


def raw_push(ctx: zmq.Context, address: str) -> zmq.Socket:
    s = ctx.socket(zmq.PUSH)
    s.linger = 0
    s.connect(f"tcp://{address}")
    return s


def test_garbage_is_counted_and_the_node_keeps_serving(pair):
    t1, r1, t2, r2, _ = pair
    rnd = random.Random(7)
    good = raft_frame(9, [raft_item(4, Message(MessageType.APP, 1, 9, term=42))])
    garbage = [bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 100))) for _ in range(200)]
    garbage += [good[:n] for n in range(len(good))]
    garbage.append(msgpack.packb((VERSION, FrameKind.RAFT, 9, [[[0]] * 13])))
    with zmq.Context() as ctx:
        s = raw_push(ctx, t1.address)
        for g in garbage:
            s.send(g)
        s.send(good)
        wait_until(lambda: 42 in r1.tags_from(9))
        s.close()
    assert t1.counters.decode_errors == len(garbage)
    t2.send(1, 0, Message(MessageType.APP, 1, 2, term=43))
    wait_until(lambda: 43 in r1.tags_from(2))


def test_heartbeats_and_snapshot_chunks_cross_the_wire(pair):
    t1, r1, t2, r2, _ = pair
    hbs = [Heartbeat(r, 1, 2, 5, r * 10, quiesce=r % 2 == 1) for r in range(1000)]
    t1.send_heartbeats(2, hbs)
    t2.send_heartbeat_responses(1, hbs[:3])
    chunk = SnapshotChunk(7, 1, 2, 5, SnapshotMetadata(ConfState((1, 2)), 100, 5), 0, True,
                          b"x" * 200_000)
    t1.send_snapshot_chunk(2, chunk)
    wait_until(lambda: len(r2.heartbeats) == 1000 and r2.chunks and r1.heartbeat_responses)
    assert [h for _, h in r2.heartbeats] == hbs
    assert [h for _, h in r1.heartbeat_responses] == hbs[:3]
    assert r2.chunks == [(1, chunk)]


def test_big_batches_are_split_at_the_frame_cap(pair):
    t1, r1, t2, r2, _ = pair
    before = t1.counters.peers[2].frames_sent
    n = 100
    for i in range(n):  # ~5 KiB each: 500 KiB in all, at least 7 frames of <= 64 KiB
        t1.send(2, 0, Message(MessageType.APP, 2, 1, term=5, context=b"c" * 5000))
    wait_until(lambda: sum(m.term == 5 for _, _, m in list(r2.raft)) == n)
    assert t1.counters.peers[2].frames_sent - before >= 7


def test_delay_holds_frames_then_delivers_them_in_order(pair):
    t1, r1, t2, r2, faults = pair
    faults.set(1, 2, LinkFault(delay=0.3))
    sent = time.monotonic()
    for i in range(5):
        t1.send(2, 0, Message(MessageType.APP, 2, 1, term=7, index=i))
        time.sleep(0.01)
    wait_until(lambda: sum(m.term == 7 for _, _, m in list(r2.raft)) == 5)
    assert time.monotonic() - sent >= 0.3
    assert [m.index for _, _, m in r2.raft if m.term == 7] == list(range(5))
    faults.set(1, 2, LinkFault(drop=1.0))
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=8))
    wait_until(lambda: t1.counters.peers[2].messages_faulted >= 6)
    faults.heal()
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=9))
    wait_until(lambda: 9 in r2.tags_from(1))
    assert 8 not in r2.tags_from(1)


def test_handler_exceptions_do_not_stop_the_transport(pair):
    t1, r1, t2, r2, _ = pair
    calls = []

    def boom(from_node, items):
        calls.append(items)
        raise RuntimeError("handler bug")
    r2.on_raft_messages = boom
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=3))
    wait_until(lambda: calls)
    del r2.on_raft_messages
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=4))
    wait_until(lambda: 4 in r2.tags_from(1))


def test_spoofed_sender_is_dropped_under_curve(tmp_path):
    with curve_node1(tmp_path, ("n1", "n2")) as (t1, recorder):
        n2 = curve_config(tmp_path, "n2", {1: "n1"})
        with zmq.Context() as ctx:
            s = ctx.socket(zmq.PUSH)
            s.linger = 0
            s.curve_secretkey, s.curve_publickey = n2.secret_key, n2.public_key
            s.curve_serverkey = n2.node_keys[1]
            s.connect(f"tcp://{t1.address}")
            # Authenticated as node 2, claiming to be node 3: dropped; as itself: delivered.
            spoof = raft_frame(3, [raft_item(0, Message(MessageType.APP, 1, 3, term=66))])
            honest = raft_frame(2, [raft_item(0, Message(MessageType.APP, 1, 2, term=67))])
            s.send(spoof)
            s.send(honest)
            wait_until(lambda: 67 in recorder.tags_from(2))
            s.close()
        assert recorder.tags_from(3) == set()
        assert t1.counters.auth_mismatches == 1


def test_client_requests_get_answers_and_garbage_gets_counted(pair):
    t1, *_ = pair
    with ClientConnection(t1.client_address) as c:
        assert c.request(ClientOp.GET, (b"k",)).result == b"k"
        bad = c.request(ClientOp.PUT, (b"k",))
        assert bad.status is ClientStatus.REFUSED and "PUT" in bad.result
        with zmq.Context() as ctx:
            s = ctx.socket(zmq.DEALER)
            s.linger = 0
            s.connect(f"tcp://{t1.client_address}")
            s.send(b"\xc1 not msgpack")
            s.send_multipart([b"two", b"frames"])  # a batch of two requests, neither valid
            wait_until(lambda: t1.counters.decode_errors == 4)
            s.close()
        ok = c.request(ClientOp.PUT, (b"k", b"v"))
        assert (ok.status, ok.result) == (ClientStatus.OK, None)
    # counted on the transport thread right after the send: the client may read the answer first
    wait_until(lambda: t1.counters.client_responses == 3)


def test_a_multipart_message_is_a_batch_of_requests_answered_in_one_message(pair):
    """Issue 15, client protocol batching: a DEALER may send many requests as one multipart
    message (one request per part); the node answers them in one multipart message, one
    response per part, in order. Past MAX_REQUESTS_PER_MESSAGE they are refused, not served."""
    from multiraft.transport.client_protocol import (ClientRequest, decode_response,
                                                     encode_request)
    from multiraft.transport.zmq_transport import MAX_REQUESTS_PER_MESSAGE
    t1, *_ = pair
    with zmq.Context() as ctx:
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(f"tcp://{t1.client_address}")
        keys = [b"k%d" % i for i in range(5)]
        s.send_multipart([encode_request(ClientRequest(i + 1, ClientOp.GET, (k,)))
                          for i, k in enumerate(keys)])
        assert s.poll(10_000)
        got = [decode_response(p) for p in s.recv_multipart()]
        assert [(r.request_id, r.status, r.result) for r in got] == \
            [(i + 1, ClientStatus.OK, k) for i, k in enumerate(keys)]
        n = MAX_REQUESTS_PER_MESSAGE + 2
        s.send_multipart([encode_request(ClientRequest(100 + i, ClientOp.GET, (b"x",)))
                          for i in range(n)])
        answers: list = []
        while len(answers) < n and s.poll(10_000):
            answers.extend(decode_response(p) for p in s.recv_multipart())
        s.close()
    assert [r.status for r in answers] == \
        [ClientStatus.OK] * MAX_REQUESTS_PER_MESSAGE + [ClientStatus.REFUSED] * 2
    assert "more than" in answers[-1].result


def test_curve_client_endpoint_admits_listed_clients_only(tmp_path):
    for name in ("n1", "alice", "mallory"):
        generate_keypair(tmp_path, name)
    base = curve_config(tmp_path, "n1", {1: "n1"})
    alice = load_keypair(tmp_path / "alice.key_secret")
    mallory = load_keypair(tmp_path / "mallory.key_secret")
    curve = CurveConfig(base.public_key, base.secret_key, base.node_keys, frozenset({alice[0]}))
    t1 = Transport(1, "127.0.0.1:0", {}, Recorder(), curve=curve, client_listen="127.0.0.1:0")
    t1.start()
    try:
        with ClientConnection(t1.client_address, curve.public_key, alice) as c:
            assert c.request(ClientOp.GET, (b"a",)).result == b"a"
        with ClientConnection(t1.client_address, curve.public_key, mallory) as c:
            with pytest.raises(TimeoutError):
                c.request(ClientOp.GET, (b"m",), timeout=0.5)
        assert t1.counters.client_requests == 1
    finally:
        t1.stop()


def test_keys_cli_writes_a_private_secret_file(tmp_path, capsys):
    keys_main([str(tmp_path / "keys"), "node7"])
    secret = tmp_path / "keys" / "node7.key_secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
    public, secret_key = load_keypair(secret)
    assert len(public) == len(secret_key) == 40
    assert "node7.key" in capsys.readouterr().out


def test_no_frame_passes_the_frame_cap_unless_one_message_alone_does(pair):
    """Batching closes a frame before an item would take it past the cap (issue 12, defect 4):
    every frame of several messages stays within ``max_frame_bytes``."""
    t1, r1, t2, r2, _ = pair
    sizes: list[int] = []
    real = t1._send_now

    def spy(node_id: int, frame: bytes, n: int) -> None:
        if n > 1:
            sizes.append(len(frame))
        real(node_id, frame, n)

    t1._send_now = spy
    for i in range(40):  # 40 KiB each: two never fit in one 64 KiB frame
        t1.send(2, 0, Message(MessageType.APP, 2, 1, term=7, context=b"c" * (40 << 10)))
    wait_until(lambda: sum(m.term == 7 for _, _, m in list(r2.raft)) == 40)
    assert all(s <= t1._max_frame_bytes for s in sizes), sizes


def test_a_message_over_the_peers_limit_is_dropped_not_sent(pair):
    """A message that cannot fit a peer's receive limit would make ZeroMQ drop the connection
    (stalling every range of the pair): it is dropped and counted; the link keeps working."""
    from multiraft.transport.codec import MAX_FRAME_BYTES
    t1, r1, t2, r2, _ = pair
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=8, context=b"x" * (MAX_FRAME_BYTES + 1)))
    t1.send(2, 0, Message(MessageType.APP, 2, 1, term=9))
    wait_until(lambda: any(m.term == 9 for _, _, m in list(r2.raft)))
    assert not any(m.term == 8 for _, _, m in list(r2.raft))
    assert t1.counters.peers[2].messages_oversize == 1
