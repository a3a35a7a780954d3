"""What a replica needs from its node, whichever concurrency design runs it.

``ReplicaServices`` holds the node's thread-safe services and settings; ``ReplicaEnv`` is the
few things a design decides: how a write batch reaches the storage writer (and how its
completion comes back), and what happens when a range wakes up, quiesces or gets a new
descriptor. The actor design answers with messages; the lock-based one with calls under locks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Any, Protocol

from multiraft.storage.engine import Engine, WriteBatch
from multiraft.storage.range_descriptor import RangeDescriptor
from multiraft.storage.snapshot_staging import SnapshotStaging

from multiraft.storage.commands import DEFAULT_MAX_SCAN_BYTES
from multiraft.storage.range_ids import RangeIdAllocator
from multiraft.storage.sessions import SessionLimits
from multiraft.transport.client_protocol import DEFAULT_MAX_COMMAND_BYTES
from multiraft.transport.codec import Heartbeat

from .allocator import Allocator
from .counters import ReplicaCounters
from .auto_split import SplitRateLimiter
from .limits import DEFAULT_RANGE_QUOTA_BYTES, PendingLimit
from .snapshot_sender import SnapshotSender

__all__ = ["ReplicaServices", "ReplicaEnv", "HeartbeatSink", "wall_ms"]


def wall_ms() -> int:
    """Milliseconds since the epoch (the stamp of a session record or a write's TTL base)."""
    return int(time.time() * 1000)


class HeartbeatSink(Protocol):
    """Where a replica posts its outgoing heartbeats and heartbeat responses; the node
    coalesces them into one frame per destination node (``store.CoalescedHeartbeats``)."""

    def post(self, node_id: int, hb: Heartbeat) -> None: ...

    def post_response(self, node_id: int, hb: Heartbeat) -> None: ...


@dataclass(slots=True)
class ReplicaServices:
    """The node's services a replica uses (all safe from any thread) and its raft settings."""

    node_id: int
    engine: Engine
    transport: Any            # transport.Transport: send, send_snapshot_chunk, ...
    heartbeats: HeartbeatSink
    snapshots: SnapshotSender  # streams snapshots off the replica's thread
    staging: SnapshotStaging   # where received snapshots wait to be installed (the data dir's)
    election_tick: int = 10
    heartbeat_tick: int = 1
    fsync: bool = True
    #: keep this many applied entries in the log for slow followers before truncating
    log_keep: int = 5_000
    #: forget proposed writes whose client has surely timed out (seconds)
    write_expiry: float = 30.0
    #: refuse (never propose) a write whose key and values are larger
    max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES
    #: about how many bytes of pairs one SCAN answer carries
    max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES
    #: bytes of commands a range's leader may have proposed and not yet applied; a write past
    #: it is answered BUSY, never proposed (raft's max_uncommitted_entries_size: twice this)
    range_quota_bytes: int = DEFAULT_RANGE_QUOTA_BYTES
    #: client sessions' ttl and bound (cluster-wide: see ``NodeConfig.sessions``)
    sessions: SessionLimits = field(default_factory=SessionLimits)
    #: a range whose user data passes this many bytes splits (0: never by size)
    split_bytes: int = 0
    #: a range whose leader serves this many requests a second for 10 s splits (0: never)
    split_qps: float = 0.0
    #: the node's bound on automatic splits, shared by its replicas
    split_limiter: SplitRateLimiter = field(default_factory=SplitRateLimiter)
    #: new range ids for the splits this node's leaders propose (from ``engine``, ``node_id``)
    range_ids: RangeIdAllocator = field(init=False)
    #: the node's counters of refused inputs, shared by all its replicas (any thread)
    counters: ReplicaCounters = field(default_factory=ReplicaCounters)
    #: the node's bound on client requests waiting in its replicas, shared by all of them
    pending_limit: PendingLimit = field(default_factory=PendingLimit)
    #: whether a node id belongs to the cluster (a replica may be placed there)
    node_known: Callable[[int], bool] = field(default=lambda node_id: True)
    #: the changes leaders make by themselves (None: none, e.g. in unit tests)
    allocator: Allocator | None = None
    #: the node's monotonic clock (seconds) and wall clock (``wall_ms``): injected, so a
    #: simulation runs every replica on virtual time
    clock: Callable[[], float] = time.monotonic
    wall_clock_ms: Callable[[], int] = wall_ms
    #: mixed into the seed of each replica's random choices (raft's election timeouts, load
    #: split sampling): a simulation's seed varies them; 0 in production
    seed: int = 0

    def __post_init__(self) -> None:
        self.range_ids = RangeIdAllocator(self.engine, self.node_id)


class ReplicaEnv(Protocol):
    """The design-specific side of one replica."""

    def submit_write(self, batch: WriteBatch, sync: bool) -> None:
        """Hand ``batch`` to the storage writer; call ``ReplicaCore.write_done`` once durable."""

    def awake(self) -> None:
        """The range must be ticked from now on."""

    def quiesced(self) -> None:
        """The range need not be ticked until it wakes."""

    def descriptor_changed(self, descriptor: RangeDescriptor) -> None:
        """The range's descriptor is new (routing of client requests changes)."""

    def split_applied(self, left: RangeDescriptor, right: RangeDescriptor,
                      campaign: bool) -> None:
        """A split of this range is durable: the store routes ``left`` (this range, narrowed)
        and ``right`` (new) in one step, and initializes the right-hand replica (``campaign``:
        this replica led the range, so the new one should stand for election at once)."""

    def replica_destroyed(self) -> None:
        """The range removed this replica and its state is destroyed (durably, tombstone
        written): the store forgets it and stops routing its range here."""

    def overlapping(self, descriptor: RangeDescriptor) -> int | None:
        """Another initialized range on this node whose span overlaps ``descriptor``'s (a
        snapshot of it would claim that range's keys), or None."""
