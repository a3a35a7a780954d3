"""The lock-based design's invariant: no RawNode is touched without its replica's lock held.

Every RawNode of a running node is wrapped in a proxy that checks, on every method call, that
the calling thread holds the replica's ``OwnedLock``; a load of writes, reads, ticks and STATUS
then runs through all of the node's threads (transport, process_raft, writer)."""

from __future__ import annotations

import socket
import threading
import time

from lockbased.replica import LockedReplica
from multiraft import Client, Node, NodeConfig


class LockCheckedRawNode:
    """Forwards to a RawNode; records a violation for each call made without ``lock`` held."""

    def __init__(self, rn: object, replica: LockedReplica, log: dict) -> None:
        self._rn, self._replica, self._log = rn, replica, log

    def __getattr__(self, name: str):
        attr = getattr(self._rn, name)
        if not callable(attr):
            return attr

        def checked(*args, **kwargs):
            with self._log["mu"]:
                self._log["calls"] += 1
                if not self._replica.mu.held_by_caller():
                    self._log["violations"].append((name, threading.current_thread().name))
            return attr(*args, **kwargs)
        return checked


def _ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wrap_all(node: Node, log: dict) -> None:
    store = node.impl.store
    with store.mu:
        replicas = list(store.replicas.values())
    for r in replicas:
        with r.mu:
            r.core.rn = LockCheckedRawNode(r.core.rn, r, log)


def test_raw_nodes_are_only_touched_under_their_replicas_lock() -> None:
    p = _ports(6)
    raft = {i: f"127.0.0.1:{p[i - 1]}" for i in (1, 2, 3)}
    cl = {i: f"127.0.0.1:{p[i + 2]}" for i in (1, 2, 3)}
    nodes = [Node(NodeConfig(i, listen=raft[i], client_listen=cl[i], design="locks",
                             peers={j: raft[j] for j in raft if j != i}, engine="memory",
                             initial_ranges=8, tick_interval=0.02)) for i in raft]
    log: dict = {"mu": threading.Lock(), "calls": 0, "violations": []}
    for n in nodes:
        n.start()
    try:
        for n in nodes:
            _wrap_all(n, log)
        with Client(list(cl.values()), timeout=10) as c:
            deadline = time.monotonic() + 20
            for k in range(200):
                if time.monotonic() > deadline:
                    break
                key = bytes([k % 256]) + b"key%d" % k
                c.put(key, b"v")
                assert c.get(key) == b"v"
            assert c.cas(b"\x07x", None, b"1")
            c.status(cl[1])
        time.sleep(0.2)  # a few ticks of the process_raft thread run through the proxies too
    finally:
        for n in nodes:
            n.stop()
    assert log["calls"] > 1000, log["calls"]  # the check really ran, on every thread's path
    assert not log["violations"], log["violations"][:10]


def test_the_check_detects_a_call_without_the_lock() -> None:
    """The proxy is not vacuous: touching a RawNode from a thread without the lock is caught."""
    p = _ports(2)
    log: dict = {"mu": threading.Lock(), "calls": 0, "violations": []}
    node = Node(NodeConfig(1, listen=f"127.0.0.1:{p[0]}", client_listen=f"127.0.0.1:{p[1]}",
                           design="locks", engine="memory", initial_ranges=1))
    with node:
        _wrap_all(node, log)
        r = next(iter(node.impl.store.replicas.values()))
        r.core.rn.status()  # no lock held
    assert log["violations"] == [("status", threading.current_thread().name)]
