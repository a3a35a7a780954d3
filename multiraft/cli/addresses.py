"""Where the ``multiraft`` CLI connects, in this order (the first that is given wins):

1. ``--addr HOST:PORT[,HOST:PORT...]``;
2. the environment variable ``MULTIRAFT_ADDR`` (same form);
3. ``--cluster DIR``: the ``client`` addresses in ``DIR/cluster.json`` (written by
   ``multiraft-cluster``);
4. the addresses ``multiraft-cluster`` uses by default: 127.0.0.1:7201, 7202 and 7203.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["resolve_addresses", "manifest_nodes", "DEFAULT_ADDRESSES", "ENV_VAR", "AddressError"]

ENV_VAR = "MULTIRAFT_ADDR"
DEFAULT_ADDRESSES = ["127.0.0.1:7201", "127.0.0.1:7202", "127.0.0.1:7203"]


class AddressError(ValueError):
    """No usable address list (a malformed address, an unreadable cluster.json)."""


def _split(text: str, source: str) -> list[str]:
    addrs = [a.strip() for a in text.split(",") if a.strip()]
    for a in addrs:
        host, sep, port = a.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise AddressError(f"bad address {a!r} in {source}: expected HOST:PORT")
    if not addrs:
        raise AddressError(f"no address in {source}")
    return addrs


def manifest_nodes(directory: str) -> dict[str, int]:
    """Client address -> node id, from ``DIR/cluster.json``."""
    path = Path(directory) / "cluster.json"
    try:
        nodes = {n["client"]: int(n["id"]) for n in json.loads(path.read_text())["nodes"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AddressError(f"cannot read {path}: {e}") from None
    _split(",".join(nodes), str(path))
    return nodes


def _from_manifest(directory: str) -> list[str]:
    return list(manifest_nodes(directory))


def resolve_addresses(addr: str | None, cluster_dir: str | None,
                      env: Mapping[str, str] = os.environ) -> list[str]:
    """The client addresses to use (see the module docstring); raises ``AddressError``."""
    if addr:
        return _split(addr, "--addr")
    if env.get(ENV_VAR):
        return _split(env[ENV_VAR], ENV_VAR)
    if cluster_dir:
        return _from_manifest(cluster_dir)
    return list(DEFAULT_ADDRESSES)
