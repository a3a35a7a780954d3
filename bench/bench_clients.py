"""The two clients against one cluster: ``multiraft.Client`` from threads, ``multiraft.aio.Client``
from asyncio tasks, and the benchmark's own pipelined load generator as the reference.

    .venv/bin/python -m multiraft.bench.bench_clients [--seconds 8] [--inflight 64] [--ranges 16] [--rounds 2]

On one fresh 3-process loopback cluster (RocksDB, fsync on), each round measures durable PUTs
(100-byte values, keys spread over the ranges) with ``--inflight`` requests outstanding: N
threads sharing one blocking ``Client``, N tasks sharing one asyncio ``Client``, and
``bench.workload`` (one socket per node, no retries: the ceiling of the protocol). The order
alternates per round; medians are printed and written to bench/results/clients.json, with the
CPU seconds the client process used per write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypedDict

from multiraft import Client
from multiraft import aio
from multiraft.local_cluster import LocalCluster

from .workload import run_workload

RESULTS = Path(__file__).parent / "results"
VALUE = b"v" * 100


class Point(TypedDict):
    client: str
    round: int
    ops: int
    seconds: float
    ops_per_s: float
    client_cpu_us_per_op: float


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _threads(addrs: list[str], inflight: int, seconds: float) -> int:
    done = [0] * inflight
    stop = time.monotonic() + seconds
    with Client(addrs, timeout=10) as c:
        def work(i: int) -> None:
            n = 0
            while time.monotonic() < stop:
                c.put(b"bench/t/%d/%d" % (i, n), VALUE)
                n += 1
            done[i] = n
        threads = [threading.Thread(target=work, args=(i,)) for i in range(inflight)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return sum(done)


def _tasks(addrs: list[str], inflight: int, seconds: float) -> int:
    async def main() -> int:
        stop = time.monotonic() + seconds
        async with aio.Client(addrs, timeout=10, sessions=inflight) as c:
            async def work(i: int) -> int:
                n = 0
                while time.monotonic() < stop:
                    await c.put(b"bench/a/%d/%d" % (i, n), VALUE)
                    n += 1
                return n
            return sum(await asyncio.gather(*(work(i) for i in range(inflight))))
    return asyncio.run(main())


def _pipelined(addrs: list[str], inflight: int, seconds: float) -> int:
    return run_workload(addrs, seconds=seconds, inflight=inflight).ops


CLIENTS: dict[str, Callable[[list[str], int, float], int]] = {
    "Client, threads": _threads, "aio.Client, tasks": _tasks, "bench.workload": _pipelined}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m multiraft.bench.bench_clients")
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--inflight", type=int, default=64)
    p.add_argument("--ranges", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--base-port", type=int, default=7600)
    args = p.parse_args(argv)
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="bench-clients-") as d, \
            LocalCluster(d, nodes=3, ranges=args.ranges, base_port=args.base_port) as cluster:
        addrs = cluster.client_addrs
        names = list(CLIENTS)
        for rnd in range(args.rounds):
            for name in names if rnd % 2 == 0 else names[::-1]:
                cpu0, t0 = _cpu(), time.monotonic()
                ops = CLIENTS[name](addrs, args.inflight, args.seconds)
                wall, cpu = time.monotonic() - t0, _cpu() - cpu0
                points.append(Point(client=name, round=rnd, ops=ops, seconds=round(wall, 2),
                                    ops_per_s=round(ops / wall), client_cpu_us_per_op=round(
                                        cpu / max(ops, 1) * 1e6, 1)))
                print(points[-1], flush=True)
    print(f"\n| client | writes/s (median of {args.rounds}) | client CPU µs per write |")
    print("|---|---|---|")
    for name in CLIENTS:
        mine = [pt for pt in points if pt["client"] == name]
        print(f"| {name} | {statistics.median(pt['ops_per_s'] for pt in mine):,.0f} | "
              f"{statistics.median(pt['client_cpu_us_per_op'] for pt in mine)} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "clients.json").write_text(json.dumps(
        {"inflight": args.inflight, "ranges": args.ranges, "seconds": args.seconds,
         "points": points}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
