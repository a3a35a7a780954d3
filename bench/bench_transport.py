"""Transport benchmark: raft messages/s between two processes, against raw pyzmq + msgpack.

    .venv/bin/python -m multiraft.bench.bench_transport [--messages N] [--runs R]

Modes, all measured in the same run, interleaved, each the median of ``--runs`` runs (each
run in a fresh child process after a warm-up pass):

- ``transport``: ``Transport.send`` in this process -> a ``Transport`` in a child process whose
  handler counts the messages (plaintext);
- ``transport_curve``: the same with CurveZMQ;
- ``raw``: the same messages as positional msgpack arrays, packed in batches of the size the
  transport produced (its messages per frame), PUSH -> PULL, unpacked and turned back into
  ``Message`` objects without validation: what the transport's machinery is compared with.

Throughput is counted from the first send to the child's last message (one system-wide
monotonic clock). Latency is a ping-pong of one message through two transports.
Writes ``bench/results/transport.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import zmq

from multiraft.raft.types import Entry, EntryType, Message, MessageType
from multiraft.transport import CurveConfig, Transport, generate_keypair, load_keypair, load_public_key
from multiraft.transport.codec import VERSION, FrameKind

RESULTS = Path(__file__).resolve().parent / "results" / "transport.json"
_MESSAGE = Message(MessageType.APP, 2, 1, term=5, log_term=5, index=1000,
                   entries=(Entry(5, 1001, EntryType.NORMAL, b"v" * 32),), commit=999)
_TYPES = {int(t): t for t in MessageType}
_ENTRY_TYPES = {int(t): t for t in EntryType}


def _curve(key_dir: str | None, name: str) -> CurveConfig | None:
    if key_dir is None:
        return None
    d = Path(key_dir)
    public, secret = load_keypair(d / f"{name}.key_secret")
    return CurveConfig(public, secret, {1: load_public_key(d / "n1.key"),
                                        2: load_public_key(d / "n2.key")})


class _Counter:
    """Child-side handler: counts raft messages, echoes them back in ping-pong mode."""

    def __init__(self, target: int, done: Any, echo: bool) -> None:
        self.n = 0
        self.target = target
        self.done = done
        self.echo = echo
        self.transport: Transport | None = None

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        if self.echo:
            if self.transport is None:
                raise RuntimeError("echoing before the transport was attached")
            for range_id, m in items:
                self.transport.send(from_node, range_id, m)
            return
        self.n += len(items)
        if self.n >= self.target:
            self.done.send(time.monotonic())
            self.n = 0

    def on_heartbeats(self, *a: Any) -> None: ...
    def on_heartbeat_responses(self, *a: Any) -> None: ...
    def on_snapshot_chunk(self, *a: Any) -> None: ...
    def on_snapshot_ack(self, *a: Any) -> None: ...
    def on_replica_gone(self, *a: Any) -> None: ...
    def on_replica_check(self, *a: Any) -> None: ...
    def on_unreachable(self, node_id: int) -> None: ...
    def on_client_request(self, *a: Any) -> None: ...


def _transport_child(conn: Any, target: int, key_dir: str | None, echo: bool) -> None:
    handler = _Counter(target, conn, echo)
    t = Transport(2, "127.0.0.1:0", {}, handler, curve=_curve(key_dir, "n2"))
    handler.transport = t
    t.start()
    conn.send(t.address)
    peer_address = conn.recv()
    t.add_peer(1, peer_address)
    conn.recv()  # stop
    t.stop()


def _raw_child(conn: Any, target: int) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.PULL)
    s.linger = 0
    port = s.bind_to_random_port("tcp://127.0.0.1")
    conn.send(f"127.0.0.1:{port}")
    n = 0
    while True:
        if s.poll(100) == 0:
            if conn.poll():
                break
            continue
        _, _, _, body = msgpack.unpackb(s.recv(), use_list=False)
        for it in body:
            ents = it[7]
            Message(_TYPES[it[1]], it[2], it[3], it[4], it[5], it[6],
                    tuple(Entry(ents[i], ents[i + 1], _ENTRY_TYPES[ents[i + 2]], ents[i + 3])
                          for i in range(0, len(ents), 4)), *it[8:])
        n += len(body)
        if n >= target:
            conn.send(time.monotonic())
            n = 0
    ctx.destroy(linger=0)


class _Sink:
    """Parent-side handler: counts echoes (ping-pong) and ignores the rest."""

    def __init__(self) -> None:
        self.echo = threading.Event()

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        self.echo.set()

    def on_heartbeats(self, *a: Any) -> None: ...
    def on_heartbeat_responses(self, *a: Any) -> None: ...
    def on_snapshot_chunk(self, *a: Any) -> None: ...
    def on_snapshot_ack(self, *a: Any) -> None: ...
    def on_replica_gone(self, *a: Any) -> None: ...
    def on_replica_check(self, *a: Any) -> None: ...
    def on_unreachable(self, node_id: int) -> None: ...
    def on_client_request(self, *a: Any) -> None: ...


def _connected(t: Transport, sink: _Sink, probe: Message, timeout: float = 10.0) -> None:
    """Resend a probe until it comes back (needs an echoing child)."""
    deadline = time.monotonic() + timeout
    while not sink.echo.wait(0.05):
        if time.monotonic() > deadline:
            raise TimeoutError("peer never answered")
        t.send(2, 0, probe)
    sink.echo.clear()


def run_transport(ctx: Any, n: int, runs: int, key_dir: str | None) -> dict[str, Any]:
    """Throughput runs through the Transport; returns msgs/s per run and msgs per frame."""
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_transport_child, args=(child, n, key_dir, False))
    proc.start()
    address = parent.recv()
    t = Transport(1, "127.0.0.1:0", {2: address}, _Sink(), curve=_curve(key_dir, "n1"))
    t.start()
    parent.send(t.address)
    rates = []
    try:
        # Connect: a counting child cannot echo, so send probes until frames stop failing.
        deadline = time.monotonic() + 10
        while (c := t.counters.peers.get(2)) is None or c.frames_sent == 0:
            if time.monotonic() > deadline:
                raise TimeoutError("peer never connected")
            t.send(2, 0, _MESSAGE)
            time.sleep(0.05)
        # the child counts the probes towards the first (warm-up) run's target
        probes = t.counters.peers[2].messages_sent
        dropped_probes = t.counters.peers[2].messages_dropped
        first = True
        for _ in range(runs + 1):  # the first run warms up
            start = time.monotonic()
            for i in range((n - probes) if first else n):
                t.send(2, i & 63, _MESSAGE)
            end = parent.recv() if parent.poll(60) else None
            if end is None:
                raise TimeoutError("receiver did not get every message (dropped?)")
            if not first:
                rates.append(n / (end - start))
            first = False
        c = t.counters.peers[2]
        per_frame = c.messages_sent / c.frames_sent
        dropped = c.messages_dropped - dropped_probes
    finally:
        t.stop()
        parent.send("stop")
        proc.join(10)
    return {"rates": rates, "messages_per_frame": per_frame, "dropped": dropped}


def run_raw(ctx: Any, n: int, runs: int, batch: int) -> list[float]:
    """Throughput runs of raw pyzmq + msgpack with ``batch`` messages per frame."""
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_raw_child, args=(child, n))
    proc.start()
    address = parent.recv()
    zctx = zmq.Context()
    s = zctx.socket(zmq.PUSH)
    s.linger = 0
    s.connect(f"tcp://{address}")
    rates = []
    try:
        for run in range(runs + 1):
            start = time.monotonic()
            sent = 0
            while sent < n:
                k = min(batch, n - sent)
                items = []
                for i in range(k):
                    m = _MESSAGE
                    flat: list[int | bytes] = []
                    for e in m.entries:
                        flat += (e.term, e.index, e.type, e.data)
                    items.append((i & 63, m.type, m.to, m.from_, m.term, m.log_term, m.index, flat,
                                  m.commit, None, m.reject, m.reject_hint, m.context))
                s.send(msgpack.packb((VERSION, FrameKind.RAFT, 1, items)))
                sent += k
            end = parent.recv() if parent.poll(60) else None
            if end is None:
                raise TimeoutError("raw receiver did not get every message")
            if run:
                rates.append(n / (end - start))
    finally:
        parent.send("stop")
        proc.join(10)
        zctx.destroy(linger=0)
    return rates


def run_latency(ctx: Any, rounds: int) -> list[float]:
    """Round trips (seconds) of one message through two plaintext transports."""
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_transport_child, args=(child, 0, None, True))
    proc.start()
    address = parent.recv()
    sink = _Sink()
    t = Transport(1, "127.0.0.1:0", {2: address}, sink)
    t.start()
    parent.send(t.address)
    samples = []
    try:
        _connected(t, sink, _MESSAGE)
        for _ in range(rounds):
            start = time.perf_counter()
            t.send(2, 0, _MESSAGE)
            if not sink.echo.wait(5):
                raise TimeoutError("echo lost")
            samples.append(time.perf_counter() - start)
            sink.echo.clear()
    finally:
        t.stop()
        parent.send("stop")
        proc.join(10)
    return samples


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m multiraft.bench.bench_transport")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    plain: dict[str, Any] = {"rates": [], "dropped": 0}
    curve: dict[str, Any] = {"rates": [], "dropped": 0}
    raw: list[float] = []
    with tempfile.TemporaryDirectory() as key_dir:
        generate_keypair(key_dir, "n1")
        generate_keypair(key_dir, "n2")
        # Modes interleaved run by run: the machine is shared, its load drifts over minutes.
        for _ in range(args.runs):
            for results, keys in ((plain, None), (curve, key_dir)):
                one = run_transport(ctx, args.messages, 1, keys)
                results["rates"] += one["rates"]
                results["dropped"] += one["dropped"]
                results["messages_per_frame"] = one["messages_per_frame"]
            raw += run_raw(ctx, args.messages, 1, max(1, round(plain["messages_per_frame"])))
    rtt = sorted(run_latency(ctx, args.rounds))
    med = statistics.median
    result = {
        "messages_per_run": args.messages, "runs": args.runs,
        "message": "APP, 1 entry of 32 bytes, 64 ranges",
        "messages_per_frame": plain["messages_per_frame"],
        "transport_msgs_per_s": med(plain["rates"]),
        "transport_curve_msgs_per_s": med(curve["rates"]),
        "raw_msgs_per_s": med(raw),
        "transport_vs_raw": med(plain["rates"]) / med(raw),
        "curve_vs_plain": med(curve["rates"]) / med(plain["rates"]),
        "dropped": plain["dropped"] + curve["dropped"],
        "rtt_median_ms": med(rtt) * 1e3,
        "rtt_p99_ms": rtt[int(len(rtt) * 0.99)] * 1e3,
        "runs_msgs_per_s": {"transport": plain["rates"], "transport_curve": curve["rates"],
                            "raw": raw},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'metric':<34}{'value':>14}")
    for key in ("transport_msgs_per_s", "transport_curve_msgs_per_s", "raw_msgs_per_s",
                "transport_vs_raw", "curve_vs_plain", "messages_per_frame", "rtt_median_ms",
                "rtt_p99_ms", "dropped"):
        print(f"{key:<34}{result[key]:>14,.3f}")
    print(f"written to {RESULTS}")
    return result


if __name__ == "__main__":
    main()
