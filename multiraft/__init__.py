"""multiraft: a multi-raft replicated key-value store, built in the actor model.

The public surface: ``Node`` and ``NodeConfig`` to run a node; ``Client`` and its errors to
use a cluster.
"""

from .config import NodeConfig
from .node import Node

__all__ = ["Node", "NodeConfig"]
