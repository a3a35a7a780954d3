"""In-process clusters of any number of nodes on loopback (``multiraft.Node``, RocksDB in tmp
dirs), for the membership tests: nodes that join later, stop, restart. The ``nodes`` fixture
gives a ``Nodes`` of the test's ``design`` and tears it down (every node stopped, then no thread
of the test process left behind)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from multiraft import Node, NodeConfig
from multiraft.transport.client import ClientConnection
from multiraft.transport.client_protocol import ClientOp, ClientStatus

from .conftest import _new_threads, free_ports, wait_until

__all__ = ["Nodes", "nodes"]


class Nodes:
    """Nodes ``1..n`` with fixed ports and data dirs (a node restarts in place); ``founders``
    are the nodes of the first bootstrap, each given the others as peers."""

    def __init__(self, tmp_path: Path, design: str, founders: int, ranges: int = 4,
                 tick_ms: int = 50, max_nodes: int = 6, **options: Any) -> None:
        self.tmp_path = tmp_path
        self.design = design
        self.ranges = ranges
        self.tick_ms = tick_ms
        self.founders = list(range(1, founders + 1))
        self.options = options
        ports = free_ports(2 * max_nodes)
        self.raft_addr = {i: f"127.0.0.1:{ports[i - 1]}" for i in range(1, max_nodes + 1)}
        self.client_addr = {i: f"127.0.0.1:{ports[max_nodes + i - 1]}"
                            for i in range(1, max_nodes + 1)}
        self.running: dict[int, Node] = {}

    def config(self, i: int, **over: Any) -> NodeConfig:
        peers = ({j: self.raft_addr[j] for j in self.founders if j != i}
                 if i in self.founders else {})
        cfg = NodeConfig(node_id=i, listen=self.raft_addr[i], client_listen=self.client_addr[i],
                         peers=peers, data_dir=str(self.tmp_path / f"node-{i}"),
                         design=self.design, tick_interval=self.tick_ms / 1000,
                         initial_ranges=self.ranges, fsync=False)  # type: ignore[arg-type]
        for name, value in {**self.options, **over}.items():
            setattr(cfg, name, value)
        return cfg

    def start(self, i: int, **over: Any) -> Node:
        assert i not in self.running, f"node {i} is already running"
        node = Node(self.config(i, **over)).start()
        self.running[i] = node
        return node

    def start_founders(self) -> None:
        errors: list[BaseException] = []

        def one(i: int) -> None:
            try:
                self.start(i)
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=one, args=(i,)) for i in self.founders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        if errors:
            raise errors[0]

    def stop(self, i: int) -> None:
        self.running.pop(i).stop()

    def close(self) -> None:
        for i in sorted(self.running):
            self.stop(i)

    def request(self, i: int, op: ClientOp, *args: Any, timeout: float = 5.0) -> Any:
        """One request to node ``i``: its (status, result)."""
        with ClientConnection(self.client_addr[i]) as c:
            resp = c.request(op, args, timeout=timeout)
        return resp.status, resp.result

    def status(self, i: int) -> dict[str, Any] | None:
        try:
            st, result = self.request(i, ClientOp.STATUS, {"ranges": True}, timeout=2.0)
        except TimeoutError:
            return None
        return result if st is ClientStatus.OK else None

    def directory(self, i: int) -> dict[int, dict[str, Any]]:
        """Node ``i``'s STATUS directory by node id ({} if it does not answer)."""
        st = self.status(i)
        return {} if st is None else {r["node_id"]: r for r in st["directory"]}

    def states(self, i: int) -> dict[int, str]:
        return {n: r["state"] for n, r in self.directory(i).items()}

    def wait_states(self, expected: dict[int, str], on: list[int] | None = None,
                    timeout: float = 20.0) -> None:
        """Until every running node (or those ``on``) sees exactly ``expected``."""
        watchers = sorted(self.running) if on is None else on
        wait_until(lambda: all(self.states(i) == expected for i in watchers), timeout,
                   f"nodes {watchers} to see {expected}",
                   diagnose=lambda: repr({i: self.states(i) for i in watchers}))

    def wait_addresses(self, timeout: float = 20.0) -> None:
        """Until every running node knows every running node's client address (gossiped)."""
        want = {i: (self.raft_addr[i], self.client_addr[i]) for i in self.running}

        def known() -> bool:
            return all({n: (r["raft_address"], r["client_address"])
                        for n, r in self.directory(i).items()
                        if n in want} == want for i in self.running)
        wait_until(known, timeout, "every node to know every client address",
                   diagnose=lambda: repr({i: self.directory(i) for i in self.running}))

    def wait_led(self, timeout: float = 60.0) -> None:
        """Until each of the ``ranges`` ranges has a leader."""
        def led() -> bool:
            leaders = set()
            for i in self.running:
                st = self.status(i)
                for r in [] if st is None else st["ranges"]:
                    if r["state"] == "leader":
                        leaders.add(r["range_id"])
            return len(leaders) >= self.ranges
        wait_until(led, timeout, f"a leader for each of {self.ranges} ranges", interval=0.1)


@pytest.fixture
def nodes(design: str, tmp_path: Path) -> Iterator[Any]:
    """Factory: ``nodes(founders=3, ranges=4, **NodeConfig fields)`` -> a ``Nodes`` whose
    founders are started; all stopped at the end, then no thread may be left."""
    before = set(threading.enumerate())
    made: list[Nodes] = []

    def make(founders: int = 3, start: bool = True, **kw: Any) -> Nodes:
        n = Nodes(tmp_path / f"cluster-{len(made)}", design, founders, **kw)
        made.append(n)
        if start:
            n.start_founders()
        return n

    try:
        yield make
    finally:
        for n in made:
            n.close()
    wait_until(lambda: not _new_threads(before), 20, "the nodes' threads to end",
               diagnose=lambda: repr([t.name for t in _new_threads(before)]))
