"""``NodeConfig``: everything a node needs to start, whichever design runs it."""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from multiraft.replica.allocator import Allocator
from multiraft.replica.counters import ReplicaCounters
from multiraft.replica.env import HeartbeatSink, ReplicaServices, wall_ms
from multiraft.replica.limits import DEFAULT_MAX_PENDING_REQUESTS, DEFAULT_RANGE_QUOTA_BYTES, PendingLimit
from multiraft.replica.snapshot_sender import DEFAULT_SNAPSHOT_RATE, SnapshotSender
from multiraft.storage.commands import DEFAULT_MAX_SCAN_BYTES
from multiraft.storage.engine import Engine
from multiraft.storage.sessions import SessionLimits
from multiraft.storage.snapshot_staging import SnapshotStaging
from multiraft.store.node_directory import DEFAULT_DEAD_AFTER, NodeDirectory
from multiraft.store.replica_creation import (DEFAULT_MAX_UNINITIALIZED_REPLICAS,
                                              DEFAULT_REPLICA_CREATION_RATE,
                                              DEFAULT_UNINITIALIZED_REPLICA_TTL, CreationLimits)
from multiraft.transport.client_protocol import DEFAULT_MAX_COMMAND_BYTES
from multiraft.transport.codec import MAX_FRAME_BYTES

if TYPE_CHECKING:
    from multiraft.transport.keys import CurveConfig

#: A range splits by size past 64 MiB (CockroachDB's ``range_max_bytes`` was 64 MiB for years).
DEFAULT_SPLIT_BYTES = 64 << 20
#: The smallest ``split_bytes`` honoured (0 disables size splits).
MIN_SPLIT_BYTES = 64 << 10
#: A range splits by load past this many requests a second, sustained for 10 s; 0: never by
#: load, the default. Measured (README, Ranges): a hot range split by load lost 9-43% of its
#: writes/s at every threshold tried (500-2500), since both halves stay led by the same node
#: (no leader balancing yet) and more ranges cost more per write. Revisit (CockroachDB: 2500)
#: once leaders can move.
DEFAULT_SPLIT_QPS = 0.0
#: Replicas per range (CockroachDB's and etcd's usual 3).
DEFAULT_REPLICAS = 3

__all__ = ["NodeConfig", "EngineName", "DesignName", "DEFAULT_MAX_COMMAND_BYTES",
           "DEFAULT_MAX_SCAN_BYTES", "DEFAULT_SPLIT_BYTES", "MIN_SPLIT_BYTES", "DEFAULT_SPLIT_QPS",
           "DEFAULT_REPLICAS", "DEFAULT_DEAD_AFTER", "check_membership_settings",
           "check_split_settings", "is_loopback", "parse_metrics_address"]

#: "rocksdb" (durable, the default) or "memory" (tests and the simulator)
EngineName = Literal["rocksdb", "memory"]
#: "actors" (the default) or "locks" (the RFC's mutex design)
DesignName = Literal["actors", "locks"]

#: The largest max_command_bytes: a quarter of a transport frame's limit, so an entry plus a
#: MsgApp's other entries (max_size_per_msg) always fits in a frame a peer accepts.
MAX_COMMAND_BYTES_LIMIT = MAX_FRAME_BYTES // 4


def check_split_settings(split_bytes: int, split_qps: float) -> None:
    """Raise ValueError unless ``split_bytes`` is 0 (off) or at least ``MIN_SPLIT_BYTES`` and
    ``split_qps`` is 0 (off) or a positive finite rate. ``multiraft-cluster`` checks its flags
    with it before starting any node; ``NodeConfig.validate`` calls it."""
    if isinstance(split_bytes, bool) or not isinstance(split_bytes, int):
        raise ValueError(f"split_bytes must be an integer, not {split_bytes!r}")
    if split_bytes < 0 or 0 < split_bytes < MIN_SPLIT_BYTES:
        raise ValueError(f"split_bytes must be 0 (no size splits) or at least {MIN_SPLIT_BYTES} "
                         f"(64 KiB), not {split_bytes}")
    if isinstance(split_qps, bool) or not isinstance(split_qps, (int, float)):
        raise ValueError(f"split_qps must be a number, not {split_qps!r}")
    if not 0 <= split_qps < math.inf:  # also refuses NaN
        raise ValueError(f"split_qps must be 0 (no load splits) or a positive rate, "
                         f"not {split_qps}")


def check_membership_settings(dead_after: float, replicas: int) -> None:
    """Raise ValueError unless ``dead_after`` is a positive finite number of seconds and
    ``replicas`` a positive integer. ``multiraft-cluster`` checks its flags with it;
    ``NodeConfig.validate`` calls it."""
    if isinstance(dead_after, bool) or not isinstance(dead_after, (int, float)) \
            or not 0 < dead_after < math.inf:
        raise ValueError(f"dead_after must be a positive number of seconds, not {dead_after!r}")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 1:
        raise ValueError(f"replicas must be a positive integer, not {replicas!r}")


def is_loopback(address: str) -> bool:
    """Whether ``host:port`` names a loopback host: 127.0.0.0/8, ::1 (``[::1]:P``) or
    ``localhost``. Anything else is not, 0.0.0.0 and ``*`` (every interface) included, and so
    is any other host name (it is not resolved: what it resolves to can change)."""
    host = address.rpartition(":")[0].strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def parse_metrics_address(listen: str | int) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` -> (host, port). With no host the endpoint binds
    127.0.0.1 (what it exports describes the node: it is not served to the network unless a
    host is given, e.g. ``0.0.0.0:9100``). Raises ValueError for anything else."""
    text = str(listen).strip()
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad metrics address {text!r}: expected [HOST:]PORT")
    return host or "127.0.0.1", int(port)


@dataclass(slots=True)
class NodeConfig:
    """One node (store) of a cluster.

    ``peers`` maps every *other* node id to its raft address (``host:port``). A node that
    never bootstrapped nor joined (``storage.layout.is_bootstrapped``) bootstraps its share of
    a new cluster: ``initial_ranges`` ranges over the key space (split evenly, or at
    ``split_keys``), replicated on ``replicas`` of the nodes ``{node_id} | peers`` (all of them
    if there are fewer). Every node of a new cluster must be given the same
    ``initial_ranges``, ``split_keys`` and ``replicas``.

    A node given ``join`` (client addresses of running nodes) and never part of a cluster does
    not bootstrap: it asks those nodes to let it in (JOIN, ``store.join``), starts from the
    cluster's node directory with no range, and gets replicas later. Nodes learn of each other
    by gossip (``store.node_directory``); a restarted node knows the cluster from its persisted
    directory, without its ``peers`` or ``join``.
    """

    node_id: int
    listen: str = "127.0.0.1:0"
    client_listen: str | None = "127.0.0.1:0"
    peers: dict[int, str] = field(default_factory=dict)
    data_dir: str | None = None
    engine: EngineName = "rocksdb"
    design: DesignName = "actors"
    cluster_id: str = "multiraft"
    tick_interval: float = 0.1       # seconds per raft tick
    election_ticks: int = 10
    heartbeat_ticks: int = 3
    fsync: bool = True               # False only for benchmarks: acknowledged writes may be lost
    initial_ranges: int = 16
    split_keys: list[bytes] | None = None
    workers: int = 1                 # pooled threads running replicas (the GIL: 1 is usual)
    log_keep_entries: int = 5_000    # applied entries kept for slow followers; older go by snapshot
    curve: CurveConfig | None = None  # to run CurveZMQ (multiraft.transport.keys)
    #: bind a non-loopback raft or client address without CurveZMQ (plaintext, anyone who can
    #: reach the port can inject raft messages and client requests): refused unless set
    insecure: bool = False
    #: [HOST:]PORT of the Prometheus endpoint (None: no endpoint; no host: 127.0.0.1)
    metrics_listen: str | None = None
    #: a write larger than this (key and values, bytes) is refused, never proposed
    max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES
    #: about how many bytes of pairs one SCAN answer carries (the client resumes)
    max_scan_bytes: int = DEFAULT_MAX_SCAN_BYTES
    #: bytes of writes a range's leader may have proposed and not yet applied (its proposal
    #: quota, CockroachDB's 8 MiB); a write past it is answered BUSY at once, never proposed
    range_quota_bytes: int = DEFAULT_RANGE_QUOTA_BYTES
    #: client requests (writes proposed, reads waiting for ReadIndex) the node's replicas may
    #: hold at once; past it, BUSY at once
    max_pending_requests: int = DEFAULT_MAX_PENDING_REQUESTS
    #: replicas created per second per peer node for ranges this node does not hold (a range's
    #: leader reaching it first), at most ``max_uninitialized_replicas`` waiting for their
    #: snapshot at once; one still uninitialized after ``uninitialized_replica_ttl`` seconds is
    #: dropped with its raft state (store.replica_creation)
    replica_creation_rate: float = DEFAULT_REPLICA_CREATION_RATE
    max_uninitialized_replicas: int = DEFAULT_MAX_UNINITIALIZED_REPLICAS
    uninitialized_replica_ttl: float = DEFAULT_UNINITIALIZED_REPLICA_TTL
    #: how long a client session lives without a write, and how many a range holds
    #: (storage.sessions). Cluster-wide: every node must be given the same (the defaults)
    sessions: SessionLimits = field(default_factory=SessionLimits)
    #: a range whose user data passes this many bytes splits at its median key (0: never by
    #: size; at least 64 KiB otherwise)
    split_bytes: int = DEFAULT_SPLIT_BYTES
    #: a range whose leader serves this many requests a second for 10 s splits at a key that
    #: divides its load (0: never by load)
    split_qps: float = DEFAULT_SPLIT_QPS
    #: snapshot bytes per second this node sends, all streams together (0: unbounded)
    snapshot_rate: float = DEFAULT_SNAPSHOT_RATE
    #: client addresses (``host:port``) of running nodes to join through (empty: no join)
    join: list[str] = field(default_factory=list)
    #: seconds without gossip from a node before this node holds it dead (CockroachDB's
    #: server.time_until_store_dead)
    dead_after: float = DEFAULT_DEAD_AFTER
    #: the replication factor: replicas per range (at bootstrap, at most one per node)
    replicas: int = DEFAULT_REPLICAS
    #: whether replicas are moved to balance the nodes (stored and validated; the allocator
    #: that uses it is not built yet)
    rebalance: bool = True

    def creation_limits(self) -> CreationLimits:
        """The settings of the store's ``ReplicaCreationPolicy``."""
        return CreationLimits(self.replica_creation_rate, self.max_uninitialized_replicas,
                              self.uninitialized_replica_ttl)

    def replica_services(self, engine: Engine, transport: object, heartbeats: HeartbeatSink,
                         snapshots: SnapshotSender, staging: SnapshotStaging,
                         counters: ReplicaCounters,
                         directory: NodeDirectory | None = None,
                         clock: Callable[[], float] = time.monotonic,
                         wall_clock_ms: Callable[[], int] = wall_ms,
                         seed: int = 0) -> ReplicaServices:
        """What every replica of this node shares, by these settings (both designs): with the
        node's ``directory``, the nodes replicas may be placed on and the allocator that
        places them."""
        return ReplicaServices(
            self.node_id, engine, transport, heartbeats, snapshots, staging, self.election_ticks,
            self.heartbeat_ticks, self.fsync, log_keep=self.log_keep_entries,
            max_command_bytes=self.max_command_bytes, max_scan_bytes=self.max_scan_bytes,
            range_quota_bytes=self.range_quota_bytes, sessions=self.sessions,
            split_bytes=self.split_bytes, split_qps=self.split_qps,
            counters=counters, pending_limit=PendingLimit(self.max_pending_requests),
            node_known=((lambda n: n == self.node_id or n in self.peers) if directory is None
                        else directory.__contains__),
            allocator=None if directory is None else Allocator(
                directory, replication=self.replicas, rebalance=self.rebalance, clock=clock),
            clock=clock, wall_clock_ms=wall_clock_ms, seed=seed)

    def validate(self) -> None:
        if self.node_id <= 0:
            raise ValueError("node id must be a positive integer")
        if self.node_id in self.peers:
            raise ValueError(f"node {self.node_id} is listed among its own peers")
        if self.engine not in ("rocksdb", "memory"):
            raise ValueError(f"unknown engine {self.engine!r} (rocksdb or memory)")
        if self.engine == "rocksdb" and not self.data_dir:
            raise ValueError("the rocksdb engine needs a data dir")
        if self.design not in ("actors", "locks"):
            raise ValueError(f"unknown design {self.design!r} (actors or locks)")
        if not 0 < self.max_command_bytes <= MAX_COMMAND_BYTES_LIMIT:
            raise ValueError(f"max_command_bytes must be in 1..{MAX_COMMAND_BYTES_LIMIT}: a raft "
                             "entry must fit in one transport frame")
        if self.max_scan_bytes <= 0:
            raise ValueError("max_scan_bytes must be positive")
        if self.range_quota_bytes <= 0:
            raise ValueError("range_quota_bytes must be positive")
        if self.max_pending_requests <= 0:
            raise ValueError("max_pending_requests must be positive")
        if (self.replica_creation_rate <= 0 or self.max_uninitialized_replicas <= 0
                or self.uninitialized_replica_ttl <= 0):
            raise ValueError("replica_creation_rate, max_uninitialized_replicas and "
                             "uninitialized_replica_ttl must be positive")
        self.sessions.validate()
        if not 0 <= self.snapshot_rate < math.inf:
            raise ValueError("snapshot_rate must be 0 (unbounded) or a positive rate")
        check_split_settings(self.split_bytes, self.split_qps)
        check_membership_settings(self.dead_after, self.replicas)
        if type(self.rebalance) is not bool:
            raise ValueError(f"rebalance must be true or false, not {self.rebalance!r}")
        for address in self.join:
            host, sep, port = str(address).rpartition(":")
            if not isinstance(address, str) or not sep or not host or not port.isdigit():
                raise ValueError(f"bad join address {address!r}: expected HOST:PORT")
        if self.join and self.curve is not None:
            raise ValueError("joining a cluster that runs CurveZMQ is not supported yet: "
                             "start the node with --peers and the cluster's keys")
        if self.tick_interval <= 0 or self.election_ticks <= self.heartbeat_ticks:
            raise ValueError("need tick_interval > 0 and election_ticks > heartbeat_ticks")
        if self.metrics_listen is not None:
            parse_metrics_address(self.metrics_listen)
        if self.curve is None and not self.insecure:
            for what, addr in (("raft", self.listen), ("client", self.client_listen)):
                if addr is not None and not is_loopback(addr):
                    raise ValueError(
                        f"the {what} address {addr} is not loopback and the node has no "
                        "CurveZMQ keys: give --keys DIR (NodeConfig.curve) to authenticate and "
                        "encrypt, or --insecure (NodeConfig.insecure) to run plaintext anyway")
