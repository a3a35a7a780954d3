"""Issue 12, defect 5: writes without a command id (``client_id=0``, which opts out of
deduplication) are distinct requests even when their (client id, seq) pairs are equal: each is
answered with its own result, once its own entry applied. (They shared one pending slot keyed by
(client id, seq): one got the other's answer, the other none.)"""

from __future__ import annotations

from typing import Any

import zmq

from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus,
                                                 decode_response, encode_request)

from .conftest import key_in

PAIRS = 20


def test_writes_without_a_command_id_each_get_their_own_answer(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    leader = cluster.leader_of(1)
    rng = cluster.range_table()[1]
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.linger = 0
        sock.connect(f"tcp://{cluster.client_addr[leader]}")
        # Pairs sent back to back: both of a pair are pending at the leader at once.
        sent: dict[int, bytes] = {}
        for i in range(PAIRS):
            for j in (0, 1):
                rid = 2 * i + j + 1
                key = key_in(rng, f"nocid/{i}/{j}")
                sent[rid] = key
                sock.send(encode_request(ClientRequest(rid, ClientOp.CAS, (key, None, b"%d" % rid))))
        answers: dict[int, Any] = {}
        while len(answers) < len(sent) and sock.poll(10_000):
            resp = decode_response(sock.recv())
            assert resp.request_id not in answers, f"request {resp.request_id} answered twice"
            assert resp.status is ClientStatus.OK, resp
            answers[resp.request_id] = resp.result
    finally:
        ctx.destroy(linger=0)
    assert sorted(answers) == sorted(sent), f"unanswered: {sorted(set(sent) - set(answers))}"
    # Every CAS was the first write of its own key: each swapped (True) and saw no value.
    assert all(a == (True, None) for a in answers.values()), answers
    with cluster.client() as c:
        for rid, key in sent.items():
            assert c.get(key) == b"%d" % rid
