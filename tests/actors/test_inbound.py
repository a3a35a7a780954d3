"""``StoreInbound``: what the transport thread sends straight to a replica and what it leaves
to the store (fakes stand in for the actor handles; the cluster suite runs the real thing)."""

from __future__ import annotations

from typing import Any

import pykka

from multiraft.actors.inbound import RouteTable, StoreInbound
from multiraft.actors.messages import ClientCommand, InboundClient, InboundRaft, RaftMessages
from multiraft.store.routing import RangeRouter
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus


class Handle:
    """An actor handle that records what it is told (or is dead)."""

    def __init__(self, dead: bool = False) -> None:
        self.told: list[Any] = []
        self.dead = dead

    def tell(self, msg: Any) -> None:
        if self.dead:
            raise pykka.ActorDeadError("stopped")
        self.told.append(msg)


class Responder:
    def __init__(self) -> None:
        self.answers: list[tuple[ClientStatus, Any]] = []

    def respond(self, status: ClientStatus, result: Any) -> None:
        self.answers.append((status, result))


def _inbound(replicas: dict[int, Handle]) -> tuple[StoreInbound, Handle]:
    router = RangeRouter()
    router.update(RangeDescriptor(1, b"", b"m", ((1, 1),)))
    router.update(RangeDescriptor(2, b"m", None, ((1, 1),)))
    store = Handle()
    inbound = StoreInbound()
    inbound.bind(store)
    inbound.publish(RouteTable(replicas, router))
    return inbound, store


def test_raft_messages_for_published_ranges_go_straight_to_their_replicas() -> None:
    r1 = Handle()
    inbound, store = _inbound({1: r1})
    inbound.on_raft_messages(3, [(1, "a"), (5, "x"), (1, "b"), (5, "y")])
    assert r1.told == [RaftMessages(3, ["a", "b"])]
    # range 5 is not published (first contact): the store gets it, to create the replica
    assert store.told == [InboundRaft(3, [(5, "x"), (5, "y")])]


def test_client_requests_route_by_key_and_the_rest_goes_to_the_store() -> None:
    r1, r2 = Handle(), Handle()
    inbound, store = _inbound({1: r1, 2: r2})
    put = ClientRequest(1, ClientOp.PUT, (b"zebra", b"v"), 9, 1)
    status = ClientRequest(2, ClientOp.STATUS, ({},))
    resp = Responder()
    inbound.on_client_request(put, resp)
    inbound.on_client_request(status, resp)
    assert r2.told == [ClientCommand(put, resp)] and r1.told == []
    assert store.told == [InboundClient(status, resp)]
    assert inbound.client_requests == 1


def test_a_key_of_no_published_replica_and_a_stopped_replica_go_to_the_store() -> None:
    inbound, store = _inbound({1: Handle(dead=True)})  # range 2 has no replica published
    resp = Responder()
    get_a = ClientRequest(1, ClientOp.GET, (b"apple",))
    get_z = ClientRequest(2, ClientOp.GET, (b"zebra",))
    inbound.on_client_request(get_a, resp)
    inbound.on_client_request(get_z, resp)
    assert store.told == [InboundClient(get_a, resp), InboundClient(get_z, resp)]
    assert inbound.client_requests == 0


def test_an_empty_table_sends_everything_to_the_store_and_no_store_means_an_error() -> None:
    r1 = Handle()
    inbound, store = _inbound({1: r1})
    inbound.publish(RouteTable())  # what the store publishes when it begins to stop
    inbound.on_raft_messages(2, [(1, "a")])
    assert r1.told == [] and store.told == [InboundRaft(2, [(1, "a")])]

    unbound = StoreInbound()
    resp = Responder()
    unbound.on_client_request(ClientRequest(1, ClientOp.GET, (b"k",)), resp)
    assert resp.answers == [(ClientStatus.UNAVAILABLE, "node not serving")]
