"""One address is enough: a ``Client`` given only node 1's client address writes, reads and scans
every range (both designs), learning the other nodes' client addresses from the STATUS node
directory: ranges led elsewhere (it follows NOT_LEADER hints to nodes it was never given) and,
in a 4-node cluster with 3 replicas per range, a range node 1 holds no replica of at all."""

from __future__ import annotations

from typing import Any

from multiraft import Client
from multiraft.storage.layout import even_split_keys, plan_ranges

from .membership_cluster import Nodes, nodes  # noqa: F401  (the fixture)

RANGES = 4


def _keys() -> list[bytes]:
    """One key in each of the ``RANGES`` initial ranges (bootstrap splits evenly)."""
    return [start + b"one-address" for start in [b"", *even_split_keys(RANGES)]]


def _exercise(c: Nodes) -> None:
    c.wait_led()
    c.wait_addresses()
    keys = _keys()
    with Client([c.client_addr[1]], timeout=15.0) as client:
        for i, k in enumerate(keys):
            client.put(k, b"v%d" % i)
        for i, k in enumerate(keys):
            assert client.get(k) == b"v%d" % i
        assert client.scan(b"") == sorted((k, b"v%d" % i) for i, k in enumerate(keys))
        assert sorted(client.addresses) == sorted(c.client_addr[i] for i in c.running)


def test_one_address_reaches_every_range_of_three_nodes(nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=RANGES)
    led_by = {p.descriptor.range_id: p.preferred_leader
              for p in plan_ranges([1, 2, 3], RANGES)}
    assert set(led_by.values()) - {1}, "some range must first be led by another node"
    _exercise(c)


def test_one_address_reaches_a_range_node_1_holds_no_replica_of(nodes: Any) -> None:
    c: Nodes = nodes(founders=4, ranges=RANGES, replicas=3)
    elsewhere = [p.descriptor.range_id for p in plan_ranges([1, 2, 3, 4], RANGES, replication=3)
                 if all(n != 1 for n, _ in p.descriptor.replicas)]
    assert elsewhere, "the placement must leave node 1 out of some range"
    st = c.status(1)
    assert st is not None and not {r["range_id"] for r in st["ranges"]} & set(elsewhere)
    _exercise(c)
