"""multiraft: a multi-raft replicated key-value store, built in the actor model.

The public surface: ``Node`` and ``NodeConfig`` to run a node; ``Client`` (and
``multiraft.aio.Client`` for asyncio) and its errors to use a cluster. The names are imported
lazily (PEP 562), so ``import multiraft.raft`` loads the consensus core alone, without ZeroMQ,
RocksDB or the client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers (``X as X``: re-exported)
    from multiraft.client import Client as Client
    from multiraft.errors import Busy as Busy
    from multiraft.errors import ClientError as ClientError
    from multiraft.errors import CommandTooLarge as CommandTooLarge
    from multiraft.errors import NotLeader as NotLeader
    from multiraft.errors import RangeKeyMismatch as RangeKeyMismatch
    from multiraft.errors import RangeNotFound as RangeNotFound
    from multiraft.errors import Refused as Refused
    from multiraft.errors import SessionExpired as SessionExpired
    from multiraft.errors import Timeout as Timeout
    from multiraft.errors import TooManySessions as TooManySessions
    from multiraft.errors import UnknownRange as UnknownRange
    from multiraft.errors import Unavailable as Unavailable
    from multiraft.node import Node as Node
    from multiraft.store.config import NodeConfig as NodeConfig

#: public name -> the module that defines it
_EXPORTS = {
    "Client": "multiraft.client",
    "Node": "multiraft.node",
    "NodeConfig": "multiraft.store.config",
    "ClientError": "multiraft.errors",
    "CommandTooLarge": "multiraft.errors",
    "Timeout": "multiraft.errors",
    "Unavailable": "multiraft.errors",
    "NotLeader": "multiraft.errors",
    "Busy": "multiraft.errors",
    "RangeNotFound": "multiraft.errors",
    "RangeKeyMismatch": "multiraft.errors",
    "Refused": "multiraft.errors",
    "SessionExpired": "multiraft.errors",
    "TooManySessions": "multiraft.errors",
    "UnknownRange": "multiraft.errors",
}

__all__ = ["Busy", "Client", "ClientError", "CommandTooLarge", "Node", "NodeConfig", "NotLeader",
           "RangeKeyMismatch", "RangeNotFound", "Refused", "SessionExpired", "Timeout",
           "TooManySessions", "Unavailable", "UnknownRange"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'multiraft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
