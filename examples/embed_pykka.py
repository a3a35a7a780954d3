"""Embedding a multiraft node in a pykka application.

The node runs in this process (in-memory engine, a one-node cluster of 4 ranges). Its Store
and Replicas are actors with pykka's handle API (``tell``, ``ask``, ``proxy``), so the
application's own actor, ``RangeMonitor``, talks to them like to any other pykka actor:

- the Store: ``node.impl.store`` (a ``pykka.ActorRef``); ``store.proxy().node_status()``, and
  ``store.proxy().replicas`` (range id -> replica handle);
- a Replica: ``replica.proxy().status()`` (its raft state, as ``multiraft status`` shows it).

Only ask *from outside* the node's actors, as here: the node's own actors never block on one
another. Run it: ``python examples/embed_pykka.py``.
"""

from __future__ import annotations

import threading
from typing import Any

import pykka

from multiraft import Client, Node, NodeConfig


class RangeMonitor(pykka.ThreadingActor):
    """The host application's actor: reports what the node's ranges are doing."""

    def __init__(self, store: pykka.ActorRef) -> None:
        super().__init__()
        self.store = store.proxy()

    def report(self) -> dict[str, Any]:
        """The store's own status and every replica's, asked of the replicas concurrently."""
        node = self.store.node_status().get(timeout=5)
        replicas = list(self.store.replicas.get(timeout=5).values())  # copy the store's map
        ranges = pykka.get_all([r.proxy().status() for r in replicas], timeout=5)
        return {"node": node, "ranges": sorted(ranges, key=lambda r: r["range_id"])}


def main() -> None:
    before = set(threading.enumerate())
    config = NodeConfig(node_id=1, engine="memory", initial_ranges=4, tick_interval=0.05,
                        listen="127.0.0.1:0", client_listen="127.0.0.1:0")
    with Node(config) as node:
        monitor = RangeMonitor.start(node.impl.store)
        try:
            with Client(node.client_address, timeout=10.0) as client:
                for i in range(40):
                    client.put(f"user/{i}", f"value {i}")
                assert client.get("user/7") == b"value 7"
            report = monitor.proxy().report().get(timeout=10)
        finally:
            monitor.stop()
    print(f"node {report['node']['node_id']}: {report['node']['ranges']} ranges, "
          f"{report['node']['counters']['client_requests']} client requests")
    for r in report["ranges"]:
        print(f"range {r['range_id']}: {r['state']} term {r['term']} applied {r['applied']}")
    assert all(r["state"] == "leader" for r in report["ranges"])
    leaked = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not leaked, f"threads still running after stop: {leaked}"
    print("stopped cleanly")


if __name__ == "__main__":
    main()
