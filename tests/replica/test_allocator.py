"""The allocator's decisions (pure logic: counts in, a goal out)."""

from __future__ import annotations

from collections.abc import Mapping

from multiraft.replica.allocator import REBALANCE_INTERVAL, Allocator, NodeLoad
from multiraft.storage.range_descriptor import RangeDescriptor


class _Load:
    def __init__(self, loads: dict[int, NodeLoad]) -> None:
        self.by_node = loads

    def loads(self) -> Mapping[int, NodeLoad]:
        return self.by_node


def _d(*nodes: int, learners: tuple[int, ...] = ()) -> RangeDescriptor:
    return RangeDescriptor(1, b"", None, tuple((n, n) for n in nodes), learners=learners)


def _live(replicas: int, leaders: int = 0) -> NodeLoad:
    return NodeLoad("live", replicas, leaders)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_dead_nodes_replica_moves_to_the_least_loaded_live_node() -> None:
    load = _Load({1: _live(5), 2: _live(5), 3: NodeLoad("dead", 5, 0), 4: _live(9), 5: _live(2)})
    assert Allocator(load).decide(_d(1, 2, 3)) == ("move", 3, 5)


def test_no_replacement_means_no_change_not_a_smaller_range() -> None:
    load = _Load({1: _live(5), 2: _live(5), 3: NodeLoad("dead", 5, 0)})
    assert Allocator(load).decide(_d(1, 2, 3)) is None


def test_decommissioning_nodes_are_drained_and_up_and_down_replication() -> None:
    a = Allocator(_Load({1: _live(1), 2: _live(1), 3: NodeLoad("decommissioning", 1, 0),
                         4: _live(0)}))
    assert a.decide(_d(1, 2, 3)) == ("move", 3, 4)
    assert a.decide(_d(1, 2)) == ("add", 0, 4)
    busy = Allocator(_Load({n: _live(n) for n in (1, 2, 3, 4)}))
    assert busy.decide(_d(1, 2, 3, 4)) == ("remove", 4, 0)
    # a learner left by a former leader: the change goes on towards it
    assert busy.decide(_d(1, 2, 3, learners=(3,))) == ("add", 0, 3)
    assert a.decide(_d(1, 2, 3, 4, learners=(4,))) == ("move", 3, 4)


def test_rebalancing_moves_onto_a_new_node_one_at_a_time_and_stops_when_even() -> None:
    clock = _Clock()
    load = _Load({1: _live(16), 2: _live(16), 3: _live(16), 4: _live(0)})
    a = Allocator(load, clock=clock)
    assert a.decide(_d(1, 2, 3)) == ("move", 3, 4)
    assert a.decide(_d(1, 2, 3)) is None  # within REBALANCE_INTERVAL of the last move
    clock.now += REBALANCE_INTERVAL
    assert a.decide(_d(1, 2, 3)) is not None
    even = _Load({1: _live(12), 2: _live(12), 3: _live(13), 4: _live(11)})
    assert Allocator(even, clock=clock).decide(_d(1, 2, 3)) is None
    assert Allocator(load, rebalance=False).decide(_d(1, 2, 3)) is None


def test_leaders_go_from_a_node_over_its_share_to_one_under_it() -> None:
    clock = _Clock()
    load = _Load({1: _live(4, 4), 2: _live(4, 0), 3: _live(4, 0)})
    a = Allocator(load, clock=clock)
    assert a.leader_target(1, _d(1, 2, 3)) == 2
    assert a.leader_target(1, _d(1, 2, 3)) is None  # one transfer at a time
    assert a.leader_target(2, _d(1, 2, 3)) is None  # node 2 leads less than its share
    even = _Load({1: _live(4, 2), 2: _live(4, 1), 3: _live(4, 1)})
    assert Allocator(even).leader_target(1, _d(1, 2, 3)) is None
    assert Allocator(load, rebalance=False).leader_target(1, _d(1, 2, 3)) is None
