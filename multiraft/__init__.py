"""multiraft: a multi-raft replicated key-value store, built in the actor model.

The public surface: ``Node`` and ``NodeConfig`` to run a node; ``Client`` and its errors to
use a cluster.
"""

from .client import Client
from .config import NodeConfig
from .errors import ClientError, Timeout
from .node import Node

__all__ = ["Client", "ClientError", "Timeout", "Node", "NodeConfig"]
