"""A node bootstraps its share of a new cluster once, ever: the durable "bootstrapped" marker.

A node whose replicas were all removed (moved to other nodes) holds no range descriptor; were
"no descriptors" read as "a new node", its next start would write a fresh range 1.. at term 1
under replica ids the cluster already uses: a second copy of ranges that exist, able to vote
and to elect itself. So bootstrap_node writes a marker with its batch, and only a store with
neither the marker nor descriptors bootstraps."""

from __future__ import annotations

from multiraft.storage import keys
from multiraft.storage.layout import bootstrap_node, is_bootstrapped, mark_bootstrapped
from multiraft.storage.memory_engine import MemoryEngine
from multiraft.storage.range_descriptor import load_descriptors


def _drop_all_ranges(engine: MemoryEngine) -> None:
    """What removing every replica of this node leaves: no range-local records at all."""
    b = engine.batch()
    b.delete_range(keys.RANGE_LOCAL_PREFIX, keys.USER_PREFIX)
    engine.write(b, sync=True)


def test_a_node_whose_replicas_were_all_removed_never_bootstraps_again() -> None:
    e = MemoryEngine()
    assert bootstrap_node(e, 1, [2, 3], 4) == {1, 4}
    _drop_all_ranges(e)
    assert load_descriptors(e) == []
    assert bootstrap_node(e, 1, [2, 3], 4) == set()
    assert load_descriptors(e) == []  # nothing written: no second copy of ranges 1..4


def test_bootstrap_writes_the_marker_with_its_ranges() -> None:
    e = MemoryEngine()
    assert not is_bootstrapped(e)
    bootstrap_node(e, 2, [1, 3], 2)
    assert is_bootstrapped(e)


def test_a_store_with_descriptors_and_no_marker_counts_as_bootstrapped() -> None:
    """Data dirs written before the marker existed: their descriptors say they bootstrapped."""
    e = MemoryEngine()
    bootstrap_node(e, 1, [2, 3], 3)
    b = e.batch()
    b.delete(keys.bootstrapped_key())
    e.write(b)
    assert bootstrap_node(e, 1, [2, 3], 3) == set()
    assert is_bootstrapped(e)  # the marker is written now
    _drop_all_ranges(e)
    assert bootstrap_node(e, 1, [2, 3], 3) == set()


def test_a_joined_node_is_marked_and_never_bootstraps() -> None:
    e = MemoryEngine()
    mark_bootstrapped(e)
    assert bootstrap_node(e, 4, [1, 2, 3], 4) == set()
    assert load_descriptors(e) == []


def test_the_replication_factor_is_clamped_to_the_nodes() -> None:
    e = MemoryEngine()
    bootstrap_node(e, 1, [], 2, replication=3)
    assert [d.replicas for d in load_descriptors(e)] == [((1, 1),), ((1, 1),)]
    e2 = MemoryEngine()
    bootstrap_node(e2, 1, [2, 3, 4], 4, replication=2)
    assert all(len(d.replicas) == 2 for d in load_descriptors(e2))
