"""multiraft: a multi-raft replicated key-value store, built in the actor model.

The public surface: ``Node`` and ``NodeConfig`` to run a node; ``Client`` (and
``multiraft.aio.Client`` for asyncio) and its errors to use a cluster. The names are imported
lazily (PEP 562), so ``import multiraft.raft`` loads the consensus core alone, without ZeroMQ,
RocksDB or the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiraft.client import Client
    from multiraft.errors import (Busy, ClientError, NotLeader, RangeKeyMismatch, RangeNotFound,
                                  Refused, Timeout, Unavailable)
    from multiraft.node import Node
    from multiraft.store.config import NodeConfig

#: public name -> the module that defines it
_EXPORTS = {
    "Client": "multiraft.client",
    "Node": "multiraft.node",
    "NodeConfig": "multiraft.store.config",
    "ClientError": "multiraft.errors",
    "Timeout": "multiraft.errors",
    "Unavailable": "multiraft.errors",
    "NotLeader": "multiraft.errors",
    "Busy": "multiraft.errors",
    "RangeNotFound": "multiraft.errors",
    "RangeKeyMismatch": "multiraft.errors",
    "Refused": "multiraft.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'multiraft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
