"""``NodeEnvironment``: everything an ``ActorNode`` reaches outside its own code, injected.

An actor node's code touches the world in a few places only: the clocks it reads, the
schedulers that run its mailboxes (and so its threads), the transport, the thread that streams
snapshots, the ticker that drives the timer, and the storage it opens. Production uses the
defaults here (threads, ZeroMQ, RocksDB or the config's engine). A deterministic simulation
(``multiraft.sim``) passes its own: one seeded scheduler on virtual time, a simulated network
and a simulated disk. The node's code has no other way to reach the world, and no branch on
which one it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from multiraft.replica.env import wall_ms
from multiraft.replica.snapshot_sender import SnapshotSender
from multiraft.store.fault_points import FaultPoints
from multiraft.transport.zmq_transport import Transport

from .runtime import Scheduler, ThreadPoolScheduler
from .timer import Ticker

if TYPE_CHECKING:
    from multiraft.storage.engine import Engine
    from multiraft.storage.snapshot_staging import SnapshotStaging
    from multiraft.store.config import NodeConfig
    from multiraft.transport.handler import Handler

__all__ = ["NodeEnvironment", "Startable", "StorageOpener"]


class Startable(Protocol):
    """A component with its own activity (a thread in production): started, then stopped."""

    def start(self) -> Any: ...

    def stop(self) -> None: ...


#: (name, workers, after_round) -> the scheduler of one of the node's runtimes
SchedulerFactory = Callable[[str, int, Callable[[], None] | None], Scheduler]
#: (config, inbound handler, directory callback) -> the node's transport (``Transport``'s API)
TransportFactory = Callable[["NodeConfig", "Handler", Callable[..., None]], Any]
#: (transport, node id, bytes per second) -> the node's snapshot streamer, not yet started
SnapshotSenderFactory = Callable[[Any, int, float], Any]
#: (timer handle, interval in seconds) -> what tells the timer ``TICK_NOW``, not yet started
TickerFactory = Callable[[Any, float], Startable]
#: (config) -> the node's engine and snapshot staging area, opened
StorageOpener = Callable[["NodeConfig"], "tuple[Engine, SnapshotStaging]"]


def _thread_pool(name: str, workers: int, after_round: Callable[[], None] | None) -> Scheduler:
    return ThreadPoolScheduler(workers, name=name, after_round=after_round)


def _zmq_transport(c: NodeConfig, inbound: Handler, on_directory: Callable[..., None]) -> Any:
    return Transport(c.node_id, c.listen, c.peers, inbound, client_listen=c.client_listen,
                     curve=c.curve, on_directory=on_directory)


def _snapshot_thread(transport: Any, node_id: int, rate: float) -> Any:
    return SnapshotSender(transport, node_id=node_id, rate=rate)


@dataclass(frozen=True, slots=True)
class NodeEnvironment:
    """The world of one ``ActorNode``; the defaults are production's."""

    #: monotonic seconds: timeouts, leases, rates
    clock: Callable[[], float] = time.monotonic
    #: milliseconds since the epoch: what is stamped into session records
    wall_clock_ms: Callable[[], int] = wall_ms
    #: mixed into every replica's random choices (0 in production: a seed per node and range)
    seed: int = 0
    scheduler: SchedulerFactory = _thread_pool
    transport: TransportFactory = _zmq_transport
    snapshot_sender: SnapshotSenderFactory = _snapshot_thread
    ticker: TickerFactory = Ticker
    #: None: the engine the config names (``NodeLifecycle._open_engine``)
    storage: StorageOpener | None = None
    #: what a failed node does instead of stopping on a thread of its own (None: that)
    fail_stop: Callable[[], None] | None = None
    #: a simulation's fault points (BUGGIFY); None in production
    fault_points: FaultPoints | None = None
