"""Issue 13's command-line contract, end to end on both designs: ``multiraft split KEY``,
``multiraft ranges --json`` (RANGE objects), ``multiraft-cluster --ranges 1``, the split flags
of ``multiraft-cluster`` / ``multiraft-node`` and the split metrics. The clusters run with
automatic splits off (``--split-bytes 0 --split-qps 0``), so every range boundary is one a test
made."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from multiraft import Client
from multiraft.pids import cmdline

from .conftest import BIN, ROOT, ClusterProcess, cluster_process, free_base_port, run
from .test_metrics import scrape

#: The keys of a RANGE object, as the contract lists them.
RANGE_KEYS = {"range_id", "start_key", "end_key", "generation", "replicas", "voters", "learners",
              "leader", "system"}


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def ranges_json(c: ClusterProcess) -> list[dict[str, Any]]:
    return json.loads(ok(c.ctl("--json", "ranges")))


def spans(ranges: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ranges without their leaders (the leader balancer may move one at any time)."""
    return [{k: v for k, v in r.items() if k != "leader"} for r in ranges]


def assert_tiles(ranges: list[dict[str, Any]]) -> None:
    """Sorted by start key, from "" to the end of the key space, no gap and no overlap."""
    assert ranges[0]["start_key"] == "" and ranges[-1]["end_key"] is None
    for a, b in zip(ranges, ranges[1:]):
        assert a["end_key"] == b["start_key"], ranges
        assert a["start_key"].encode() < b["start_key"].encode()


def assert_range_object(r: dict[str, Any]) -> None:
    """One RANGE object of the contract, as it must look before replicas can change."""
    assert set(r) == RANGE_KEYS, r
    assert isinstance(r["range_id"], int) and isinstance(r["generation"], int)
    assert isinstance(r["start_key"], str)
    assert r["end_key"] is None or isinstance(r["end_key"], str)
    assert r["replicas"] == sorted(r["replicas"]) == [1, 2, 3]
    assert r["voters"] == r["replicas"] and r["learners"] == []
    assert r["leader"] in r["replicas"]
    assert r["system"] is False


class SplitCluster:
    """A ``--ranges 1`` cluster, and what ``ranges --json`` said before any test split it."""

    def __init__(self, process: ClusterProcess, initial: list[dict[str, Any]]) -> None:
        self.process, self.initial = process, initial

    def ctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return self.process.ctl(*args, timeout=timeout)


@pytest.fixture(scope="module", params=["actors", "locks"])
def split_cluster(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitCluster]:
    """``multiraft-cluster --ranges 1 --design D --metrics --split-bytes 0 --split-qps 0``."""
    d = tmp_path_factory.mktemp(f"split-{request.param}")
    with cluster_process(d, "--ranges", "1", "--design", request.param, "--metrics",
                         "--split-bytes", "0", "--split-qps", "0") as c:
        yield SplitCluster(c, ranges_json(c))


# -- multiraft-cluster --ranges 1, and its split flags ---------------------------------------

def test_ranges_1_is_one_range_over_the_whole_key_space(split_cluster: SplitCluster) -> None:
    """Proves: ``multiraft-cluster --ranges 1`` starts exactly one range, from the empty key to
    the end of the key space, at generation 0, on every node, with a leader."""
    [r] = split_cluster.initial
    assert_range_object(r)
    assert (r["start_key"], r["end_key"], r["generation"]) == ("", None, 0)


def test_cluster_passes_the_split_flags_to_its_nodes(split_cluster: SplitCluster) -> None:
    """Proves: ``multiraft-cluster --split-bytes N --split-qps Q`` starts every node with the
    same ``--split-bytes`` and ``--split-qps`` (read from the node processes' argv)."""
    for n in split_cluster.process.manifest["nodes"]:
        argv = cmdline(n["pid"])
        assert argv is not None
        flags = dict(zip(argv, argv[1:]))
        assert int(flags["--split-bytes"]) == 0 and float(flags["--split-qps"]) == 0


# -- multiraft split ---------------------------------------------------------------------------

def test_split_exits_0_with_both_halves_routed(split_cluster: SplitCluster) -> None:
    """Proves: ``split KEY --json`` exits 0 and prints exactly ``{"left": RANGE, "right":
    RANGE}``: the halves meet at KEY, one generation past the range they came from, distinct
    range ids, each with a leader; and at exit both halves already route (a write to each side
    applies, ``ranges`` shows both with a leader) without waiting."""
    before = {r["range_id"]: r for r in ranges_json(split_cluster.process)}
    parent = next(r for r in before.values()
                  if r["start_key"] <= "sp-m" and (r["end_key"] is None or "sp-m" < r["end_key"]))
    out = json.loads(ok(split_cluster.ctl("--json", "split", "sp-m")))
    assert set(out) == {"left", "right"}
    left, right = out["left"], out["right"]
    assert_range_object(left)
    assert_range_object(right)
    assert left["range_id"] == parent["range_id"] and right["range_id"] not in before
    assert (left["start_key"], left["end_key"]) == (parent["start_key"], "sp-m")
    assert (right["start_key"], right["end_key"]) == ("sp-m", parent["end_key"])
    assert left["generation"] == right["generation"] == parent["generation"] + 1
    now = {r["range_id"]: r for r in ranges_json(split_cluster.process)}
    assert now[left["range_id"]]["end_key"] == "sp-m" and now[right["range_id"]]["leader"]
    with Client(split_cluster.process.addrs, timeout=10) as c:
        c.put(b"sp-a", b"left side")
        c.put(b"sp-z", b"right side")
        assert (c.get(b"sp-a"), c.get(b"sp-z")) == (b"left side", b"right side")
    text = ok(split_cluster.ctl("split", "sp-t"))  # without --json: a table of the two halves
    assert text.splitlines()[0].split() == ["range", "start", "end", "gen", "replicas", "leader"]
    assert len(text.splitlines()) == 3 and "sp-t" in text


def test_split_at_a_range_start_exits_1(split_cluster: SplitCluster) -> None:
    """Proves: ``split`` at the empty key (the start of the key space) and at an existing
    boundary exits 1 with one line on stderr saying the key already starts a range, prints one
    JSON value with ``--json``, and changes no range."""
    ok(split_cluster.ctl("split", "bd-k"))
    before = spans(ranges_json(split_cluster.process))
    for key in ("", "bd-k"):
        r = split_cluster.ctl("split", key)
        assert r.returncode == 1 and r.stdout == "", (r.returncode, r.stdout, r.stderr)
        [line] = r.stderr.strip().splitlines()
        assert line.startswith("multiraft: cannot split at") and "already starts" in line
        r = split_cluster.ctl("--json", "split", key)
        assert r.returncode == 1
        assert json.loads(r.stdout)["split"] is False and json.loads(r.stdout)["key"] == key
    assert spans(ranges_json(split_cluster.process)) == before


def test_concurrent_splits_of_one_range_all_succeed(split_cluster: SplitCluster) -> None:
    """Proves: four ``split`` commands started at once at four keys of the same range all exit
    0 (a split that meets a concurrent one is retried by the client on the new descriptor, and
    the CLI does not report it as "already starts a range"), and the key space ends up cut at
    each of the four keys."""
    keys = ["cc-1", "cc-2", "cc-3", "cc-4"]
    procs = [subprocess.Popen([sys.executable, str(BIN / "multiraft"), "--cluster",
                               str(split_cluster.process.dir), "--timeout", "20", "--json",
                               "split", k], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT) for k in keys]
    results = [(p.communicate(timeout=60), p.returncode) for p in procs]
    assert all(rc == 0 for _, rc in results), results
    for ((out, _), _), k in zip(results, keys):
        assert json.loads(out)["right"]["start_key"] == k
    starts = {r["start_key"] for r in ranges_json(split_cluster.process)}
    assert set(keys) <= starts


def test_ranges_json_after_splits(split_cluster: SplitCluster) -> None:
    """Proves: after splits, ``ranges --json`` lists RANGE objects sorted by start key that
    tile the key space, each halves' generation past the range it came from; the text output
    is a table with a generation column and one line per range."""
    for k in ("rj-c", "rj-f", "rj-x"):
        ok(split_cluster.ctl("split", k))
    ranges = ranges_json(split_cluster.process)
    assert len(ranges) >= 4
    for r in ranges:
        assert_range_object(r)
    assert_tiles(ranges)
    by_start = {r["start_key"]: r for r in ranges}
    assert {"rj-c", "rj-f", "rj-x"} <= set(by_start)
    assert all(by_start[k]["generation"] >= 1 for k in ("rj-c", "rj-f", "rj-x"))
    assert len({r["range_id"] for r in ranges}) == len(ranges)
    text = ok(split_cluster.ctl("ranges")).splitlines()
    assert text[0].split() == ["range", "start", "end", "gen", "replicas", "leader"]
    assert len(text) == len(ranges) + 1
    st = json.loads(ok(split_cluster.ctl("--json", "status")))
    assert set(st) == {"nodes", "ranges", "unreachable"}
    assert [(r["range_id"], r["generation"]) for r in st["ranges"]] == \
        [(r["range_id"], r["generation"]) for r in ranges]


def test_split_metrics(split_cluster: SplitCluster) -> None:
    """Proves: every node exports ``multiraft_store_splits_total`` (at least one split applied
    on every node after a split), and the ``range_key_mismatches``, ``snapshots_refused_overlap``
    counters and the ``uninitialized_replicas`` gauge."""
    ok(split_cluster.ctl("split", "mx-k"))
    deadline = time.monotonic() + 20
    while True:
        metrics = [scrape(n["metrics"]) for n in split_cluster.process.manifest["nodes"]]
        if all(m["multiraft_store_splits_total"] >= 1 for m in metrics) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for m in metrics:
        assert m["multiraft_store_splits_total"] >= 1
        assert m["multiraft_store_range_key_mismatches_total"] >= 0
        assert m["multiraft_store_snapshots_refused_overlap_total"] >= 0
        assert m["multiraft_uninitialized_replicas"] >= 0


def test_split_of_an_unreachable_cluster_exits_3() -> None:
    """Proves: ``split`` against an address where no node listens exits 3 (unavailable) within
    a bounded time, with a ``multiraft:`` line on stderr."""
    dead = f"127.0.0.1:{free_base_port(1) + 1}"
    t0 = time.monotonic()
    r = run("multiraft", "--addr", dead, "--timeout", "1", "split", "k")
    assert time.monotonic() - t0 < 15
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines()[-1].startswith("multiraft: ")
