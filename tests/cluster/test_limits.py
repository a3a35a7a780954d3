"""Issue 12, defect 4: limits on every input, on both designs.

- A command larger than ``max_command_bytes`` (1.5 MiB by default, as etcd's
  ``--max-request-bytes``) is refused at once, never proposed: ``Client.put``/``cas`` raise
  ``CommandTooLarge`` (a ``ClientError``, not a ``Timeout``) within a second, and a raw request
  that skips the client's own check gets the TOO_LARGE status from the node.
- A SCAN answer holds at most ``max_scan_bytes`` of pairs (plus one pair); the answer says where
  to resume, and ``Client.scan`` continues until it has every pair, in order.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from multiraft.errors import ClientError, CommandTooLarge, Timeout
from multiraft.transport.client import ClientConnection
from multiraft.transport.client_protocol import ClientOp, ClientStatus
from multiraft.store.config import DEFAULT_MAX_COMMAND_BYTES, DEFAULT_MAX_SCAN_BYTES

from .conftest import key_in

BIG = DEFAULT_MAX_COMMAND_BYTES + 1


def test_an_oversize_write_is_refused_at_once(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    key = key_in(cluster.range_table()[1], "big")
    with cluster.client(timeout=10) as c:
        for call in (lambda: c.put(key, b"v" * BIG), lambda: c.cas(key, None, b"v" * BIG),
                     lambda: c.cas(key, b"e" * BIG, b"v")):
            t0 = time.monotonic()
            with pytest.raises(CommandTooLarge) as info:
                call()
            assert time.monotonic() - t0 < 1.0
            assert isinstance(info.value, ClientError) and not isinstance(info.value, Timeout)
        assert c.get(key) is None  # nothing applied
        c.put(key, b"v" * (DEFAULT_MAX_COMMAND_BYTES - len(key) - 64))  # just under: fine
    leader = cluster.leader_of(1)
    with ClientConnection(cluster.client_addr[leader]) as conn:  # no client-side check here
        t0 = time.monotonic()
        resp = conn.request(ClientOp.PUT, (key, b"v" * BIG), timeout=5, client_id=7, seq=1)
    assert resp.status is ClientStatus.TOO_LARGE and time.monotonic() - t0 < 1.0
    st = cluster.status(leader)
    assert st is not None and st["ranges"][0]["proposals_too_large"] >= 1


def test_scan_answers_are_bounded_and_the_client_continues(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=1)
    cluster.wait_all_led()
    rng = cluster.range_table()[1]
    value = b"s" * (100 << 10)
    n = 3 * DEFAULT_MAX_SCAN_BYTES // len(value)
    keys = [key_in(rng, f"scan/{i:03d}") for i in range(n)]
    with cluster.client(timeout=20) as c:
        for k in keys:
            c.put(k, value)
        leader = cluster.leader_of(1)
        with ClientConnection(cluster.client_addr[leader]) as conn:
            resp = conn.request(ClientOp.SCAN, (keys[0], b"", 10_000), timeout=10)
        assert resp.status is ClientStatus.OK
        pairs, resume = resp.result
        assert 1 <= len(pairs) < n
        assert sum(len(k) + len(v) for k, v in pairs[:-1]) <= DEFAULT_MAX_SCAN_BYTES
        assert resume == pairs[-1][0] + b"\x00", "a cut answer says where to resume"
        got = c.scan(keys[0], None)
    assert [k for k, _ in got] == keys and all(v == value for _, v in got)
