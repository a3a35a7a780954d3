"""A pipelined write/read workload: keeps ``inflight`` requests outstanding against a cluster.

One DEALER socket per node on one thread (no thread per request, so the load generator is not
what limits a Python cluster); requests go to the leader of their key's range and follow
NOT_LEADER hints; a RANGE_KEY_MISMATCH answer (the range split) teaches it the new spans and
the request is sent again, as is one answered RANGE_NOT_FOUND (a node that does not hold the
key's range yet), both counted as redirects. Each in-flight slot is its own client session (client id, seq), as a real
client thread is, so writes dedup correctly. Latency is measured from first send to the OK.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

import zmq

from multiraft.client import Client
from multiraft.routing import RangeCache
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus, decode_response,
                                       encode_request)
from multiraft.transport.codec import DecodeError
from multiraft.transport.keys import ClientCurve

__all__ = ["run_workload", "WorkloadResult", "WorkloadSummary"]


class WorkloadSummary(TypedDict):
    """``WorkloadResult.summary()``: the figures of one run, rounded for display and JSON."""

    ops: int
    seconds: float
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    timeouts: int
    redirects: int


@dataclass(slots=True)
class WorkloadResult:
    ops: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0
    redirects: int = 0
    #: ``time.monotonic()`` when the run started, and the writes completed in each second of it
    started: float = 0.0
    per_second: list[int] = field(default_factory=list)

    @property
    def ops_per_s(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        s = sorted(self.latencies_ms)
        return s[min(len(s) - 1, int(q * len(s)))]

    def summary(self) -> WorkloadSummary:
        return {"ops": self.ops, "seconds": round(self.seconds, 3),
                "ops_per_s": round(self.ops_per_s, 1),
                "p50_ms": round(self.percentile(0.5), 3), "p99_ms": round(self.percentile(0.99), 3),
                "errors": self.errors, "timeouts": self.timeouts, "redirects": self.redirects}

    def table(self) -> str:
        s = self.summary()
        return ("| ops | seconds | ops/s | p50 ms | p99 ms | errors | timeouts |\n"
                "|---|---|---|---|---|---|---|\n"
                f"| {s['ops']} | {s['seconds']} | {s['ops_per_s']:,} | {s['p50_ms']} | "
                f"{s['p99_ms']} | {s['errors']} | {s['timeouts']} |")


@dataclass(slots=True)
class _Op:
    op: ClientOp
    args: tuple[bytes, ...]
    key: bytes
    client_id: int
    seq: int
    started: float
    sent: float


def _keys_per_range(cache_ranges: Iterable[Mapping[str, Any]], active: int | None,
                    per_range: int) -> list[bytes]:
    """Keys spread over the first ``active`` ranges (all if None): start key + suffix."""
    ranges = sorted((r for r in cache_ranges if r.get("start_key") is not None),
                    key=lambda r: r["range_id"])
    uniq = {r["range_id"]: r for r in ranges}
    chosen = list(uniq.values())[:active] if active else list(uniq.values())
    return [r["start_key"] + b"\x00" + i.to_bytes(4, "big") for r in chosen for i in range(per_range)]


def run_workload(addrs: list[str], seconds: float = 10.0, inflight: int = 64,
                 value_size: int = 100, read_ratio: float = 0.0, active_ranges: int | None = None,
                 keys_per_range: int = 64, max_ops: int = 10_000_000, seed: int = 1,
                 request_timeout: float = 5.0, curve: ClientCurve | None = None,
                 keys: Sequence[bytes] | None = None) -> WorkloadResult:
    """Run for ``seconds`` (or ``max_ops`` completions) and return what was measured. The keys
    are ``keys`` if given (e.g. all in one range's span), else ``keys_per_range`` keys in each
    of the first ``active_ranges`` ranges."""
    rng = random.Random(seed)
    cache = RangeCache()
    statuses: list[dict[str, Any]] = []
    with Client(addrs, timeout=5.0, curve=curve) as c:
        for a in addrs:
            st = c.status(a)
            cache.learn_node(st["node"]["node_id"], a)
            statuses.extend(st["ranges"])
    cache.learn_ranges(statuses)
    keys = list(keys) if keys is not None else \
        _keys_per_range(statuses, active_ranges, keys_per_range)
    if not keys:
        raise ValueError("no keys to write")
    value = b"v" * value_size
    ctx = zmq.Context()
    socks: dict[str, zmq.Socket[bytes]] = {}
    poller = zmq.Poller()
    for a in addrs:
        s = ctx.socket(zmq.DEALER)
        s.linger = 0
        if curve is not None:
            s.curve_serverkey = curve.server_keys[a]
            s.curve_publickey, s.curve_secretkey = curve.public_key, curve.secret_key
        s.connect(f"tcp://{a}")
        socks[a] = s
        poller.register(s, zmq.POLLIN)
    addr_of_sock = {s: a for a, s in socks.items()}
    res = WorkloadResult()
    pending: dict[int, _Op] = {}
    next_id = 1
    # Client ids are unique per run whatever the seed: a second run reusing them would restart
    # at seq 1 and be refused as stale by the dedup table.
    sessions = [[secrets.randbits(62) + 1, 0] for _ in range(inflight)]
    free_sessions = list(range(inflight))
    session_of: dict[int, int] = {}

    #: requests to send, per node: each poll round sends one multipart message per node (a
    #: batch of requests, one per part), as the asyncio client does
    outgoing: dict[str, list[bytes]] = {a: [] for a in addrs}

    def send(op: _Op, addr: str | None) -> int:
        """Queue ``op`` for ``addr``, else its key's cached leader, else any node (sent by
        ``flush``); its request id."""
        nonlocal next_id
        rid = next_id
        next_id += 1
        target = addr or cache.leader_addr(op.key) or addrs[rid % len(addrs)]
        op.sent = time.perf_counter()
        pending[rid] = op
        outgoing[target].append(
            encode_request(ClientRequest(rid, op.op, op.args, op.client_id, op.seq)))
        return rid

    def flush() -> None:
        for a, parts in outgoing.items():
            if parts:
                socks[a].send_multipart(parts, zmq.NOBLOCK)
                parts.clear()

    def issue() -> None:
        si = free_sessions.pop()
        key = keys[rng.randrange(len(keys))]
        now = time.perf_counter()
        if rng.random() < read_ratio:
            op = _Op(ClientOp.GET, (key,), key, 0, 0, now, now)
        else:
            sess = sessions[si]
            sess[1] += 1
            op = _Op(ClientOp.PUT, (key, value), key, sess[0], sess[1], now, now)
        session_of[send(op, None)] = si

    t0 = time.perf_counter()
    res.started = time.monotonic()
    per_second = res.per_second
    end = t0 + seconds
    started = 0
    try:
        while free_sessions and started < max_ops:
            issue()
            started += 1
        flush()
        while pending and (time.perf_counter() < end or res.ops == 0) and res.ops < max_ops:
            for sock, _ in poller.poll(50):
                while True:
                    try:
                        data = sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        resp = decode_response(data)
                    except DecodeError:
                        res.errors += 1
                        continue
                    op = pending.pop(resp.request_id, None)
                    if op is None:
                        continue
                    si = session_of.pop(resp.request_id)
                    if resp.status == ClientStatus.OK:
                        res.ops += 1
                        done = time.perf_counter()
                        res.latencies_ms.append((done - op.started) * 1e3)
                        second = int(done - t0)
                        while len(per_second) <= second:
                            per_second.append(0)
                        per_second[second] += 1
                        cache.set_leader(op.key, _node_of(cache, addr_of_sock[sock]))
                    elif resp.status == ClientStatus.NOT_LEADER:
                        res.redirects += 1
                        hinted = cache.node_addrs.get(resp.result)
                        if hinted:
                            cache.set_leader(op.key, resp.result)
                        session_of[send(op, hinted or addrs[rng.randrange(len(addrs))])] = si
                        continue
                    elif resp.status in (ClientStatus.RANGE_KEY_MISMATCH,
                                         ClientStatus.RANGE_NOT_FOUND, ClientStatus.BUSY) and \
                            time.perf_counter() - op.started < request_timeout:
                        # (BUSY: not proposed, e.g. during a leader transfer the balancer
                        # made; the client's Attempts retries it the same way)
                        # Not applied: the same (client id, seq) goes to the key's new range.
                        res.redirects += 1
                        if resp.status == ClientStatus.RANGE_KEY_MISMATCH:
                            cache.learn_descriptors(resp.result)
                        session_of[send(op, cache.leader_addr(op.key)
                                        or addrs[rng.randrange(len(addrs))])] = si
                        continue
                    else:
                        res.errors += 1
                    free_sessions.append(si)
                    if time.perf_counter() < end and started < max_ops:
                        issue()
                        started += 1
            flush()
            now = time.perf_counter()
            for rid in [r for r, op in pending.items() if now - op.sent > request_timeout]:
                op = pending.pop(rid)
                res.timeouts += 1
                free_sessions.append(session_of.pop(rid))
        res.seconds = time.perf_counter() - t0
    finally:
        ctx.destroy(linger=0)
    return res


def _node_of(cache: RangeCache, addr: str) -> int:
    for node, a in cache.node_addrs.items():
        if a == addr:
            return node
    return 0


