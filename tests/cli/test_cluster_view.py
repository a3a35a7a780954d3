"""How ``multiraft ranges`` / ``status`` merge the nodes' STATUS answers (``merge_ranges``), and
how ``multiraft split`` maps the client's outcomes to exit statuses: unit tests on fabricated
STATUS entries and a fake client, no cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest

from multiraft.cli import ctl
from multiraft.cli.cluster_view import merge_ranges
from multiraft.errors import (CommandTooLarge, RangeKeyMismatch, Refused, Timeout,
                              TooManySessions)

PAIRS = [[1, 1], [2, 2], [3, 3]]


def entry(range_id: int, start: bytes | None, end: bytes | None, generation: int | None,
          state: str = "follower", term: int = 2, leader: int = 1, replica_id: int = 1,
          replicas: list[list[int]] | None = None, applied: int = 10) -> dict[str, Any]:
    """One replica's entry of a STATUS answer (``ReplicaCore.status``), the fields merged."""
    pairs = [] if start is None else (PAIRS if replicas is None else replicas)
    return {"range_id": range_id, "replica_id": replica_id, "start_key": start, "end_key": end,
            "generation": generation, "replicas": pairs,
            "state": state, "leader": leader, "term": term, "commit": applied,
            "applied": applied, "quiesced": False,
            "progress": [[rid, applied] for _, rid in pairs] if state == "leader" else []}


def spans(views: Any) -> list[tuple[int, bytes | None, bytes | None, int | None, int]]:
    return [(v.range_id, v.start_key, v.end_key or None, v.generation, v.leader) for v in views]


# After range 1 = ["", None) at generation 4 split at "m" into 1 = ["", "m") and 7 = ["m", None),
# both at generation 5, on nodes 1 and 2; node 3 has not applied the split.
LEFT = entry(1, b"", b"m", 5, "leader", term=3, replica_id=1)
RIGHT = entry(7, b"m", b"", 5, "leader", term=6, replica_id=1)
STALE = entry(1, b"", b"", 4, term=3, replica_id=3)


@pytest.mark.parametrize("order", ["lagging node first", "lagging node last"])
def test_a_lagging_nodes_stale_view_never_wins(order: str) -> None:
    """Proves: with one node still reporting the split range at its old generation and wide
    span, the merge shows the left half at the new generation and the right half, once each,
    sorted by start key, whichever order the answers came in."""
    answers = [(1, [LEFT, RIGHT]), (2, [entry(1, b"", b"m", 5, replica_id=2, term=3),
                                        entry(7, b"m", b"", 5, replica_id=2, term=6)]),
               (3, [STALE])]
    if order == "lagging node first":
        answers.reverse()
    assert spans(merge_ranges(answers)) == [(1, b"", b"m", 5, 1), (7, b"m", None, 5, 1)]


def test_a_stale_range_overlapping_a_newer_one_is_dropped() -> None:
    """Proves: when the only answer for range 1 is a lagging node's old, wide descriptor and
    another node reports the newer right half, the stale range 1 is not printed over the right
    half's span (a higher generation wins the overlap): the ranges shown never overlap."""
    views = merge_ranges([(3, [STALE]), (2, [entry(7, b"m", b"", 5, "leader", term=6,
                                                   replica_id=2)])])
    assert spans(views) == [(7, b"m", None, 5, 2)]


def test_an_uninitialized_replica_does_not_hide_the_descriptor() -> None:
    """Proves: a lagging node's uninitialized replica of the right half (no descriptor, no
    generation) neither adds a range nor replaces the descriptor the others report; a range
    only uninitialized replicas report is listed after the described ones, with no span."""
    answers = [(1, [LEFT, RIGHT]), (3, [STALE, entry(7, None, None, None, term=6, replica_id=3)]),
               (2, [entry(9, None, None, None, leader=0, replica_id=2)])]
    views = merge_ranges(answers)
    assert spans(views) == [(1, b"", b"m", 5, 1), (7, b"m", None, 5, 1), (9, None, None, None, 0)]
    assert views[1].applied == {1: 10, 3: 10} and views[1].states[3] == "follower"


def test_leader_is_a_node_id_mapped_from_the_replica_id() -> None:
    """Proves: STATUS names the leader by replica id; the merge reports the node id, through the
    descriptor's (node, replica) pairs, whether the leader answered itself or only a follower's
    hint is known (then ``leader_answered`` is False); an unknown hint is 0."""
    pairs = [[1, 11], [2, 12], [3, 13]]
    follower = entry(1, b"", b"", 1, leader=12, replica_id=11, replicas=pairs)
    [v] = merge_ranges([(1, [follower])])
    assert (v.leader, v.leader_answered, v.replicas) == (2, False, [1, 2, 3])
    [v] = merge_ranges([(1, [entry(1, b"", b"", 1, leader=99, replica_id=11, replicas=pairs)])])
    assert v.leader == 0
    leader = entry(1, b"", b"", 1, "leader", leader=13, replica_id=13, replicas=pairs)
    [v] = merge_ranges([(1, [follower]), (3, [leader])])
    assert (v.leader, v.leader_answered, v.match) == (3, True, {1: 10, 2: 10})


def test_the_leader_with_the_highest_term_wins() -> None:
    """Proves: an old leader that has not heard of its successor (a lower term) does not win
    over the new one, even when the old one reports the newer descriptor."""
    old = entry(1, b"", b"", 2, "leader", term=3, replica_id=1, leader=1)
    new = entry(1, b"", b"", 1, "leader", term=4, replica_id=2, leader=2)
    [v] = merge_ranges([(1, [old]), (2, [new])])
    assert (v.leader, v.term, v.generation) == (2, 4, 2)


def test_range_object_shape() -> None:
    """Proves: ``RangeView.range_object`` is the contract's RANGE: the keys listed, replicas
    sorted node ids, every replica a voter, no learners, not a system range, ``end_key`` None
    at the end of the key space."""
    [_, right] = merge_ranges([(1, [LEFT, RIGHT])])
    assert right.range_object() == {
        "range_id": 7, "start_key": b"m", "end_key": None, "generation": 5,
        "replicas": [1, 2, 3], "voters": [1, 2, 3], "learners": [], "leader": 1, "system": False}


# -- multiraft split: outcomes to exit statuses ------------------------------------------------

class FakeClient:
    """Stands in for ``multiraft.Client`` in ``ctl.main``: ``split`` raises ``error``."""

    error: Exception = Refused("x")

    def __init__(self, addrs: Any, timeout: float = 5.0, curve: Any = None) -> None:
        self.addresses, self.timeout = addrs, timeout

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def split(self, key: bytes) -> Any:
        raise self.error


@pytest.mark.parametrize("error, code", [
    (Refused("SPLIT b'm': b'm' already starts range 3"), 1),
    (RangeKeyMismatch("SPLIT b'm': the key's range changed"), 3),
    (Timeout("SPLIT b'm': no answer within 5s (outcome unknown)"), 3),
    (Refused("SPLIT b'm': range 3 is not initialized"), 3),
    (CommandTooLarge("SPLIT b'already starts': 2000000 bytes"), 3),
    (TooManySessions("SPLIT b'm': already starts, sessions full"), 3),
])
def test_split_exit_status(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                           error: Exception, code: int) -> None:
    """Proves: ``split`` exits 1 only for the refusal that says KEY already starts a range; a
    split that kept meeting concurrent splits until its timeout (RANGE_KEY_MISMATCH), a timeout,
    and any other refusal exit 3, never 1. Each prints one line on stderr; with ``--json`` the
    exit-1 case prints one JSON value."""
    FakeClient.error = error
    monkeypatch.setattr(ctl, "Client", FakeClient)
    assert ctl.main(["--addr", "127.0.0.1:1", "--json", "split", "m"]) == code
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and err.startswith("multiraft: ")
    if code == 1:
        assert json.loads(out) == {"key": "m", "split": False, "error": str(error)}
        assert "already starts" in err
    else:
        assert out == ""
