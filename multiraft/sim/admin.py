"""``SimAdmin``: the admin operations the simulated workload runs beside its clients.

Each call of ``act`` starts one, unless one is still under way: split a range at one of the
clients' keys (or just after it), hand a range's leadership to another node, or take a
follower's replica off its node and put it back (the node gets a new replica id: the old
replica is destroyed, the new one is filled by a snapshot). The transfer and the re-add first
LOOKUP the key's range, as an operator's tool would. What the cluster refuses (a boundary
that exists, a change it cannot make now) is no error: the admin goes on.
"""

from __future__ import annotations

from typing import Any

from multiraft.transport.client_protocol import ClientOp, ClientStatus

from .clients import SimClient
from .world import World

__all__ = ["SimAdmin"]


class SimAdmin:
    """Invariant: at most one admin operation (or chain of them) runs at a time."""

    def __init__(self, world: World, client: SimClient, nodes: list[int]) -> None:
        self.world = world
        self.client = client
        self.nodes = nodes
        self.done: dict[str, int] = {}

    def act(self) -> None:
        c = self.client
        if c.busy:
            return
        rng = self.world.rng
        key = rng.choice(c.keys)
        r = rng.random()
        if r < 0.5:
            c.run(ClientOp.SPLIT, (key + (b"" if rng.random() < 0.5 else b"+"),),
                  lambda status, _: self._count("split", status))
        else:
            then = self._transfer if r < 0.75 else self._remove
            c.run(ClientOp.LOOKUP, (key,), lambda status, result: then(key, status, result))

    def _count(self, what: str, status: ClientStatus | None) -> None:
        if status is ClientStatus.OK:
            self.done[what] = self.done.get(what, 0) + 1

    def _range_and_follower(self, key: bytes, status: ClientStatus | None,
                            result: Any) -> tuple[int, int] | None:
        """(range id, a node other than its leader) of ``key`` from a LOOKUP's answer, or
        None if there was none."""
        if status is not ClientStatus.OK:
            return None
        descriptors, leader = result
        for range_id, start, end, _ in descriptors:
            if start <= key and (end == b"" or key < end):
                return range_id, self.world.rng.choice([n for n in self.nodes if n != leader])
        return None

    def _transfer(self, key: bytes, status: ClientStatus | None, result: Any) -> None:
        found = self._range_and_follower(key, status, result)
        if found is not None:
            range_id, to = found
            self.client.run(ClientOp.TRANSFER_LEADER, (key, range_id, to),
                            lambda status, _: self._count("transfer", status))

    def _remove(self, key: bytes, status: ClientStatus | None, result: Any) -> None:
        found = self._range_and_follower(key, status, result)
        if found is not None:
            range_id, node = found
            self.client.run(ClientOp.CHANGE_REPLICAS, (key, range_id, 0, "remove", node, 0),
                            lambda status, _: self._add_back(key, range_id, node, status))

    def _add_back(self, key: bytes, range_id: int, node: int,
                  status: ClientStatus | None) -> None:
        self._count("remove", status)
        if status is not ClientStatus.OK:
            return
        self.client.run(ClientOp.CHANGE_REPLICAS, (key, range_id, 0, "add", 0, node),
                        lambda status, _: self._count("add", status))
