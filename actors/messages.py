"""The messages actors of one node exchange: plain data, no behaviour.

Singletons (``TICK``, ``WRITE_DONE``, ``TICK_NOW``) are sent where a
message carries nothing, so hot paths allocate no message object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from multiraft.raft.types import Message
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.transport.client_protocol import ClientRequest
from multiraft.transport.codec import (Heartbeat, ReplicaCheck, ReplicaGone, SnapshotAck,
                                      SnapshotChunk)
from multiraft.transport.handler import Responder


class _Signal:
    """A message that is only its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


# -- to a replica --
TICK = _Signal("TICK")                    #: advance raft's logical clock (from the timer)
#: from the store: drop yourself if you are still uninitialized (then tell it ReplicaDropped)
DROP_IF_UNINITIALIZED = _Signal("DROP_IF_UNINITIALIZED")
#: from the store: the split that creates your range applied here; load it (if uninitialized)
INITIALIZE_FROM_SPLIT = _Signal("INITIALIZE_FROM_SPLIT")
#: from the store, every ``ALLOCATION_SCAN_TICKS``: if you lead (quiesced or not), ask the
#: allocator whether your range needs a change (``ReplicaCore.scan_allocation``)
SCAN_ALLOCATION = _Signal("SCAN_ALLOCATION")
#: from the store, once the node resumed from a pause: if you are a quiesced follower, ask the
#: range's members whether you are still in it (``ReplicaCore.probe_removal``)
PROBE_REMOVAL = _Signal("PROBE_REMOVAL")
WRITE_DONE = _Signal("WRITE_DONE")        #: the round's write made this replica's batch durable


@dataclass(slots=True)
class RaftMessages:
    """Raft messages for one range, from node ``from_node``, in arrival order."""

    from_node: int
    messages: list[Message]


@dataclass(slots=True)
class InboundHeartbeat:
    """One range's part of a coalesced heartbeat (or, with ``response``, heartbeat response)."""

    from_node: int
    heartbeat: Heartbeat
    response: bool


@dataclass(slots=True)
class InboundSnapshotChunk:
    from_node: int
    chunk: SnapshotChunk


@dataclass(slots=True)
class InboundSnapshotAck:
    """A follower's answer to a snapshot stream this replica sent."""

    from_node: int
    ack: SnapshotAck


@dataclass(slots=True)
class InboundReplicaGone:
    """A member of the range says this replica was removed from it."""

    from_node: int
    gone: ReplicaGone


@dataclass(slots=True)
class InboundReplicaCheck:
    """A replica on ``from_node`` asks whether it is still in this range."""

    from_node: int
    check: ReplicaCheck


@dataclass(slots=True)
class ClientCommand:
    """A client request routed to the replica whose range holds its key."""

    request: ClientRequest
    responder: Responder


@dataclass(slots=True)
class NodeUnreachable:
    """Frames to ``node_id`` are being dropped: raft should back off from its replica there."""

    node_id: int


@dataclass(slots=True)
class NodeSilent:
    """Nothing was heard from ``node_id`` for a liveness period: a quiesced replica whose
    leader is there wakes, so it can elect a new leader. ``node_id=0`` wakes the replicas that
    know no leader at all (sent once, a liveness period after the node starts)."""

    node_id: int


@dataclass(slots=True)
class ReportStatus:
    """Ask a replica for its status; ``reply`` is called (on the replica's thread) with a dict."""

    reply: Callable[[dict[str, Any]], None]


# -- to the store --
FLUSH_HEARTBEATS = _Signal("FLUSH_HEARTBEATS")  #: one tick passed: send the coalesced heartbeats


@dataclass(slots=True)
class InboundRaft:
    """A decoded frame of raft messages: (range_id, message) items from ``from_node``."""

    from_node: int
    items: list[tuple[int, Message]]


@dataclass(slots=True)
class InboundHeartbeats:
    from_node: int
    heartbeats: list[Heartbeat]
    response: bool


@dataclass(slots=True)
class InboundClient:
    request: ClientRequest
    responder: Responder


@dataclass(slots=True)
class DescriptorChanged:
    """A replica's range descriptor is new (bootstrap, snapshot, membership change)."""

    descriptor: RangeDescriptor


@dataclass(slots=True)
class SplitApplied:
    """A replica's split is durable: the store routes ``left`` and ``right`` in one step and
    starts (or initializes) the right-hand replica, campaigning if the left one led."""

    left: RangeDescriptor
    right: RangeDescriptor
    campaign: bool


@dataclass(slots=True)
class ReplicaDropped:
    """An uninitialized replica dropped itself (``DROP_IF_UNINITIALIZED``): the store removes
    it from its map and stops it."""

    range_id: int
    replica: Any


@dataclass(slots=True)
class ReplicaDestroyed:
    """The range removed this replica and its state is destroyed: the store removes it from
    its map and its router, and stops it."""

    range_id: int
    replica: Any


# -- to the timer --
TICK_NOW = _Signal("TICK_NOW")  #: the clock says a tick interval passed


@dataclass(slots=True)
class Awake:
    """Tick this range again (it has work, or lost its quiescence)."""

    range_id: int
    replica: Any  # a PooledActorRef


@dataclass(slots=True)
class Quiesced:
    """Stop ticking this range until it says it is awake."""

    range_id: int




@dataclass(slots=True)
class ReplicasLoaded:
    """The node's start, to its store before the transport starts (so before any inbound
    message): how to create a replica (``factory``: range id, replica id, campaign -> handle),
    the replicas of the ranges this node holds, and their descriptors as loaded."""

    factory: Any  # store.ReplicaFactory
    replicas: dict[int, Any]  # range id -> PooledActorRef
    descriptors: list[RangeDescriptor]
