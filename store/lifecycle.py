"""``NodeLifecycle``: what a node of either design does the same way: an explicit, idempotent
start/stop, opening its engine (and bootstrapping its share of a new cluster), and stopping its
components in order even when one of them fails to stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from multiraft.storage.data_dir import open_data_dir
from multiraft.storage.engine import Engine
from multiraft.storage.layout import bootstrap_node
from multiraft.storage.memory_engine import MemoryEngine

if TYPE_CHECKING:
    from multiraft.store.config import NodeConfig

__all__ = ["NodeLifecycle"]

log = logging.getLogger(__name__)

#: (what, how to stop it or None if it never started)
StopStep = tuple[str, Callable[[], Any] | None]


class NodeLifecycle:
    """Base of ``ActorNode`` and ``LockNode``: subclasses build their components in
    ``_start`` and list how to stop them, in order, in ``_stop_steps``.

    Invariant: between ``start`` and ``stop`` every component is running; after ``stop`` (or a
    failed ``start``) none is.
    """

    def __init__(self, config: NodeConfig) -> None:
        config.validate()
        self.config = config
        self.engine: Engine | None = None
        self._data_dir: Any = None
        self._lock = threading.Lock()
        self._running = False

    def start(self) -> NodeLifecycle:
        with self._lock:
            if self._running:
                raise RuntimeError(f"node {self.config.node_id} is already running")
            self._running = True
        try:
            self._start()
        except BaseException:
            self._stop_components()
            self._running = False
            raise
        return self

    def stop(self) -> None:
        """Stop every component in order; idempotent."""
        with self._lock:
            if not self._running:
                return
            self._running = False
        self._stop_components()

    def _start(self) -> None:
        raise NotImplementedError

    def _stop_steps(self) -> Sequence[StopStep]:
        raise NotImplementedError

    def _open_engine(self) -> tuple[Engine, set[int]]:
        """Open the engine (bootstrapping this node's share of a new cluster if it is empty):
        the engine, and the ranges whose first campaign is this node's.

        Runs before the transport exists: the bootstrap batch is durable before any peer is
        contacted, and a data dir that lost its engine (a wiped disk: ``open_data_dir`` raises
        ``DataDirError``) stops the start before anything is sent (storage/data_dir.py)."""
        c = self.config
        if not c.fsync:
            log.warning("node %d: fsync is OFF: acknowledged writes can be lost in a crash "
                        "(benchmark mode)", c.node_id)
        engine: Engine
        if c.engine == "memory":
            engine = MemoryEngine()
        else:
            assert c.data_dir is not None  # NodeConfig.validate
            self._data_dir = open_data_dir(c.data_dir, c.cluster_id, c.node_id)
            engine = self._data_dir.engine
        self.engine = engine
        return engine, bootstrap_node(engine, c.node_id, list(c.peers), c.initial_ranges,
                                      c.split_keys)

    def _stop_components(self) -> None:
        """Run every stop step; one that fails is logged and the rest still run, so the process
        can exit. The engine closes last."""
        engine_close = (self._data_dir.close if self._data_dir is not None
                        else self.engine and self.engine.close)
        for name, step in [*self._stop_steps(), ("engine", engine_close)]:
            if not step:
                continue
            try:
                step()
            except Exception:
                log.exception("node %d: stopping the %s failed; going on", self.config.node_id, name)
        self._data_dir = self.engine = None
