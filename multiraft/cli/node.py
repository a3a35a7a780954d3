"""``multiraft-node``: run one node until SIGTERM or Ctrl-C.

Flags (or the same keys in a TOML file given with ``--config``; flags win):

    --id N  --listen HOST:PORT  --client HOST:PORT  --peers ID=HOST:PORT,...
    --data-dir DIR  --engine rocksdb|memory  --tick-ms MS  --ranges R  --design actors|locks
    --keys DIR (CurveZMQ: DIR/node-ID.key_secret, DIR/node-*.key, DIR/client*.key)
    --insecure (bind a non-loopback --listen/--client without --keys: plaintext, unauthenticated)
    --no-fsync (benchmarks only)  --cluster-id NAME  --log-level LEVEL
    --metrics [HOST:]PORT (serve Prometheus metrics at http://HOST:PORT/metrics; no HOST: 127.0.0.1)
    --max-command-bytes BYTES  --max-scan-bytes BYTES
    --split-bytes BYTES (a range larger than this splits; 0: never; else at least 65536)
    --split-qps Q (a range busier than Q requests/s for 10 s splits; 0: never)
    --join HOST:PORT,... (client addresses of running nodes: join their cluster; no --peers)
    --base-port P (default 7100, multiraft-cluster's)  --dead-after S  --replicas N
    --no-rebalance

``--join`` starts a node that was never part of a cluster by asking the running nodes at
those client addresses to let it in (it bootstraps no range: ``--ranges`` is ignored; replicas
reach it later). With ``--join`` (or ``--base-port``), ``--listen`` and ``--client`` default
to the ports ``multiraft-cluster`` gives node ``--id`` i: raft on 127.0.0.1:P+i, clients on
127.0.0.1:P+100+i, so ``multiraft-node --id 4 --join 127.0.0.1:7201`` adds a 4th node to a
default ``multiraft-cluster`` (give it the cluster's ``--design`` too). A refused or
unanswered join exits 1 with the reason on stderr.

A raft or client address that is not loopback (127.0.0.0/8, ::1, localhost; 0.0.0.0 is not)
needs ``--keys`` or ``--insecure``: without either the node refuses to start (exit 2), as
CockroachDB does. ``--metrics PORT`` (no host) binds 127.0.0.1; give a host to bind another.

Exit status: 0 after a clean stop; 2 for a bad flag or config; 1 if the node cannot start
(busy port, unreadable or foreign data dir, a data dir whose engine was wiped), with a
one-line error on stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import tomllib
from pathlib import Path
from typing import Any

from multiraft.replica.snapshot_sender import DEFAULT_SNAPSHOT_RATE
from multiraft.store.config import (DEFAULT_DEAD_AFTER, DEFAULT_MAX_COMMAND_BYTES,
                                    DEFAULT_MAX_SCAN_BYTES, DEFAULT_REPLICAS, DEFAULT_SPLIT_BYTES,
                                    DEFAULT_SPLIT_QPS, MIN_SPLIT_BYTES, NodeConfig)
from ..node import Node

__all__ = ["main", "parse_peers", "curve_config", "add_split_flags", "add_membership_flags",
           "build_config", "DEFAULT_BASE_PORT"]

#: ``multiraft-cluster``'s default base port: node i listens on P+i (raft), P+100+i (clients).
DEFAULT_BASE_PORT = 7100

log = logging.getLogger("multiraft-node")


class UsageError(Exception):
    """A bad flag or config value (exit status 2)."""


def parse_peers(text: str) -> dict[int, str]:
    """``"2=127.0.0.1:7102,3=127.0.0.1:7103"`` -> ``{2: "127.0.0.1:7102", 3: ...}``."""
    peers: dict[int, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        node, sep, addr = part.partition("=")
        if not sep or not node.isdigit() or ":" not in addr:
            raise UsageError(f"bad peer {part!r}: expected ID=HOST:PORT")
        peers[int(node)] = addr
    return peers


def curve_config(key_dir: str, node_id: int, node_ids: list[int]) -> Any:
    """The CurveZMQ setup from a key directory made by ``multiraft keys gen``."""
    from multiraft.transport.keys import CurveConfig, load_keypair, load_public_key
    d = Path(key_dir)
    try:
        public, secret = load_keypair(d / f"node-{node_id}.key_secret")
        nodes = {n: load_public_key(d / f"node-{n}.key") for n in node_ids}
        clients = frozenset(load_public_key(p) for p in sorted(d.glob("client*.key")))
    except (OSError, ValueError) as e:
        raise UsageError(f"keys in {key_dir}: {e}") from None
    return CurveConfig(public, secret, nodes, clients)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="multiraft-node", description="Run one multiraft node.")
    p.add_argument("--config", help="TOML file with the same keys as the flags (id, listen, ...)")
    p.add_argument("--id", type=int)
    p.add_argument("--listen", help="raft address HOST:PORT")
    p.add_argument("--client", help="client address HOST:PORT")
    p.add_argument("--peers", help="the other nodes: ID=HOST:PORT,...")
    p.add_argument("--data-dir")
    p.add_argument("--engine", choices=["rocksdb", "memory"])
    p.add_argument("--tick-ms", type=int)
    p.add_argument("--ranges", type=int, help="ranges of a new cluster (same on every node)")
    p.add_argument("--design", choices=["actors", "locks"])
    p.add_argument("--keys", help="CurveZMQ key directory (multiraft keys gen)")
    p.add_argument("--insecure", action="store_true", default=None,
                   help="allow a non-loopback --listen/--client without --keys (plaintext: "
                        "anyone who reaches the ports can send raft messages and requests)")
    p.add_argument("--no-fsync", action="store_true", default=None,
                   help="do not fsync (benchmarks only: acknowledged writes may be lost)")
    p.add_argument("--cluster-id")
    p.add_argument("--log-level", default=None)
    p.add_argument("--metrics", metavar="[HOST:]PORT",
                   help="serve Prometheus metrics here (a bare PORT: 127.0.0.1:PORT)")
    p.add_argument("--max-command-bytes", type=int, metavar="BYTES",
                   help=f"refuse writes larger than this (default {DEFAULT_MAX_COMMAND_BYTES})")
    p.add_argument("--max-scan-bytes", type=int, metavar="BYTES",
                   help=f"bytes of pairs per SCAN answer (default {DEFAULT_MAX_SCAN_BYTES})")
    add_split_flags(p)
    p.add_argument("--join", metavar="HOST:PORT,...",
                   help="client addresses of running nodes: join their cluster (a node never "
                        "part of one; --peers not needed, --ranges ignored)")
    p.add_argument("--base-port", type=int, metavar="P",
                   help=f"with --join: --listen defaults to 127.0.0.1:P+ID and --client to "
                        f"127.0.0.1:P+100+ID, the ports multiraft-cluster gives node ID "
                        f"(default {DEFAULT_BASE_PORT}, multiraft-cluster's)")
    add_membership_flags(p)
    return p


def add_membership_flags(p: argparse.ArgumentParser) -> None:
    """``--dead-after``, ``--replicas`` and ``--no-rebalance`` (``multiraft-node`` and
    ``multiraft-cluster``)."""
    p.add_argument("--dead-after", type=float, metavar="S",
                   help=f"hold a node dead after S seconds without hearing from it (default "
                        f"{DEFAULT_DEAD_AFTER:g})")
    p.add_argument("--replicas", type=int, metavar="N",
                   help=f"replicas per range (default {DEFAULT_REPLICAS}; at most one per node "
                        f"when a cluster bootstraps)")
    p.add_argument("--no-rebalance", action="store_true", default=None,
                   help="do not move replicas or leaders to balance the nodes (dead and "
                        "decommissioning nodes' replicas are still replaced)")
    p.add_argument("--snapshot-rate", type=float, metavar="BYTES_PER_S",
                   help=f"snapshot bytes per second the node sends, all streams together "
                        f"(default {DEFAULT_SNAPSHOT_RATE}, 32 MiB/s; 0: unbounded)")


def add_split_flags(p: argparse.ArgumentParser) -> None:
    """``--split-bytes`` and ``--split-qps`` (``multiraft-node`` and ``multiraft-cluster``)."""
    p.add_argument("--split-bytes", type=int, metavar="BYTES",
                   help=f"split a range whose user data exceeds this at its median key (default "
                        f"{DEFAULT_SPLIT_BYTES}, 64 MiB; 0: no size splits; otherwise at least "
                        f"{MIN_SPLIT_BYTES}, 64 KiB)")
    p.add_argument("--split-qps", type=float, metavar="Q",
                   help=f"split a range serving more than Q requests per second for 10 s at a "
                        f"key dividing its load (default {DEFAULT_SPLIT_QPS:g}; 0: no load "
                        f"splits)")


def build_config(args: argparse.Namespace) -> tuple[NodeConfig, str]:
    """The node's config from flags over the TOML file; (config, log level)."""
    conf: dict[str, Any] = {}
    if args.config:
        try:
            conf = tomllib.loads(Path(args.config).read_text())
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise UsageError(f"config {args.config}: {e}") from None
    flags = {k.replace("_", "-"): v for k, v in vars(args).items() if v is not None}
    merged = {**{k.replace("_", "-"): v for k, v in conf.items()}, **flags}
    if "id" not in merged:
        raise UsageError("--id is required")
    peers = merged.get("peers", "")
    peers = parse_peers(peers) if isinstance(peers, str) else {int(k): v for k, v in peers.items()}
    join = merged.get("join", [])
    join = [a.strip() for a in join.split(",") if a.strip()] if isinstance(join, str) else join
    try:
        node_id = int(merged["id"])
        listen, client = "127.0.0.1:7100", "127.0.0.1:7200"
        if join or "base-port" in merged:  # the ports multiraft-cluster gives node node_id
            base = int(merged.get("base-port", DEFAULT_BASE_PORT))
            listen, client = f"127.0.0.1:{base + node_id}", f"127.0.0.1:{base + 100 + node_id}"
        cfg = NodeConfig(
            node_id=node_id,
            listen=merged.get("listen", listen),
            client_listen=merged.get("client", client),
            peers=peers,
            data_dir=merged.get("data-dir", f"./multiraft-data/node-{node_id}"),
            engine=merged.get("engine", "rocksdb"),
            design=merged.get("design", "actors"),
            cluster_id=merged.get("cluster-id", "multiraft"),
            tick_interval=int(merged.get("tick-ms", 100)) / 1000,
            fsync=not merged.get("no-fsync", False),
            insecure=bool(merged.get("insecure", False)),
            initial_ranges=int(merged.get("ranges", 16)),
            metrics_listen=None if merged.get("metrics") is None else str(merged["metrics"]),
            max_command_bytes=int(merged.get("max-command-bytes", DEFAULT_MAX_COMMAND_BYTES)),
            max_scan_bytes=int(merged.get("max-scan-bytes", DEFAULT_MAX_SCAN_BYTES)),
            split_bytes=int(merged.get("split-bytes", DEFAULT_SPLIT_BYTES)),
            split_qps=float(merged.get("split-qps", DEFAULT_SPLIT_QPS)),
            join=list(join),
            dead_after=float(merged.get("dead-after", DEFAULT_DEAD_AFTER)),
            replicas=int(merged.get("replicas", DEFAULT_REPLICAS)),
            rebalance=not merged.get("no-rebalance", False),
            snapshot_rate=float(merged.get("snapshot-rate", DEFAULT_SNAPSHOT_RATE)),
        )
        if "keys" in merged:
            cfg.curve = curve_config(merged["keys"], node_id, [node_id, *peers])
        cfg.validate()
    except (TypeError, ValueError) as e:
        raise UsageError(str(e)) from None
    return cfg, str(merged.get("log-level", "INFO")).upper()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        cfg, level = build_config(args)
    except UsageError as e:
        print(f"multiraft-node: {e}", file=sys.stderr)
        return 2
    logging.basicConfig(level=getattr(logging, level, logging.INFO), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    node = Node(cfg, on_failure=lambda _failure: stop.set())
    try:
        node.start()
    except Exception as e:  # every start failure is reported in one line, no traceback
        print(f"multiraft-node: node {cfg.node_id} cannot start: {e}", file=sys.stderr)
        return 1
    log.info("node %d ready (pid %d): raft %s, clients %s, metrics %s, design %s, engine %s%s",
             cfg.node_id, os.getpid(), node.raft_address, node.client_address,
             node.metrics_address or "off", cfg.design, cfg.engine,
             "" if cfg.fsync else ", fsync OFF")
    stop.wait()
    if node.failure is not None:  # fail-stop: the node already stopped itself (logged)
        print(f"multiraft-node: node {cfg.node_id} stopped: {node.failure}", file=sys.stderr)
        node.stop()  # the metrics endpoint, if any
        return 1
    log.info("node %d stopping", cfg.node_id)
    node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
