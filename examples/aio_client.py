"""Using ``multiraft.aio.Client`` from an asyncio program (a FastAPI or aiohttp service would
hold one client for its lifetime and await it in its handlers the same way).

    python examples/aio_client.py --addr 127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203
    python examples/aio_client.py [--base-port 7400]   # starts a 3-node local cluster first

It writes 200 keys concurrently, reads them back, and has 20 tasks race to increment one counter
with compare-and-swap: each increment applies exactly once, so the counter ends at 20 x 10.
"""

from __future__ import annotations

import argparse
import asyncio

from client_script import cluster_addresses, report  # examples/: a local cluster, errors

from multiraft import ClientError
from multiraft.aio import Client


async def increment(client: Client, key: str, times: int) -> None:
    for _ in range(times):
        while True:  # read, then swap if nobody changed it in between
            current = await client.get(key)
            if await client.cas(key, current, str(int(current or b"0") + 1)):
                break


async def demo(client: Client) -> None:
    keys = [f"aio-example/{i:03d}" for i in range(200)]
    await asyncio.gather(*(client.put(k, f"value {i}") for i, k in enumerate(keys)))
    values = await asyncio.gather(*(client.get(k) for k in keys))
    print("read back:", sum(v is not None for v in values), "of", len(keys))
    print("scan:", len(await client.scan("aio-example/", "aio-example0")), "pairs")
    await asyncio.gather(*(increment(client, "aio-example-counter", 10) for _ in range(20)))
    print("counter:", (await client.get("aio-example-counter") or b"").decode())   # 200
    await asyncio.gather(*(client.delete(k) for k in keys), client.delete("aio-example-counter"))


async def run(addrs: str) -> int:
    async with Client(addrs, timeout=10.0) as client:
        try:
            await demo(client)
        except ClientError as e:
            return report(e)
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", help="client addresses of a running cluster, comma-separated")
    p.add_argument("--base-port", type=int, default=7400, help="ports of the cluster it starts")
    args = p.parse_args()
    with cluster_addresses(args.addr, args.base_port) as addrs:
        return asyncio.run(run(addrs))


if __name__ == "__main__":
    raise SystemExit(main())
