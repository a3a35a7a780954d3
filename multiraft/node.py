"""``Node``: one node of a multiraft cluster, running the design its config names."""

from __future__ import annotations

from typing import Any

from .config import NodeConfig

__all__ = ["Node"]


class Node:
    """Start, stop and inspect a node; ``config.design`` picks "actors" (the default) or "locks".

    Usable as a context manager: ``with Node(cfg) as node: ...`` starts and stops it.
    """

    def __init__(self, config: NodeConfig) -> None:
        config.validate()
        self.config = config
        if config.design == "actors":
            from actors import ActorNode
            self._impl: Any = ActorNode(config)
        else:
            raise ValueError(f"design {config.design!r} is not built yet")

    def start(self) -> Node:
        self._impl.start()
        return self

    def stop(self) -> None:
        self._impl.stop()

    @property
    def client_address(self) -> str | None:
        """``host:port`` clients connect to (the bound port, if 0 was configured)."""
        return self._impl.client_address

    @property
    def raft_address(self) -> str | None:
        return self._impl.raft_address

    @property
    def impl(self) -> Any:
        """The design's own node object (``actors.ActorNode``), for embedding programs."""
        return self._impl

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
