"""The membership API of both clients (``change_replicas`` and its add/remove/move forms,
``transfer_leader``, ``decommission``) against scripted fake nodes (``fake_members``): what
goes on the wire, where it goes, and which typed error each refusal raises."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import multiraft
from multiraft import aio
from multiraft.client import change_replicas_args, range_start
from multiraft.errors import Refused, Timeout, Unavailable, UnknownRange
from multiraft.transport.client_protocol import ClientOp, ClientStatus as S

from .fake_members import FakeCluster, Range

KINDS = ["sync", "async"]


def call(kind: str, addrs: list[str], method: str, *args: Any, timeout: float = 2.0,
         **kwargs: Any) -> Any:
    """``Client(addrs).method(*args, **kwargs)`` with the blocking or the asyncio client."""
    if kind == "sync":
        with multiraft.Client(addrs, timeout=timeout) as c:
            return getattr(c, method)(*args, **kwargs)

    async def run() -> Any:
        async with aio.Client(addrs, timeout=timeout) as c:
            return await getattr(c, method)(*args, **kwargs)
    return asyncio.run(run())


def two_ranges(**kwargs: Any) -> FakeCluster:
    """Nodes 1-3 (4 in the directory, not running); range 1 ["", "m") and range 7 ["m", end),
    both on nodes 1-3, led by node 2."""
    return FakeCluster([1, 2, 3, 4], [Range(1, b"", b"m", [1, 2, 3], leader=2),
                                      Range(7, b"m", None, [1, 2, 3], leader=2, conf_ver=4)],
                       serving=[1, 2, 3], **kwargs)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method, args, wire, voters", [
    ("add_replica", (7, 4), ("add", 0, 4), [1, 2, 3, 4]),
    ("remove_replica", (7, 1), ("remove", 1, 0), [2, 3]),
    ("move_replica", (7, 1, 4), ("move", 1, 4), [2, 3, 4]),
])
def test_replica_changes_go_to_the_ranges_leader_at_its_start_key(kind, method, args, wire,
                                                                  voters):
    """Proves: each form sends one CHANGE_REPLICAS to the range's leader, args (the range's
    start key, range id, expected conf version 0 = any, kind, from node, to node) with a
    command id (a write), and returns the RANGE_INFO map of the answer."""
    with two_ranges() as cluster:
        info = call(kind, cluster.addrs, method, *args)
        [req] = cluster.requests(ClientOp.CHANGE_REPLICAS)
        assert req in cluster.members[2].requests
    assert req.args == (b"m", 7, 0, *wire)
    assert req.client_id != 0 and req.seq > 0
    assert info["range_id"] == 7 and list(info["voters"]) == voters and info["conf_ver"] == 5


@pytest.mark.parametrize("kind", KINDS)
def test_change_replicas_passes_the_expected_conf_ver(kind):
    """Proves: ``expected_conf_ver`` goes on the wire as given."""
    with two_ranges() as cluster:
        call(kind, cluster.addrs, "change_replicas", 1, "add", to_node=4, expected_conf_ver=1)
        [req] = cluster.requests(ClientOp.CHANGE_REPLICAS)
    assert req.args == (b"", 1, 1, "add", 0, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_transfer_leader(kind):
    """Proves: TRANSFER_LEADER goes to the leader with (start key, range id, target) and the
    answer's RANGE_INFO names the new leader."""
    with two_ranges() as cluster:
        info = call(kind, cluster.addrs, "transfer_leader", 7, 3)
        [req] = cluster.requests(ClientOp.TRANSFER_LEADER)
        assert req in cluster.members[2].requests
    assert req.args == (b"m", 7, 3) and req.client_id != 0
    assert info["leader"] == 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_moved_leader_is_followed(kind):
    """Proves: when the leader the nodes reported has handed over (it answers NOT_LEADER
    naming node 3), the change goes to node 3 and succeeds."""
    with two_ranges() as cluster:
        cluster.ranges[7].leader = 3
        cluster.reported_leader[7] = 2
        info = call(kind, cluster.addrs, "remove_replica", 7, 1)
        asked = [m.node_id for m in cluster.members.values()
                 for r in m.requests if r.op is ClientOp.CHANGE_REPLICAS]
    assert list(info["voters"]) == [2, 3]
    assert sorted(asked) == [2, 3]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method, args", [("add_replica", (9, 4)), ("transfer_leader", (9, 1))])
def test_an_unknown_range_raises_unknown_range_and_sends_nothing(kind, method, args):
    """Proves: a range id no node describes (every node answered) raises ``UnknownRange`` (a
    ``Refused``: not applied), and no range op is sent."""
    with two_ranges() as cluster:
        with pytest.raises(UnknownRange) as info:
            call(kind, cluster.addrs, method, *args)
        assert cluster.requests(ClientOp.CHANGE_REPLICAS) == []
        assert cluster.requests(ClientOp.TRANSFER_LEADER) == []
    assert info.value.range_id == 9 and isinstance(info.value, Refused)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("op, method, args", [
    (ClientOp.CHANGE_REPLICAS, "add_replica", (7, 1)),
    (ClientOp.TRANSFER_LEADER, "transfer_leader", (7, 4)),
])
def test_a_refused_range_op_raises_refused_once(kind, op, method, args):
    """Proves: a REFUSED answer raises ``Refused`` carrying the server's message, and is not
    retried."""
    with two_ranges() as cluster:
        cluster.script[op] = (S.REFUSED, "node 1 already holds a replica of range 7")
        with pytest.raises(Refused, match="already holds a replica"):
            call(kind, cluster.addrs, method, *args)
        assert len(cluster.requests(op)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_unanswered_change_is_a_timeout(kind):
    """Proves: a change sent to a leader that never answers ends in ``Timeout`` (outcome
    unknown), within the client's timeout."""
    with two_ranges() as cluster:
        cluster.silent = {1, 2, 3}
        with pytest.raises(Timeout):
            call(kind, cluster.addrs, "add_replica", 7, 4, timeout=1.0)
        assert cluster.requests(ClientOp.CHANGE_REPLICAS)


def test_change_replicas_args_are_checked_before_sending():
    """Proves: a kind other than add/remove/move, a node the kind needs left 0, or one it
    does not take, is a ``ValueError``."""
    assert change_replicas_args("move", 1, 2, 3) == (3, "move", 1, 2)
    for bad in [("swap", 1, 2), ("add", 0, 0), ("add", 1, 2), ("remove", 0, 0),
                ("remove", 1, 2), ("move", 1, 0), ("move", 0, 2)]:
        with pytest.raises(ValueError):
            change_replicas_args(*bad, 0)


def test_range_start_takes_the_newest_descriptor():
    """Proves: the start key comes from the newest descriptor by (generation, conf version);
    a range nobody describes is ``UnknownRange`` if every address answered, ``Unavailable``
    if one did not (the range may live there); uninitialized replicas do not count."""
    def st(*entries: dict[str, Any]) -> dict[str, Any]:
        return {"ranges": list(entries)}
    old = {"range_id": 3, "start_key": b"a", "generation": 1, "conf_ver": 9}
    new = {"range_id": 3, "start_key": b"b", "generation": 2, "conf_ver": 1}
    newer_conf = {"range_id": 3, "start_key": b"c", "generation": 2, "conf_ver": 2}
    uninit = {"range_id": 5, "start_key": None}
    assert range_start(3, [("x", st(old)), ("y", st(new, uninit))]) == b"b"
    assert range_start(3, [("x", st(newer_conf)), ("y", st(new))]) == b"c"
    with pytest.raises(UnknownRange):
        range_start(5, [("x", st(old)), ("y", st(uninit))])
    with pytest.raises(Unavailable):
        range_start(5, [("x", st(old)), ("y", None)])


# -- decommission: a node op --------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_decommission_returns_the_record_from_any_node(kind):
    """Proves: DECOMMISSION (node id, state) goes to one node, without a command id (a node
    op, not a range write), and returns the directory record it answers."""
    with two_ranges() as cluster:
        record = call(kind, cluster.addrs, "decommission", 3)
        [req] = cluster.requests(ClientOp.DECOMMISSION)
    assert req.args == (3, "decommissioning") and req.client_id == 0
    assert record["node_id"] == 3 and record["state"] == "decommissioning"


@pytest.mark.parametrize("kind", KINDS)
def test_decommission_tries_the_next_address(kind):
    """Proves: a node that does not answer is passed over for the next address, which
    answers."""
    with two_ranges() as cluster:
        cluster.silent = {1}
        record = call(kind, cluster.addrs, "decommission", 4, "decommissioned", timeout=2.0)
        asked = [m.node_id for m in cluster.members.values() if m.requests]
    assert record["state"] == "decommissioned"
    assert asked == [1, 2]


@pytest.mark.parametrize("kind", KINDS)
def test_decommission_at_an_address_asks_only_it(kind):
    with two_ranges() as cluster:
        call(kind, cluster.addrs, "decommission", 4, address=cluster.members[3].address)
        asked = [m.node_id for m in cluster.members.values() if m.requests]
    assert asked == [3]


@pytest.mark.parametrize("kind", KINDS)
def test_decommission_refused_raises_refused_once(kind):
    with two_ranges() as cluster:
        cluster.script[ClientOp.DECOMMISSION] = (S.REFUSED, "unknown node 9")
        with pytest.raises(Refused, match="unknown node 9"):
            call(kind, cluster.addrs, "decommission", 9)
        assert len(cluster.requests(ClientOp.DECOMMISSION)) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_decommission_nobody_answers_is_a_timeout(kind):
    """Proves: sent and never answered: ``Timeout`` (it may have applied)."""
    with two_ranges() as cluster:
        cluster.silent = {1, 2, 3}
        with pytest.raises(Timeout):
            call(kind, cluster.addrs, "decommission", 3, timeout=1.0)


@pytest.mark.parametrize("kind", KINDS)
def test_decommission_every_node_unavailable_is_unavailable(kind):
    """Proves: when every node answers UNAVAILABLE until the timeout, each is asked in turn
    and the error is ``Unavailable`` (nothing applied), not ``Timeout``."""
    with two_ranges() as cluster:
        cluster.script[ClientOp.DECOMMISSION] = (S.UNAVAILABLE, "node stopping")
        with pytest.raises(Unavailable) as info:
            call(kind, cluster.addrs, "decommission", 3, timeout=0.6)
        asked = {m.node_id for m in cluster.members.values() if m.requests}
    assert not isinstance(info.value, Timeout)
    assert asked == {1, 2, 3}


@pytest.mark.parametrize("kind", KINDS)
def test_bad_decommission_state_is_a_value_error(kind):
    with two_ranges() as cluster:
        with pytest.raises(ValueError):
            call(kind, cluster.addrs, "decommission", 3, "gone")
        assert cluster.requests(ClientOp.DECOMMISSION) == []
