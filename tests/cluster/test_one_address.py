"""One address is enough: a ``Client`` given only node 1's client address writes, reads and scans
every range (both designs), learning the other nodes' client addresses from the STATUS node
directory: ranges led elsewhere (it follows NOT_LEADER hints to nodes it was never given) and,
in a 4-node cluster with 3 replicas per range, a range node 1 holds no replica of at all. The
CLI too (``bin/multiraft --addr <node 1>``), also after every range's leadership moved."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
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


def _cli(addr: str, *args: str | bytes) -> str:
    """``bin/multiraft --addr ADDR ARGS`` (keys as bytes: argv keeps them as given)."""
    bin_ = Path(__file__).resolve().parents[2] / "bin" / "multiraft"
    r = subprocess.run([sys.executable, str(bin_), "--addr", addr, "--timeout", "15", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_the_cli_with_one_address_reaches_every_range_also_after_its_leader_moved(
        nodes: Any) -> None:
    c: Nodes = nodes(founders=3, ranges=RANGES)
    c.wait_led()
    c.wait_addresses()
    one = c.client_addr[1]
    keys = _keys()
    for i, k in enumerate(keys):
        assert _cli(one, "put", k, f"v{i}").strip() == "OK"
    values = [line.rpartition(" ")[2] for line in _cli(one, "scan", "", "").splitlines()]
    by_key = sorted(range(len(keys)), key=lambda i: keys[i])
    assert values == [f"v{i}" for i in by_key]
    with Client([one], timeout=30.0) as client:
        ranges = {r["range_id"]: r for r in json.loads(_cli(one, "--json", "ranges"))}
        for rid, r in ranges.items():  # every range's leadership moves to another node
            to = next(n for n in r["voters"] if n != r["leader"])
            assert client.transfer_leader(rid, to)["leader"] == to
    for i, k in enumerate(keys):
        assert _cli(one, "get", k).strip() == f"v{i}"
        assert _cli(one, "put", k, f"w{i}").strip() == "OK"
    values = [line.rpartition(" ")[2] for line in _cli(one, "scan", "", "").splitlines()]
    assert values == [f"w{i}" for i in by_key]
