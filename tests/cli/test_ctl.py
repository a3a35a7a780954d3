"""``bin/multiraft`` end to end against a 3-process cluster from ``bin/multiraft-cluster``:
every command, its ``--json`` output, its exit codes and error messages."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from multiraft.cli.addresses import DEFAULT_ADDRESSES, AddressError, resolve_addresses
from multiraft.cli.node import curve_config

from .conftest import NODE_LINE, free_base_port, run


def ok(r) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def one_line_error(r, code: int, fragment: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], r.stderr


def test_cluster_prints_its_nodes_and_writes_cluster_json(cluster):
    parsed = [NODE_LINE.match(line) for line in cluster.lines]
    assert all(parsed), cluster.lines
    assert [n["id"] for n in cluster.manifest["nodes"]] == [1, 2, 3]
    for m, n in zip(parsed, cluster.manifest["nodes"]):
        assert (int(m[1]), m[2], m[3], int(m[4])) == (n["id"], n["client"], n["raft"], n["pid"])


def test_put_get_del(cluster):
    assert ok(cluster.ctl("put", "greeting", "grüß dich")) == "OK\n"
    assert ok(cluster.ctl("get", "greeting")) == "grüß dich\n"  # the value alone
    assert json.loads(ok(cluster.ctl("--json", "get", "greeting"))) == \
        {"key": "greeting", "found": True, "value": "grüß dich"}
    assert ok(cluster.ctl("del", "greeting")) == "OK\n"
    one_line_error(cluster.ctl("get", "greeting"), 1, "key not found: greeting")
    one_line_error(cluster.ctl("del", "greeting"), 1, "key not found: greeting")
    r = cluster.ctl("del", "greeting", "--json")  # global flags may follow the command
    assert r.returncode == 1 and json.loads(r.stdout) == {"key": "greeting", "deleted": False}


def test_non_utf8_values_print_with_backslash_escapes(cluster):
    from multiraft import Client
    with Client(cluster.addrs) as c:
        c.put(b"bin", b"\xff\x00ok")
    assert ok(cluster.ctl("get", "bin")) == "\\xff\x00ok\n"


def test_cas(cluster):
    one_line_error(cluster.ctl("cas", "c", "x", "y"), 1, "compare failed: c")
    assert ok(cluster.ctl("cas", "--expect-absent", "c", "1")) == "OK\n"
    one_line_error(cluster.ctl("cas", "--expect-absent", "c", "2"), 1, "compare failed")
    assert json.loads(ok(cluster.ctl("--json", "cas", "c", "1", "2"))) == \
        {"key": "c", "swapped": True}
    assert ok(cluster.ctl("get", "c")) == "2\n"
    one_line_error(cluster.ctl("cas", "c", "2"), 2, "cas takes KEY EXPECTED NEW")


def test_scan_crosses_ranges(cluster):
    # 8 ranges split the first byte evenly: these keys land in different ranges.
    keys = ["scan-a", "\u0100scan", "zz-scan"]
    for i, k in enumerate(keys):
        ok(cluster.ctl("put", k, f"v{i}"))
    out = ok(cluster.ctl("scan", "scan-", ""))
    lines = [l for l in out.splitlines() if l.split(" ")[0] in keys]
    assert lines == ["scan-a v0", "zz-scan v2", "\u0100scan v1"]  # byte order
    pairs = json.loads(ok(cluster.ctl("--json", "scan", "scan-", "", "--limit", "2")))
    assert pairs == [{"key": "scan-a", "value": "v0"}, {"key": "zz-scan", "value": "v2"}]


def test_status_and_ranges(cluster):
    st = json.loads(ok(cluster.ctl("status", "--json")))
    assert st["unreachable"] == []
    assert [n["node_id"] for n in st["nodes"]] == [1, 2, 3]
    assert [r["range_id"] for r in st["ranges"]] == list(range(1, 9))
    assert sum(n["leaders"] for n in st["nodes"]) == 8
    for r in st["ranges"]:
        assert r["leader"] in (1, 2, 3) and r["replicas"] == [1, 2, 3]
        assert set(r["applied"]) == {"1", "2", "3"} and r["term"] >= 1
        assert set(r["match"]) == {"1", "2", "3"} - {str(r["leader"])}
    text = ok(cluster.ctl("status"))
    assert text.splitlines()[0].split()[:4] == ["node", "address", "ranges", "leaders"]
    assert "followers' match" in text
    ranges = json.loads(ok(cluster.ctl("ranges", "--json")))
    assert [r["range_id"] for r in ranges] == list(range(1, 9))
    assert ranges[0]["start_key"] == "" and ranges[-1]["end_key"] is None
    assert all(a["end_key"] == b["start_key"] for a, b in zip(ranges, ranges[1:]))
    assert len(ok(cluster.ctl("ranges")).splitlines()) == 9


def test_addresses_from_flag_env_and_cluster_dir(cluster):
    ok(cluster.ctl("put", "where", "here"))
    assert ok(run("multiraft", "--addr", cluster.addrs, "get", "where")) == "here\n"
    assert ok(run("multiraft", "get", "where", env={"MULTIRAFT_ADDR": cluster.addrs})) == "here\n"
    # the flag beats the environment
    assert ok(run("multiraft", "--addr", cluster.addrs, "get", "where",
                  env={"MULTIRAFT_ADDR": "nonsense"})) == "here\n"
    assert resolve_addresses(None, None, env={}) == DEFAULT_ADDRESSES
    assert resolve_addresses(None, str(cluster.dir), env={}) == cluster.addrs.split(",")
    with pytest.raises(AddressError):
        resolve_addresses("localhost", None, env={})


def test_usage_errors_exit_2_with_one_line(cluster, tmp_path):
    one_line_error(run("multiraft", "--bogus", "get", "k"), 2, "unrecognized arguments: --bogus")
    one_line_error(run("multiraft", "get"), 2, "required: key")
    one_line_error(run("multiraft"), 2, "required: COMMAND")
    one_line_error(run("multiraft", "frobnicate"), 2, "invalid choice")
    one_line_error(run("multiraft", "--addr", "nohostport", "get", "k"), 2, "bad address")
    one_line_error(run("multiraft", "--cluster", str(tmp_path), "get", "k"), 2, "cluster.json")
    one_line_error(cluster.ctl("scan", "a", "b", "--limit", "x"), 2, "invalid int value")
    one_line_error(cluster.ctl("--timeout", "0", "get", "k"), 2, "--timeout must be positive")


def test_unavailable_exits_3_in_bounded_time(tmp_path):
    dead = f"127.0.0.1:{free_base_port(1) + 1}"  # nothing listens there
    for args in (["get", "k"], ["put", "k", "v"], ["status"], ["ranges"], ["bench"]):
        t0 = time.monotonic()
        r = run("multiraft", "--addr", dead, "--timeout", "1", *args)
        assert time.monotonic() - t0 < 15
        assert r.returncode == 3, (args, r.stdout, r.stderr)
        assert r.stderr.strip().splitlines()[-1].startswith("multiraft: ")


def test_write_to_a_node_never_reached_says_not_connected():
    """Nothing was sent, so nothing can have applied: unavailable, not "outcome unknown"."""
    dead = f"127.0.0.1:{free_base_port(1) + 1}"
    r = run("multiraft", "--addr", dead, "--timeout", "1", "put", "k", "v")
    one_line_error(r, 3, "not connected")


def test_a_stopped_node(cluster):
    """SIGSTOP one node: status names it and exits 3; the others still serve."""
    node3 = cluster.manifest["nodes"][2]
    os.kill(node3["pid"], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        r = cluster.ctl("--timeout", "2", "--json", "status")
        assert time.monotonic() - t0 < 20
        assert r.returncode == 3
        assert json.loads(r.stdout)["unreachable"] == [node3["client"]]
        one_line_error(run("multiraft", "--addr", node3["client"], "--timeout", "1", "get", "k"),
                       3, "multiraft: ")
        ok(cluster.ctl("--timeout", "20", "put", "while-stopped", "1"))
    finally:
        os.kill(node3["pid"], signal.SIGCONT)
    deadline = time.monotonic() + 30
    while cluster.ctl("status").returncode != 0:
        assert time.monotonic() < deadline, "node 3 did not come back"
        time.sleep(0.5)


def test_keys_gen(tmp_path):
    d = tmp_path / "keys"
    listed = json.loads(ok(run("multiraft", "--json", "keys", "gen", str(d), "--nodes", "3")))
    assert [k["name"] for k in listed] == ["node-1", "node-2", "node-3", "client"]
    assert (d / "node-1.key_secret").stat().st_mode & 0o077 == 0
    cc = curve_config(str(d), 1, [1, 2, 3])  # what multiraft-node --keys DIR loads
    assert set(cc.node_keys) == {1, 2, 3} and len(cc.client_keys) == 1
    one_line_error(run("multiraft", "keys", "gen", str(d)), 2, "exists")
    before = (d / "node-1.key").read_text()
    ok(run("multiraft", "keys", "gen", str(d), "--force"))
    assert (d / "node-1.key").read_text() != before


def test_bench(cluster):
    summary = json.loads(ok(cluster.ctl("--json", "bench", "--seconds", "1", "--inflight", "8")))
    assert summary["ops"] > 0 and summary["errors"] == 0
    out = ok(cluster.ctl("bench", "--seconds", "1", "--inflight", "4", "--read-ratio", "0.5"))
    header, row = out.strip().splitlines()
    assert header.split()[:3] == ["ops", "seconds", "ops/s"] and int(row.split()[0]) > 0


def test_bench_without_compare_takes_one_value_per_flag(cluster):
    r = cluster.ctl("bench", "--seconds", "1", "--inflight", "8,16")
    assert r.returncode == 2 and "lists are for --compare" in r.stderr
