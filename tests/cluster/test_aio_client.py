"""``multiraft.aio.Client`` on a real 3-node cluster (both designs): 1,000 concurrent tasks on one
client, many requests in flight on one connection per node, and the same at-most-once and
linearizable behaviour as the blocking client."""

from __future__ import annotations

import asyncio
from typing import Any

from multiraft import aio

TASKS = 1_000
COUNTERS = 10
INCREMENTS = 20  # per counter task


async def _peak_in_flight(client: aio.Client, peak: list[int], stop: asyncio.Event) -> None:
    """Sample how many requests wait on any one connection (the client's internals)."""
    while not stop.is_set():
        for conn in list(client._conns.values()):
            peak[0] = max(peak[0], len(conn._waiting))
        await asyncio.sleep(0.001)


async def _one_key(c: aio.Client, i: int) -> None:
    k, v = f"aio/{i:04d}".encode(), f"v{i}".encode()
    await c.put(k, v)
    assert await c.get(k) == v
    assert await c.cas(k, v, v + b"+") is True
    assert await c.cas(k, v, b"never") is False
    assert await c.get(k) == v + b"+"


async def _increment(c: aio.Client, counter: bytes) -> None:
    for _ in range(INCREMENTS):
        while True:
            cur = await c.get(counter)
            nxt = str(int(cur or b"0") + 1).encode()
            if await c.cas(counter, cur, nxt):
                break


def test_a_thousand_concurrent_tasks_on_one_client(make_cluster: Any) -> None:
    cluster = make_cluster("inproc", ranges=16)
    cluster.wait_all_led()
    addrs = [cluster.client_addr[n] for n in sorted(cluster.client_addr)]

    async def main() -> tuple[int, list[tuple[bytes, bytes]], list[bytes | None], int]:
        async with aio.Client(addrs, timeout=30) as c:
            stop, peak = asyncio.Event(), [0]
            sampler = asyncio.ensure_future(_peak_in_flight(c, peak, stop))
            await asyncio.gather(*(_one_key(c, i) for i in range(TASKS)))
            counters = [f"aio-counter/{j}".encode() for j in range(COUNTERS)]
            # 5 tasks race on each counter: every CAS that reports a swap applied exactly once.
            await asyncio.gather(*(_increment(c, counters[j % COUNTERS])
                                   for j in range(COUNTERS * 5)))
            stop.set()
            await sampler
            pairs = await c.scan(b"aio/", b"aio0")
            values = [await c.get(k) for k in counters]
            return peak[0], pairs, values, len(c._conns)

    peak, pairs, values, conns = asyncio.run(main())
    assert conns <= 3, "one connection per node"
    assert peak > 50, f"requests were not in flight together on a connection (peak {peak})"
    assert [k for k, _ in pairs] == [f"aio/{i:04d}".encode() for i in range(TASKS)]
    assert all(v == f"v{i}+".encode() for i, (_, v) in enumerate(pairs))
    assert values == [str(5 * INCREMENTS).encode()] * COUNTERS
