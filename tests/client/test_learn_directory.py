"""A client learns node addresses from a STATUS answer's node directory, and an operation's
rotation over addresses sees the ones learned after it started."""

from __future__ import annotations

from typing import Any

from multiraft.attempts import Attempts, ClientRouting, Rotation
from multiraft.transport.client_protocol import ClientOp


def _status(node: int, directory: list[dict[str, Any]]) -> dict[str, Any]:
    return {"node": {"node_id": node}, "ranges": [], "directory": directory}


def _rec(node: int, client: str, state: str = "live") -> dict[str, Any]:
    return {"node_id": node, "raft_address": f"r{node}", "client_address": client, "state": state}


def test_learn_status_adds_every_other_nodes_client_address_once() -> None:
    addresses = ["a1"]
    r = ClientRouting(addresses)
    r.learn_status("a1", _status(1, [_rec(1, "other-name-for-1"), _rec(2, "a2"), _rec(3, ""),
                                     _rec(4, "a4", "dead")]))
    assert addresses == ["a1", "a2", "a4"]  # the client's own list, grown in place
    assert r.cache.node_addrs == {1: "a1", 2: "a2", 4: "a4"}
    r.learn_status("a2", _status(2, [_rec(1, "a1"), _rec(2, "a2"), _rec(3, "a3")]))
    assert addresses == ["a1", "a2", "a4", "a3"]


def test_accept_address_filters_what_is_learned() -> None:
    addresses = ["a1"]
    r = ClientRouting(addresses, accept_address=lambda a: a != "a2")
    r.learn_status("a1", _status(1, [_rec(2, "a2"), _rec(3, "a3")]))
    assert addresses == ["a1", "a3"]


def test_a_status_without_a_directory_is_still_understood() -> None:
    r = ClientRouting(["a1"])
    r.learn_status("a1", {"node": {"node_id": 1}, "ranges": []})
    assert r.cache.node_addrs == {1: "a1"}


def test_rotation_sees_addresses_added_while_it_turns() -> None:
    addresses = ["a1"]
    rot = Rotation(addresses)
    assert [next(rot), next(rot)] == ["a1", "a1"]
    addresses.append("a2")
    assert [next(rot), next(rot), next(rot)] == ["a2", "a1", "a2"]


def test_an_operation_tries_an_address_learned_after_it_started() -> None:
    addresses = ["a1"]
    routing = ClientRouting(addresses)
    att = Attempts(routing, ClientOp.GET, (b"k",), b"k", write=False, timeout=5.0)
    assert att.target == "a1"
    addresses.append("a2")
    att.unanswered(sent=False)
    assert att.target == "a2"
