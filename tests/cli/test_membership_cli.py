"""``multiraft replicas add|remove|move``, ``transfer``, ``nodes`` and ``node decommission``
against scripted fake nodes (``tests.client.fake_members``), through ``ctl.main``: exit
statuses, the JSON each prints, what it sends, and the default timeouts. No cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multiraft.cli import ctl
from multiraft.errors import Timeout
from multiraft.transport.client_protocol import ClientOp, ClientStatus as S
from tests.client.fake_members import FakeCluster, Range

from .conftest import free_base_port

RANGE_KEYS = {"range_id", "start_key", "end_key", "generation", "replicas", "voters", "learners",
              "leader", "system"}
NODE_KEYS = {"node_id", "raft_address", "client_address", "state", "replicas", "leaders"}


def cli(capsys: pytest.CaptureFixture[str], cluster: FakeCluster | list[str],
        *argv: str) -> tuple[int, Any, str]:
    """``multiraft --addr ... --json ARGV``: (exit status, the JSON on stdout or None, stderr)."""
    addrs = cluster if isinstance(cluster, list) else cluster.addrs
    code = ctl.main(["--addr", ",".join(addrs), "--json", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else None), err


def one_line(err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("multiraft: ") and fragment in lines[0], err


@pytest.fixture
def cluster() -> Any:
    """Nodes 1-4 live and serving; range 1 ["", "m") on 1-3 led by 1, range 7 ["m", end) on
    2-4 led by 2."""
    with FakeCluster([1, 2, 3, 4], [Range(1, b"", b"m", [1, 2, 3], leader=1),
                                    Range(7, b"m", None, [2, 3, 4], leader=2)]) as c:
        yield c


# -- replicas, transfer --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, wire, voters", [
    (["add", "1", "4"], ("add", 0, 4), [1, 2, 3, 4]),
    (["remove", "1", "2"], ("remove", 2, 0), [1, 3]),
    (["move", "1", "3", "4"], ("move", 3, 4), [1, 2, 4]),
])
def test_replicas_prints_the_range_after_the_change(capsys, cluster, argv, wire, voters):
    """Proves: each form exits 0 and prints the RANGE after the change (from the answer),
    having sent CHANGE_REPLICAS with the range's start key and the kind's nodes."""
    code, out, err = cli(capsys, cluster, "replicas", *argv)
    assert code == 0, err
    assert set(out) == RANGE_KEYS
    assert out["range_id"] == 1 and out["start_key"] == "" and out["end_key"] == "m"
    assert out["voters"] == voters == out["replicas"] and out["learners"] == []
    assert out["leader"] == 1 and out["system"] is False
    [req] = cluster.requests(ClientOp.CHANGE_REPLICAS)
    assert req.args == (b"", 1, 0, *wire)


def test_replicas_without_json_prints_a_table(capsys, cluster):
    assert ctl.main(["--addr", ",".join(cluster.addrs), "replicas", "add", "7", "1"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["range", "start", "end", "gen", "replicas", "leader", "voters",
                              "learners"]
    assert row.split() == ["7", "m", "(max)", "1", "1,2,3,4", "2", "1,2,3,4", "-"]


def test_a_refused_change_exits_1_with_its_reason(capsys, cluster):
    """Proves: the cluster's REFUSED is exit 1, its message on stderr (one line) and one JSON
    value on stdout."""
    cluster.script[ClientOp.CHANGE_REPLICAS] = (S.REFUSED, "node 2 already holds range 1")
    code, out, err = cli(capsys, cluster, "replicas", "add", "1", "2")
    assert code == 1
    one_line(err, "node 2 already holds range 1")
    assert out["changed"] is False and out["range_id"] == 1 and "already holds" in out["error"]


@pytest.mark.parametrize("argv", [["replicas", "remove", "99", "1"], ["transfer", "99", "1"]])
def test_an_unknown_range_exits_1_and_sends_nothing(capsys, cluster, argv):
    code, out, err = cli(capsys, cluster, *argv)
    assert code == 1
    one_line(err, "range 99")
    assert out["error"]
    assert cluster.requests(ClientOp.CHANGE_REPLICAS) == []
    assert cluster.requests(ClientOp.TRANSFER_LEADER) == []


def test_an_unanswered_change_exits_3(capsys, cluster):
    """Proves: a change the leader never answers is exit 3 within --timeout (outcome
    unknown), with nothing on stdout."""
    cluster.silent = {1, 2, 3, 4}
    code, out, err = cli(capsys, cluster, "--timeout", "1", "replicas", "add", "1", "4")
    assert code == 3 and out is None
    one_line(err, "timed out")


def test_transfer_prints_the_range_led_by_the_target(capsys, cluster):
    code, out, _ = cli(capsys, cluster, "transfer", "7", "4")
    assert code == 0 and set(out) == RANGE_KEYS and out["leader"] == 4
    [req] = cluster.requests(ClientOp.TRANSFER_LEADER)
    assert req.args == (b"m", 7, 4)


def test_a_refused_transfer_exits_1(capsys, cluster):
    cluster.script[ClientOp.TRANSFER_LEADER] = (S.REFUSED, "node 1 holds no voter of range 7")
    code, out, err = cli(capsys, cluster, "transfer", "7", "1")
    assert code == 1 and out["transferred"] is False
    one_line(err, "no voter of range 7")


@pytest.mark.parametrize("argv", [["replicas", "add", "1", "0"], ["transfer", "x", "1"],
                                  ["replicas", "move", "1", "2"], ["node", "decommission"]])
def test_bad_arguments_are_usage_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        ctl.main(["--addr", "127.0.0.1:1", *argv])
    assert info.value.code == 2


# -- nodes ---------------------------------------------------------------------------------------

def test_nodes_lists_every_directory_entry_with_its_counts(capsys):
    """Proves: ``nodes`` lists the merged directory sorted by node id, dead and decommissioned
    nodes included, each with the ranges whose descriptor lists it and those it leads."""
    ranges = [Range(1, b"", b"m", [1, 2, 3], leader=1), Range(7, b"m", None, [1, 2, 3], leader=1),
              Range(9, b"z", None, [2, 3, 5], leader=3, generation=0)]
    with FakeCluster([5, 3, 1, 2, 4], ranges, states={4: "decommissioned", 5: "dead"},
                     serving=[1, 2, 3]) as c:
        code, out, _ = cli(capsys, c, "nodes")
    assert code == 0
    assert all(set(n) == NODE_KEYS for n in out)
    assert [(n["node_id"], n["state"], n["replicas"], n["leaders"]) for n in out] == [
        (1, "live", 2, 2), (2, "live", 2, 0), (3, "live", 2, 0), (4, "decommissioned", 0, 0),
        (5, "dead", 0, 0)]
    assert out[0]["client_address"] == c.addrs[0] and out[0]["raft_address"]


def test_nodes_answers_with_a_node_unreachable(capsys, cluster):
    """Proves: with one address not answering, ``nodes`` exits 0 from the others and names
    the missing one on stderr; with none answering it exits 3."""
    dead = f"127.0.0.1:{free_base_port(1) + 1}"
    code, out, err = cli(capsys, [*cluster.addrs, dead], "--timeout", "0.5", "nodes")
    assert code == 0 and [n["node_id"] for n in out] == [1, 2, 3, 4]
    one_line(err, f"unreachable: {dead}")
    code, out, err = cli(capsys, [dead], "--timeout", "0.5", "nodes")
    assert code == 3 and out is None


def test_nodes_table(capsys, cluster):
    assert ctl.main(["--addr", ",".join(cluster.addrs), "nodes"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["node", "state", "client", "address", "raft", "address",
                                "replicas", "leaders"]
    assert [line.split()[:2] for line in lines[1:]] == [["1", "live"], ["2", "live"],
                                                       ["3", "live"], ["4", "live"]]


# -- node decommission ---------------------------------------------------------------------------

def decommissions(cluster: FakeCluster) -> list[tuple[int, str]]:
    return [r.args for r in cluster.requests(ClientOp.DECOMMISSION)]


def test_decommission_waits_for_the_replicas_to_leave(capsys):
    """Proves: ``node decommission`` marks the node decommissioning, waits until no range
    lists it, then marks it decommissioned, and prints its NODE object (no replicas left)."""
    ranges = [Range(1, b"", b"m", [1, 2, 3], leader=3), Range(7, b"m", None, [2, 3, 4], leader=2)]
    with FakeCluster([1, 2, 3, 4], ranges) as c:
        c.drain_after = 2
        code, out, err = cli(capsys, c, "node", "decommission", "3")
        assert decommissions(c) == [(3, "decommissioning"), (3, "decommissioned")]
        assert all(3 not in r.replicas for r in c.ranges.values())
    assert code == 0, err
    assert set(out) == NODE_KEYS
    assert (out["node_id"], out["state"], out["replicas"], out["leaders"]) == \
        (3, "decommissioned", 0, 0)


def test_decommission_no_wait(capsys, cluster):
    """Proves: with ``--no-wait`` only the decommissioning mark is sent, and the node's
    object (its replicas still counted) is printed at once."""
    cluster.drain_after = None
    code, out, _ = cli(capsys, cluster, "node", "decommission", "4", "--no-wait")
    assert code == 0 and decommissions(cluster) == [(4, "decommissioning")]
    assert (out["node_id"], out["state"], out["replicas"]) == (4, "decommissioning", 1)


def test_decommission_whose_replicas_never_leave_exits_3(capsys, cluster):
    cluster.drain_after = None
    code, out, err = cli(capsys, cluster, "--timeout", "0.5", "node", "decommission", "4")
    assert code == 3 and out is None
    one_line(err, "range 7 still had a replica")
    assert decommissions(cluster) == [(4, "decommissioning")]


def test_decommission_of_an_unknown_node_exits_1_and_sends_nothing(capsys, cluster):
    code, out, err = cli(capsys, cluster, "node", "decommission", "9")
    assert code == 1 and out["decommissioned"] is False
    one_line(err, "unknown node 9")
    assert decommissions(cluster) == []


def test_decommission_without_room_for_its_replicas_exits_1_and_sends_nothing(capsys):
    """Proves: when some range on the node has no live node (decommissioning ones do not
    count) outside it to take its replica, the command exits 1 before sending anything."""
    ranges = [Range(1, b"", b"m", [1, 2, 3], leader=1), Range(7, b"m", None, [1, 2, 4], leader=2)]
    with FakeCluster([1, 2, 3, 4], ranges, states={4: "decommissioning"}) as c:
        code, out, err = cli(capsys, c, "node", "decommission", "3")
        assert decommissions(c) == []
    assert code == 1 and out["decommissioned"] is False
    one_line(err, "too few live nodes to take its replicas of range 1")


def test_a_refused_decommission_exits_1(capsys, cluster):
    cluster.script[ClientOp.DECOMMISSION] = (S.REFUSED, "node 4 is the last of its kind")
    code, out, err = cli(capsys, cluster, "node", "decommission", "4")
    assert code == 1 and out["decommissioned"] is False
    one_line(err, "last of its kind")


# -- --timeout defaults --------------------------------------------------------------------------

class TimeoutRecorder:
    """Stands in for ``multiraft.Client`` in ``ctl.main``: records its timeout, then stops the
    command (a ``Timeout``, exit 3)."""

    timeouts: list[float] = []

    def __init__(self, addrs: Any, timeout: float = 5.0, curve: Any = None) -> None:
        self.timeouts.append(timeout)

    def __enter__(self) -> TimeoutRecorder:
        raise Timeout("recorded")

    def __exit__(self, *exc: object) -> None:
        pass


@pytest.mark.parametrize("argv, timeout", [
    (["get", "k"], 5.0), (["nodes"], 5.0), (["ranges"], 5.0),
    (["replicas", "add", "1", "2"], 60.0), (["replicas", "move", "1", "2", "3"], 60.0),
    (["transfer", "1", "2"], 60.0), (["node", "decommission", "2"], 60.0),
    (["--timeout", "2", "replicas", "add", "1", "2"], 2.0),
    (["node", "decommission", "2", "--timeout", "7"], 7.0),
])
def test_admin_commands_wait_60s_by_default(monkeypatch, capsys, argv, timeout):
    """Proves: --timeout defaults to 5 s, and to 60 s for the commands that wait for the
    cluster to act; given explicitly (before or after the command) it bounds them all."""
    TimeoutRecorder.timeouts = []
    monkeypatch.setattr(ctl, "Client", TimeoutRecorder)
    assert ctl.main(["--addr", "127.0.0.1:1", *argv]) == 3
    assert TimeoutRecorder.timeouts == [timeout]
    capsys.readouterr()
