"""``Node``: one node of a multiraft cluster, running the design its config names."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from multiraft.store.config import NodeConfig
from multiraft.store.lifecycle import NodeFailure

if TYPE_CHECKING:
    from multiraft.actors import ActorNode
    from multiraft.lockbased import LockNode

__all__ = ["Node"]


class Node:
    """Start, stop and inspect a node; ``config.design`` picks "actors" (the default) or "locks".

    Usable as a context manager: ``with Node(cfg) as node: ...`` starts and stops it.
    """

    def __init__(self, config: NodeConfig,
                 on_failure: Callable[[NodeFailure], None] | None = None) -> None:
        """``on_failure`` is called (on a thread of the node's) once the node stopped itself
        because a component could not go on: a durable write failed, or an actor crashed."""
        config.validate()
        self.config = config
        if config.design == "actors":
            from multiraft.actors import ActorNode
            self._impl: ActorNode | LockNode = ActorNode(config, on_failure)
        else:
            from multiraft.lockbased import LockNode
            self._impl = LockNode(config, on_failure)
        self._metrics: Any = None

    def start(self) -> Node:
        """Start the node, then its metrics endpoint if ``config.metrics_listen`` is set (a
        node whose endpoint cannot start is stopped again: start raises)."""
        self._impl.start()
        if self.config.metrics_listen:
            from .metrics import MetricsServer, node_collector
            try:
                self._metrics = MetricsServer(self.config.metrics_listen,
                                              node_collector(self._impl)).start()
            except BaseException:
                self._metrics = None
                self._impl.stop()
                raise
        return self

    def stop(self) -> None:
        """Stop the metrics endpoint (its thread is joined), then the node."""
        if self._metrics is not None:
            self._metrics.stop()
            self._metrics = None
        self._impl.stop()

    @property
    def failure(self) -> NodeFailure | None:
        """Why the node stopped itself (fail-stop), or None."""
        return self._impl.failure

    @property
    def client_address(self) -> str | None:
        """``host:port`` clients connect to (the bound port, if 0 was configured)."""
        return self._impl.client_address

    @property
    def raft_address(self) -> str | None:
        return self._impl.raft_address

    @property
    def metrics_address(self) -> str | None:
        """``host:port`` of the Prometheus endpoint (None if it is not running)."""
        return None if self._metrics is None else self._metrics.address

    @property
    def impl(self) -> Any:
        """The design's own node object (``actors.ActorNode`` or ``lockbased.LockNode``), for
        embedding programs."""
        return self._impl

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
