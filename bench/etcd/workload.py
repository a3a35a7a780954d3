"""``run_etcd_workload``: the shape of ``bench.workload.run_workload`` against etcd, through its
KV ``Put`` over gRPC: ``inflight`` writes outstanding at all times (one asyncio task each, on a
``grpc.aio`` channel per member, taken in turn as etcd's own client balancer does), the same
keys and 100-byte values as our rows; latency from send to answer.

grpc is imported here only: ``bench --compare`` runs this only when an ``etcd`` binary is on
PATH, and the rest of the package does not need grpc.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from typing import Any

from ..workload import WorkloadResult

__all__ = ["run_etcd_workload"]


def run_etcd_workload(endpoints: Sequence[str], seconds: float = 10.0, inflight: int = 64,
                      value_size: int = 100, keys: int = 64, seed: int = 1,
                      request_timeout: float = 5.0) -> WorkloadResult:
    """Put for ``seconds`` with ``inflight`` requests outstanding; what was measured."""
    return asyncio.run(_run(list(endpoints), seconds, inflight, value_size, keys, seed,
                            request_timeout))


async def _run(endpoints: list[str], seconds: float, inflight: int, value_size: int,
               n_keys: int, seed: int, request_timeout: float) -> WorkloadResult:
    import grpc

    from .rpc_pb2 import PutRequest
    from .rpc_pb2_grpc import KVStub

    channels = [grpc.aio.insecure_channel(e) for e in endpoints]
    stub_class: Any = KVStub  # (generated without type information)
    stubs = [stub_class(ch) for ch in channels]
    rng = random.Random(seed)
    keys = [b"bench/%d" % i for i in range(n_keys)]
    value = b"v" * value_size
    res = WorkloadResult()
    res.started = time.monotonic()
    t0 = time.perf_counter()
    end = t0 + seconds
    per_second = res.per_second

    async def writer(w: int) -> None:
        turn = w
        while time.perf_counter() < end:
            stub = stubs[turn % len(stubs)]
            turn += 1
            sent = time.perf_counter()
            try:
                await stub.Put(PutRequest(key=keys[rng.randrange(len(keys))], value=value),
                               timeout=request_timeout)
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    res.timeouts += 1
                else:
                    res.errors += 1
                continue
            done = time.perf_counter()
            res.ops += 1
            res.latencies_ms.append((done - sent) * 1e3)
            second = int(done - t0)
            while len(per_second) <= second:
                per_second.append(0)
            per_second[second] += 1

    try:
        await asyncio.gather(*(writer(w) for w in range(inflight)))
    finally:
        res.seconds = time.perf_counter() - t0
        for ch in channels:
            await ch.close()
    return res
