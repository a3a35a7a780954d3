"""``ReplicaActor``: a range's replica as an actor. It alone touches its ``ReplicaCore`` (and so
the range's RawNode): no lock guards raft state. Every input arrives as a message and is handled
on whichever pooled worker runs the actor at that moment; the Ready is handled once per turn,
after the turn's batch of inputs (``on_batch_end``), so many proposals share one write. The
actor is also the core's env: writes, wake-ups and quiescence become messages to the storage
writer, the timer and the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from multiraft.replica.core import ReplicaCore
from multiraft.replica.env import ReplicaServices
from multiraft.storage.engine import WriteBatch
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.store.group_commit import GroupCommit
from multiraft.store.lifecycle import Fatal

from .fail_stop import FailStop
from .inbound import StoreInbound

from .messages import (DROP_IF_UNINITIALIZED, INITIALIZE_FROM_SPLIT, PROBE_REMOVAL,
                       SCAN_ALLOCATION, TICK, WRITE_DONE, Awake, ClientCommand, DescriptorChanged, InboundHeartbeat,
                       InboundReplicaCheck, InboundReplicaGone, InboundSnapshotAck, InboundSnapshotChunk, NodeSilent,
                       NodeUnreachable, Quiesced, RaftMessages, ReplicaDestroyed, ReplicaDropped,
                       ReportStatus, SplitApplied)
from .runtime import PooledActor

__all__ = ["ReplicaActor", "NodeActors"]


@dataclass(slots=True)
class NodeActors:
    """The node's actors a replica talks to."""

    writer: GroupCommit[Any]  # the node's one write per round (tokens: replica refs)
    store: Any   # StoreActor ref
    timer: Any   # TimerActor ref
    fatal: Fatal  # the node's fail-stop
    inbound: Any  # StoreInbound: the published route table (``overlapping``)


class ReplicaActor(FailStop, PooledActor):
    """Invariant: ``_ready_wanted`` is True only between an input of this turn and the turn's
    end (``on_batch_end``), which handles the Ready."""

    def __init__(self, svc: ReplicaServices, actors: NodeActors, range_id: int, replica_id: int,
                 campaign: bool = False) -> None:
        self.actors = actors
        self.fatal = actors.fatal
        self.core = ReplicaCore(svc, self, range_id, replica_id, campaign)
        self._ready_wanted = False

    # -- lifecycle --

    def on_start(self) -> None:
        self.core.start()

    def on_stop(self) -> None:
        self.core.stop()

    # -- dispatch --

    def on_receive(self, msg: Any) -> Any:
        core = self.core
        if msg is WRITE_DONE:
            core.write_done()
            return None
        if msg is TICK:
            core.tick()
        else:
            t = type(msg)
            if t is RaftMessages:
                core.step_raft(msg.from_node, msg.messages)
            elif t is InboundHeartbeat:
                core.heartbeat(msg.from_node, msg.heartbeat, msg.response)
            elif t is ClientCommand:
                core.client(msg.request, msg.responder)
            elif t is InboundSnapshotChunk:
                core.snapshot_chunk(msg.from_node, msg.chunk)
            elif t is InboundSnapshotAck:
                core.snapshot_ack(msg.from_node, msg.ack)
            elif t is NodeUnreachable:
                core.node_unreachable(msg.node_id)
            elif t is InboundReplicaGone:
                core.replica_gone(msg.from_node, msg.gone)
            elif t is InboundReplicaCheck:
                core.replica_check(msg.from_node, msg.check)
                return None  # (nothing to process: the check wakes nothing)
            elif t is NodeSilent:
                core.node_silent(msg.node_id)
            elif t is ReportStatus:
                msg.reply(core.status())
                return None
            elif msg is INITIALIZE_FROM_SPLIT:
                core.initialize_from_split()
            elif msg is SCAN_ALLOCATION:
                core.scan_allocation()
            elif msg is PROBE_REMOVAL:
                core.probe_removal()
                return None
            elif msg is DROP_IF_UNINITIALIZED:
                if core.drop_if_uninitialized():
                    self.actors.store.tell(ReplicaDropped(core.range_id, self.actor_ref))
                return None
            else:
                return super().on_receive(msg)
        # An input may have made a Ready: handle it once this turn's inputs are stepped.
        self._ready_wanted = True
        return None

    def on_batch_end(self) -> None:
        if self._ready_wanted:
            self._ready_wanted = False
            self.core.process_ready()

    def status(self) -> dict[str, Any]:
        """This replica's status (for host programs, through ``actor_ref.proxy()``)."""
        return self.core.status()

    # -- the core's env --

    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        self.actors.writer.submit(batch, sync, self.actor_ref)

    def awake(self) -> None:
        self.actors.timer.tell(Awake(self.core.range_id, self.actor_ref))

    def quiesced(self) -> None:
        self.actors.timer.tell(Quiesced(self.core.range_id))

    def descriptor_changed(self, descriptor: RangeDescriptor) -> None:
        self.actors.store.tell(DescriptorChanged(descriptor))

    def split_applied(self, left: RangeDescriptor, right: RangeDescriptor,
                      campaign: bool) -> None:
        self.actors.store.tell(SplitApplied(left, right, campaign))

    def replica_destroyed(self) -> None:
        self.actors.store.tell(ReplicaDestroyed(self.core.range_id, self.actor_ref))

    def overlapping(self, descriptor: RangeDescriptor) -> int | None:
        inbound: StoreInbound = self.actors.inbound
        return inbound.overlapping(descriptor.start_key, descriptor.end_key,
                                               descriptor.range_id)
