"""``group_pairs``: how a frame's messages are split by range (and heartbeats by node)."""

from multiraft.store.routing import group_pairs


def test_groups_by_key_keeping_each_groups_order() -> None:
    pairs = [(7, "a"), (3, "b"), (7, "c"), (3, "d"), (9, "e")]
    assert group_pairs(pairs) == {7: ["a", "c"], 3: ["b", "d"], 9: ["e"]}
    assert list(group_pairs(pairs)) == [7, 3, 9]  # keys in order of first appearance


def test_consumes_an_iterator_once() -> None:
    assert group_pairs(iter([])) == {}
    assert group_pairs(p for p in [(1, 1), (1, 2)]) == {1: [1, 2]}
