"""The clients of ``multiraft check``: N threads doing put/get/cas, every call recorded.

Each client thread has its own ``Client`` and loops until it is stopped or has done
``max_ops`` operations: it picks a key from the ``KeyPool``, then a get (40%), a put of a
value no one else writes (30%: ``"<client>:<n>"``) or a cas from the value it last saw of that
key to a new unique value (30%). Unique values make a lost or resurrected write visible.
What it records (``HistoryRecorder``), as the client's contract says: a ``Timeout`` is an
operation of unknown outcome (it may take effect later, or never), any other ``ClientError``
one that was not applied (dropped from the history), a result a completed operation.

The ``KeyPool`` keeps a few keys in play at a time (all clients contend on them) and retires a
key after ``ops_per_key`` operations for a fresh one, so a long run has many short per-key
histories rather than a few endless ones (the checker's search is per key). Keys are spread
over the cluster's ranges (each inside one range's span), carry a random run id (a cluster may
have served earlier runs: every key of this run starts absent), and never repeat.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ..client import Client
from ..errors import ClientError, Timeout
from multiraft.transport.keys import ClientCurve

from .history import HistoryRecorder, OpKind

__all__ = ["KeyPool", "Workload", "WorkloadStats"]


class KeyPool:
    """Keys in play: ``active`` at a time, each retired after ``ops_per_key`` picks."""

    def __init__(self, spans: Sequence[tuple[bytes, bytes | None]], active: int,
                 ops_per_key: int, run_id: str | None = None) -> None:
        if active < 1 or ops_per_key < 1:
            raise ValueError("need at least one active key and one operation per key")
        self._spans = list(spans) or [(b"", None)]
        self.run_id = run_id or secrets.token_hex(4)
        self.ops_per_key = ops_per_key
        self._lock = threading.Lock()
        self._made = 0
        self._active = [self._fresh() for _ in range(active)]
        self._uses = [0] * active
        self.retired = 0

    def _fresh(self) -> bytes:
        """A new key inside the next span (round robin over the ranges)."""
        for _ in range(len(self._spans)):
            start, end = self._spans[self._made % len(self._spans)]
            key = start + b"\x00check/" + f"{self.run_id}/{self._made}".encode()
            self._made += 1
            if end is None or not end or key < end:
                return key
        return f"check/{self.run_id}/{self._made}".encode()

    def pick(self, rng: random.Random) -> bytes:
        with self._lock:
            slot = rng.randrange(len(self._active))
            key = self._active[slot]
            self._uses[slot] += 1
            if self._uses[slot] >= self.ops_per_key:
                self._active[slot], self._uses[slot] = self._fresh(), 0
                self.retired += 1
            return key

    @property
    def keys_used(self) -> int:
        return self._made


@dataclass(slots=True)
class WorkloadStats:
    ok: int = 0
    unknown: int = 0
    failed: int = 0  # not applied (ClientError other than Timeout)


class Workload:
    """``clients`` threads against ``addresses``, recording into ``recorder``."""

    def __init__(self, addresses: Sequence[str], clients: int, keys: KeyPool,
                 recorder: HistoryRecorder, *, timeout: float, max_ops: int,
                 curve: ClientCurve | None = None, seed: int | None = None) -> None:
        self.addresses = list(addresses)
        self.keys = keys
        self.recorder = recorder
        self.timeout = timeout
        self.max_ops = max_ops
        self.curve = curve
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.stats = [WorkloadStats() for _ in range(clients)]
        base = random.Random(seed).randrange(1 << 30)
        self._threads = [threading.Thread(target=self._client, args=(cid, base + cid),
                                          name=f"check-client-{cid}", daemon=True)
                         for cid in range(clients)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def finish(self, timeout: float) -> list[str]:
        """Stop the clients and wait for them (each ends its current operation, at most one
        client timeout); the names of the threads still running after ``timeout``."""
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]

    def total(self) -> WorkloadStats:
        out = WorkloadStats()
        for s in self.stats:
            out.ok, out.unknown, out.failed = out.ok + s.ok, out.unknown + s.unknown, out.failed + s.failed
        return out

    def _client(self, cid: int, seed: int) -> None:
        rng = random.Random(seed)
        seen: dict[bytes, bytes | None] = {}
        stats = self.stats[cid]
        try:
            with Client(self.addresses, timeout=self.timeout, curve=self.curve) as client:
                for n in range(self.max_ops):
                    if self.stop.is_set():
                        return
                    self._one(client, cid, n, rng, seen, stats)
        except BaseException as e:  # reported by the command: the workload itself broke
            self.errors.append(e)

    def _one(self, client: Client, cid: int, n: int, rng: random.Random,
             seen: dict[bytes, bytes | None], stats: WorkloadStats) -> None:
        key = self.keys.pick(rng)
        value = f"{cid}:{n}".encode()
        r = rng.random()
        expected = seen.get(key)
        args: tuple[bytes | None, ...]
        if r < 0.4:
            kind, args = OpKind.GET, (key,)
        elif r < 0.7:
            kind, args = OpKind.PUT, (key, value)
        else:
            kind, args = OpKind.CAS, (key, expected, value)
        token = self.recorder.begin(cid, kind, args)
        try:
            if kind is OpKind.GET:
                got = client.get(key)
                self.recorder.end(token, got)
                seen[key] = got
            elif kind is OpKind.PUT:
                client.put(key, value)
                self.recorder.end(token, None)
                seen[key] = value
            else:
                swapped = client.cas(key, expected, value)
                self.recorder.end(token, swapped)
                if swapped:
                    seen[key] = value
        except (Timeout, TimeoutError):
            self.recorder.end_unknown(token)
            stats.unknown += 1
            return
        except ClientError:
            self.recorder.discard(token)  # not applied: the client's contract
            stats.failed += 1
            return
        stats.ok += 1
