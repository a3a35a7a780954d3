"""CurveZMQ end to end: a cluster started with keys serves a client that has the keys (CLI and
Python client, through cluster.json), and nothing reaches it from a client without them."""

from __future__ import annotations

import json
from pathlib import Path

from multiraft.local_cluster import LocalCluster

from .conftest import free_base_port, run


def test_keyed_cluster_serves_keyed_clients_only(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    gen = run("multiraft", "keys", "gen", str(keys), "--nodes", "3", "--json")
    assert gen.returncode == 0, gen.stderr
    assert {k["name"] for k in json.loads(gen.stdout)} == {"node-1", "node-2", "node-3", "client"}
    d = tmp_path / "cluster"
    with LocalCluster(d, 3, 4, base_port=free_base_port(), keys=str(keys), fsync=False) as c:
        ok = run("multiraft", "--cluster", str(d), "--keys", str(keys), "put", "secret", "v1")
        assert ok.returncode == 0, ok.stderr
        got = run("multiraft", "--cluster", str(d), "--keys", str(keys), "get", "secret")
        assert (got.returncode, got.stdout.strip()) == (0, "v1"), got.stderr
        with c.client() as client:
            assert client.get(b"secret") == b"v1"
        # Without the keys: the CURVE handshake never completes, so nothing is served.
        plain = run("multiraft", "--cluster", str(d), "--timeout", "2", "get", "secret")
        assert plain.returncode == 3, (plain.stdout, plain.stderr)
        # --keys needs cluster.json to know which node key goes with which address.
        usage = run("multiraft", "--addr", c.client_addr(1), "--keys", str(keys), "get", "secret")
        assert usage.returncode == 2 and "--keys needs --cluster" in usage.stderr
