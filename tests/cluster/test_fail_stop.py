"""Issue 12, defect 6: a failed durable write stops the node process (logged, non-zero exit), as
etcd and CockroachDB do; nothing it did not make durable is acknowledged, and the rest of the
cluster keeps serving. The failure is real: node 3 runs under a file-size limit (RLIMIT_FSIZE),
so RocksDB's WAL write fails with EFBIG once the log passes it, exactly as on a full disk."""

from __future__ import annotations

import resource
import time
from typing import Any

from .conftest import wait_until

FILE_LIMIT = 4 << 20
VALUE = b"x" * (100 << 10)


def _limit_file_size() -> None:  # runs in node 3's child process, before exec
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_a_failed_durable_write_stops_the_node(make_cluster: Any) -> None:
    cluster = make_cluster("procs", ranges=4, start=False)
    cluster.preexec[3] = _limit_file_size
    cluster.start_all()
    cluster.wait_all_led()
    acked: list[bytes] = []
    with cluster.client(timeout=10) as c:
        deadline = time.monotonic() + 60
        i = 0
        while cluster.procs[3].poll() is None and time.monotonic() < deadline and i < 400:
            key = b"fill/%04d" % i
            c.put(key, VALUE)  # a replica on node 3 is in every range: its WAL grows
            acked.append(key)
            i += 1
        wait_until(lambda: cluster.procs[3].poll() is not None, 30,
                   "node 3 to stop after its failed write", diagnose=lambda: cluster.log_tail(3))
        rc = cluster.exited(3)
        log = cluster.log_path(3).read_text(errors="replace")
        assert rc == 1, f"exit {rc}\n{cluster.log_tail(3)}"
        assert "durable write failed" in log, cluster.log_tail(3)
        c.put(b"after", b"1")  # two nodes still serve every range
        del cluster.preexec[3]
        cluster.start(3)
        cluster.wait_serving(3)
        for key in acked:  # nothing acknowledged was lost
            assert c.get(key) == VALUE, key
        assert c.get(b"after") == b"1"


def test_a_crashed_replica_stops_its_node(make_cluster: Any, monkeypatch: Any) -> None:
    """No actor dies silently (issue 12, defect 6): a replica whose handler raises (a bug) stops
    its node, whose ``failure`` says why; the other nodes keep serving."""
    from multiraft.replica.core import ReplicaCore

    cluster = make_cluster("inproc", ranges=4)
    cluster.wait_all_led()
    node = cluster.nodes[3]
    real_tick = ReplicaCore.tick

    def tick(core: ReplicaCore) -> None:
        if core.svc.node_id == 3:
            raise RuntimeError("injected bug in a replica of node 3")
        real_tick(core)

    monkeypatch.setattr(ReplicaCore, "tick", tick)
    with cluster.client(timeout=10) as c:
        for i in range(20):  # wakes ranges: their replicas on node 3 tick, and crash
            c.put(b"crash/%d" % i, b"v")
    wait_until(lambda: node.failure is not None, 30, "node 3 to stop itself")
    assert "crashed" in str(node.failure) and "injected bug" in str(node.failure)
    wait_until(lambda: cluster.status(3) is None, 30, "node 3 to stop answering")
    cluster.running.discard(3)
    cluster.nodes.pop(3)
    monkeypatch.setattr(ReplicaCore, "tick", real_tick)
    with cluster.client(timeout=10) as c:
        c.put(b"after-crash", b"1")
        assert c.get(b"after-crash") == b"1"
