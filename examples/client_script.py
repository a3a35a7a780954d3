"""Using ``multiraft.Client`` from a plain script.

    python examples/client_script.py --addr 127.0.0.1:7201,127.0.0.1:7202,127.0.0.1:7203
    python examples/client_script.py [--base-port 7300]   # starts a 3-node local cluster first

Without ``--addr`` it starts a local 3-process cluster (``LocalCluster``, data in a temporary
directory) and stops it at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from collections.abc import Iterator

from multiraft import Client, ClientError, Timeout
from multiraft.local_cluster import LocalCluster


@contextlib.contextmanager
def cluster_addresses(addr: str | None, base_port: int) -> Iterator[str]:
    """``addr`` as given, or the client addresses of a local cluster started for the script."""
    if addr:
        yield addr
        return
    with tempfile.TemporaryDirectory(prefix="multiraft-example-") as d, \
            LocalCluster(d, nodes=3, ranges=4, base_port=base_port) as cluster:
        yield ",".join(cluster.client_addrs)


def demo(client: Client) -> None:
    client.put("example/greeting", "hello")
    print("get:", client.get("example/greeting"))                            # b'hello'
    print("cas hello->bonjour:", client.cas("example/greeting", "hello", "bonjour"))  # True
    print("cas hello->hi:", client.cas("example/greeting", "hello", "hi"))   # False
    print("cas absent->1:", client.cas("example/counter", None, "1"))       # True (was absent)
    for key, value in client.scan("example/", "example0"):                  # across ranges
        print("scan:", key, value)
    print("delete:", client.delete("example/greeting"), client.delete("example/counter"))
    print("get after delete:", client.get("example/greeting"))               # None


def report(e: ClientError) -> int:
    """The exit status for a failed demo, and what it means for the last write."""
    if isinstance(e, Timeout):  # no answer: the outcome of the last write is unknown
        print("timed out:", e)
    else:                       # refused or unavailable: not applied
        print("failed:", e)
    return 3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--addr", help="client addresses of a running cluster, comma-separated")
    p.add_argument("--base-port", type=int, default=7300, help="ports of the cluster it starts")
    args = p.parse_args()
    with cluster_addresses(args.addr, args.base_port) as addrs, \
            Client(addrs, timeout=10.0) as client:
        try:
            demo(client)
        except ClientError as e:
            return report(e)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
