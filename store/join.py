"""``join_cluster``: how a new node (``NodeConfig.join``) asks a running cluster to let it in.

It sends JOIN to the given client addresses of running nodes, in turn, until one answers OK
(the cluster's directory, which seeds the new node's) or every address answered REFUSED (the
id is another live node's, the cluster id differs, ...: retrying cannot help). A node that
does not answer is retried until ``timeout`` seconds have passed, then the join fails: the new
node's start fails with ``JoinFailed``'s message, naming what each address said.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from multiraft.transport.client import ClientConnection
from multiraft.transport.client_protocol import ClientOp, ClientStatus
from multiraft.transport.codec import DecodeError, DirectoryItem, decode_directory_items

__all__ = ["join_cluster", "JoinFailed", "JOIN_TIMEOUT"]

#: How long a new node keeps trying the join addresses (seconds).
JOIN_TIMEOUT = 30.0
#: The pause between two rounds over the join addresses (seconds).
_ROUND_PAUSE = 0.2


class JoinFailed(RuntimeError):
    """No node let this node join: all refused, or none answered in time."""


def _items(result: Any) -> list[DirectoryItem]:
    """The directory of a JOIN answer, validated as gossip is."""
    records: Any = result.get("directory") if type(result) is dict else None
    if not isinstance(records, (tuple, list)):
        raise DecodeError("a JOIN answer without a directory")
    try:
        return decode_directory_items(tuple(
            (r["node_id"], r["raft_address"], r["client_address"], r["state"], r["version"])
            for r in records))
    except (KeyError, TypeError) as e:
        raise DecodeError(f"a malformed JOIN answer: {e}") from None


def join_cluster(addresses: Sequence[str], node_id: int, raft_address: str,
                 client_address: str, cluster_id: str, timeout: float = JOIN_TIMEOUT,
                 connect: Callable[[str], ClientConnection] = ClientConnection
                 ) -> list[DirectoryItem]:
    """JOIN node ``node_id`` (at these addresses) to the cluster ``cluster_id`` through the
    nodes at ``addresses``; the directory the first OK carries. Raises ``JoinFailed``."""
    if not addresses:
        raise JoinFailed("no join address given")
    deadline = time.monotonic() + timeout
    said: dict[str, str] = {}
    conns = {a: connect(a) for a in addresses}
    try:
        while True:
            refused = 0
            for addr, conn in conns.items():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    resp = conn.request(ClientOp.JOIN, (node_id, raft_address, client_address,
                                                        cluster_id), timeout=min(left, 2.0))
                except TimeoutError:  # NotConnected too: down, or not started yet
                    said[addr] = "no answer"
                    continue
                if resp.status is ClientStatus.OK:
                    try:
                        return _items(resp.result)
                    except DecodeError as e:
                        said[addr] = str(e)
                        continue
                said[addr] = f"{resp.status.name}: {resp.result}"
                refused += resp.status is ClientStatus.REFUSED
            if refused == len(conns):
                raise JoinFailed(f"node {node_id} cannot join cluster {cluster_id!r}: "
                                 + "; ".join(f"{a} refused ({m})" for a, m in said.items()))
            if time.monotonic() + _ROUND_PAUSE >= deadline:
                raise JoinFailed(f"node {node_id} cannot join cluster {cluster_id!r}: no node "
                                 f"let it in within {timeout:g}s: "
                                 + "; ".join(f"{a}: {m}" for a, m in said.items()))
            time.sleep(_ROUND_PAUSE)
    finally:
        for conn in conns.values():
            conn.close()
