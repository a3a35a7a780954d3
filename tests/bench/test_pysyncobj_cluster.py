"""The PySyncObj anchor (``bench.pysyncobj_cluster`` / ``bench.pysyncobj_node``): real 3-process
clusters on loopback, driven by the project's own workload generator and client.

Ports: base ports 18600..18640, one per test (other tests pick random bases in 20000..40000).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import msgpack
import pytest
import zmq

from multiraft.bench.pysyncobj_cluster import PySyncObjCluster
from multiraft.bench.workload import run_workload
from multiraft.client import Client
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus, decode_response,
                                       encode_request)
from multiraft.transport.codec import VERSION, FrameKind

pytestmark = pytest.mark.timeout(120)

#: The keys ``run_workload`` writes to a one-range cluster (its default 64 keys per range).
WORKLOAD_KEYS = [b"\x00" + i.to_bytes(4, "big") for i in range(64)]


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., PySyncObjCluster]]:
    """Start clusters in ``tmp_path``; every one is stopped at teardown, also on failure."""
    started: list[PySyncObjCluster] = []

    def make(base_port: int, journal: bool = True) -> PySyncObjCluster:
        c = PySyncObjCluster(tmp_path, base_port=base_port, journal=journal)
        started.append(c)
        return c.start(timeout=60)

    yield make
    for c in started:
        c.stop()


def test_workload_runs_unchanged_and_writes_values(make_cluster) -> None:
    c = make_cluster(18600)
    res = run_workload(c.client_addrs, seconds=2, inflight=16, max_ops=2000)
    assert res.ops > 0
    assert (res.errors, res.timeouts) == (0, 0)
    with Client(c.client_addrs) as cl:
        values = [cl.get(k) for k in WORKLOAD_KEYS]
    written = [v for v in values if v is not None]
    assert written, "no workload key holds a value"
    assert all(v == b"v" * 100 for v in written)


@pytest.mark.parametrize("journal", [True, False])
def test_data_survives_a_full_restart_only_with_the_journal(make_cluster, journal: bool) -> None:
    base = 18610 if journal else 18620
    c = make_cluster(base, journal=journal)
    data = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(5)}
    with Client(c.client_addrs) as cl:
        for k, v in data.items():
            cl.put(k, v)
    c.stop()
    c = make_cluster(base, journal=journal)
    with Client(c.client_addrs) as cl:
        back = {k: cl.get(k) for k in data}
    assert back == (data if journal else dict.fromkeys(data))


def test_garbage_does_not_crash_a_node(make_cluster) -> None:
    c = make_cluster(18630)
    addr = c.client_addrs[0]
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(f"tcp://{addr}")
        s.send(b"\xc1 not msgpack")
        s.send(msgpack.packb([1, 2, 3]))
        s.send_multipart([b"two", b"parts"])  # a batch of two requests, neither valid
        s.send(msgpack.packb((VERSION, FrameKind.CLIENT_REQUEST, 7, ClientOp.PUT, (b"k",), 0, 0,
                              True)))  # bad args for PUT
        s.send(encode_request(ClientRequest(8, ClientOp.SCAN, (b"", b"", 10))))
        answers = {}
        while len(answers) < 2 and s.poll(10_000):
            r = decode_response(s.recv())
            answers[r.request_id] = r
        assert {i: r.status for i, r in answers.items()} == {
            7: ClientStatus.REFUSED, 8: ClientStatus.REFUSED}
    finally:
        ctx.destroy(linger=0)
    with Client(c.client_addrs) as cl:
        st = cl.status(addr)
        cl.put(b"after", b"garbage")
        assert cl.get(b"after") == b"garbage"
    assert st["node"]["decode_errors"] == 5
    assert c.procs[1].poll() is None


def test_stop_leaves_no_process(make_cluster) -> None:
    c = make_cluster(18640)
    procs = dict(c.procs)
    assert len(procs) == 3 and all(p.poll() is None for p in procs.values())
    c.stop()
    assert c.procs == {}
    assert {i: p.returncode for i, p in procs.items()} == {1: 0, 2: 0, 3: 0}  # clean SIGTERM exits
    for p in procs.values():
        with pytest.raises(ProcessLookupError):
            os.kill(p.pid, 0)
