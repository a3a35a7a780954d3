"""``multiraft-cluster``: start N node processes on 127.0.0.1 and keep them running.

    multiraft-cluster --nodes N --ranges R --dir DIR [--base-port P] [--design actors|locks]
                      [--tick-ms MS] [--no-fsync] [--metrics] [--keys DIR] [--workload SECONDS]
                      [--split-bytes BYTES] [--split-qps Q] [--dead-after S]
                      [--replicas N] [--no-rebalance]

Waits until every range has a leader, prints ``node ID client=HOST:PORT raft=HOST:PORT pid=PID``
per node, writes the same to ``DIR/cluster.json``, then runs until Ctrl-C or SIGTERM and stops
every node. ``--workload S`` first runs a write/read workload for S seconds and prints its
summary. ``--keys DIR`` (from ``multiraft keys gen DIR --nodes N``) runs CurveZMQ between the
nodes and with clients; use ``multiraft --cluster DIR --keys KEYDIR``. ``--metrics`` makes node i serve Prometheus metrics on 127.0.0.1:P+200+i (listed as
``"metrics"`` in cluster.json). ``--ranges 1`` starts one range spanning the whole key space
(``multiraft split KEY`` divides it). ``--split-bytes`` and ``--split-qps`` are passed to every
node (``multiraft-node --help``), and so are ``--dead-after``, ``--replicas`` and
``--no-rebalance``. A node joins a running cluster with ``multiraft-node --id N --join
127.0.0.1:P+101 --design D`` (its ports follow the same rule: ``--base-port P``). Restarting on the same DIR brings the cluster back with its data.

Exit status: 0 after a clean stop; 2 for a bad flag; 1 if the cluster could not start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from multiraft.store.config import check_membership_settings, check_split_settings

from ..local_cluster import LocalCluster
from .node import DEFAULT_BASE_PORT, add_membership_flags, add_split_flags

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="multiraft-cluster", description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--ranges", type=int, default=16,
                   help="ranges of a new cluster (default 16; 1: one range, the whole key space)")
    p.add_argument("--dir", default="./multiraft-data")
    p.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT)
    p.add_argument("--design", choices=["actors", "locks"], default="actors")
    p.add_argument("--tick-ms", type=int, default=100)
    p.add_argument("--no-fsync", action="store_true")
    p.add_argument("--keys", metavar="DIR",
                   help="run CurveZMQ with the keys in DIR (multiraft keys gen --nodes N)")
    p.add_argument("--metrics", action="store_true",
                   help="node i serves Prometheus metrics on 127.0.0.1:BASE_PORT+200+i")
    p.add_argument("--workload", type=float, default=0.0, metavar="SECONDS",
                   help="run a write/read workload for this long once the cluster is up")
    add_split_flags(p)
    add_membership_flags(p)
    args = p.parse_args(argv)
    if args.nodes < 1 or args.ranges < 1:
        print("multiraft-cluster: --nodes and --ranges must be at least 1", file=sys.stderr)
        return 2
    try:  # before any node starts: each node would refuse the same values (exit 2)
        check_split_settings(0 if args.split_bytes is None else args.split_bytes,
                             0.0 if args.split_qps is None else args.split_qps)
        check_membership_settings(1.0 if args.dead_after is None else args.dead_after,
                                  1 if args.replicas is None else args.replicas)
    except ValueError as e:
        print(f"multiraft-cluster: {e}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cluster = LocalCluster(args.dir, args.nodes, args.ranges, args.base_port, args.design,
                           args.tick_ms, fsync=not args.no_fsync, metrics=args.metrics,
                           keys=args.keys, split_bytes=args.split_bytes,
                           split_qps=args.split_qps, dead_after=args.dead_after,
                           replicas=args.replicas, rebalance=not args.no_rebalance,
                           extra_args=([] if args.snapshot_rate is None else
                                       ["--snapshot-rate", repr(float(args.snapshot_rate))]))
    try:
        cluster.start()
    except (RuntimeError, TimeoutError, OSError) as e:
        print(f"multiraft-cluster: {e}", file=sys.stderr)
        return 1
    try:
        for n in cluster.manifest()["nodes"]:
            print(f"node {n['id']} client={n['client']} raft={n['raft']} pid={n['pid']}", flush=True)
        if args.workload > 0:
            from multiraft.bench.workload import run_workload
            with cluster.client() as c:
                curve = c.curve
            print(run_workload(cluster.client_addrs, seconds=args.workload, curve=curve).table(),
                  flush=True)
        stop.wait()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
