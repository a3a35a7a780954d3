"""``Client``: read and write keys of a multiraft cluster.

It learns which node leads which range (a STATUS per node, then leader hints), sends each
request to the leader of its key's range, follows NOT_LEADER hints, and retries a write with the
same command id (client id, sequence number), so a write the cluster received twice is still
applied once. Thread-safe: each thread gets its own connections and its own client session
(the state machine keeps one sequence per client id, so a session has one write in flight).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

from transport.client import ClientConnection
from transport.client_protocol import ClientOp, ClientStatus
from transport.keys import ClientCurve

from .errors import ClientError, Timeout
from .routing import RangeCache

__all__ = ["Client"]

#: How long an address that did not answer is tried last (seconds).
_SUSPECT_FOR = 2.0

#: Errors a node answers while it cannot serve right now (nothing was applied): try again,
#: on another node or after a pause.
_RETRYABLE_ERRORS = ("node stopping", "node not serving", "proposal dropped")


def _bytes(v: bytes | str) -> bytes:
    return v.encode() if isinstance(v, str) else v


class Client:
    """A client of the cluster whose nodes' client endpoints are ``addresses`` (a list or a
    comma-separated string of ``host:port``). ``timeout`` bounds each operation, retries
    included; past it, ``Timeout`` (outcome unknown). ``curve`` (``transport.ClientCurve``,
    e.g. from ``transport.load_client_curve``) talks CurveZMQ to nodes started with keys."""

    def __init__(self, addresses: list[str] | str, timeout: float = 5.0, *,
                 curve: ClientCurve | None = None) -> None:
        if isinstance(addresses, str):
            addresses = addresses.split(",")
        self.addresses = [a.strip() for a in addresses if a.strip()]
        if not self.addresses:
            raise ValueError("a client needs at least one node address")
        self.timeout = timeout
        self.curve = curve
        if curve is not None and (missing := set(self.addresses) - set(curve.server_keys)):
            raise ValueError(f"no server key for {sorted(missing)}")
        self._local = threading.local()
        self._all_conns: list[ClientConnection] = []
        self._conns_lock = threading.Lock()
        self._cache = RangeCache()
        self._suspect: dict[str, float] = {}  # address -> until when it is tried last
        self._discovered_at = 0.0
        self._closed = False

    # -- the API --

    def put(self, key: bytes | str, value: bytes | str) -> None:
        self._call(ClientOp.PUT, (_bytes(key), _bytes(value)), _bytes(key), write=True)

    def get(self, key: bytes | str) -> bytes | None:
        return self._call(ClientOp.GET, (_bytes(key),), _bytes(key), write=False)

    def delete(self, key: bytes | str) -> bool:
        """Delete ``key``; whether it existed."""
        return self._call(ClientOp.DELETE, (_bytes(key),), _bytes(key), write=True)

    def cas(self, key: bytes | str, expected: bytes | str | None, new: bytes | str) -> bool:
        """Set ``key`` to ``new`` if its value is ``expected`` (None: if absent); whether it did."""
        exp = None if expected is None else _bytes(expected)
        swapped, _ = self._call(ClientOp.CAS, (_bytes(key), exp, _bytes(new)), _bytes(key), write=True)
        return swapped

    def scan(self, start: bytes | str, end: bytes | str | None = None,
             limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """The pairs with ``start <= key < end`` in key order, across ranges (at most ``limit``)."""
        out: list[tuple[bytes, bytes]] = []
        cur, stop = _bytes(start), (b"" if end is None else _bytes(end))
        while limit is None or len(out) < limit:
            want = 10_000 if limit is None else min(10_000, limit - len(out))
            pairs, range_end = self._call(ClientOp.SCAN, (cur, stop, want), cur, write=False)
            out.extend(pairs)
            if len(pairs) == want:  # this range may hold more: continue after the last key
                cur = pairs[-1][0] + b"\x00"
                continue
            if not range_end or (stop and range_end >= stop):
                break
            cur = range_end
        return out

    def status(self, address: str | None = None, ranges: bool = True) -> dict[str, Any]:
        """A node's status (the first address's by default)."""
        resp = self._conn(address or self.addresses[0]).request(
            ClientOp.STATUS, ({"ranges": ranges},), timeout=self.timeout)
        if resp.status != ClientStatus.OK:
            raise ClientError(f"status: {resp.status.name}: {resp.result}")
        return resp.result

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for c in conns:
            c.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --

    def _conn(self, addr: str) -> ClientConnection:
        if self._closed:
            raise ClientError("client is closed")
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        c = conns.get(addr)
        if c is None:
            cv = self.curve
            c = conns[addr] = (ClientConnection(addr) if cv is None else ClientConnection(
                addr, cv.server_keys[addr], (cv.public_key, cv.secret_key)))
            with self._conns_lock:
                self._all_conns.append(c)
        return c

    def _next_command_id(self) -> tuple[int, int]:
        """(client id, seq) of this thread's session; seqs only grow within a session."""
        loc = self._local
        sess = getattr(loc, "session", None)
        if sess is None:
            sess = loc.session = [random.SystemRandom().getrandbits(62) + 1, 0]
        sess[1] += 1
        return sess[0], sess[1]

    def _discover(self, deadline: float) -> None:
        """Learn node ids and range leaders from every node that answers in time."""
        self._discovered_at = time.monotonic()
        for addr in self.addresses:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                resp = self._conn(addr).request(ClientOp.STATUS, ({"ranges": True},),
                                                timeout=min(left, 1.0))
            except TimeoutError:
                continue
            if resp.status == ClientStatus.OK:
                self._cache.learn_node(resp.result["node"]["node_id"], addr)
                self._cache.learn_ranges(resp.result["ranges"])

    def _call(self, op: ClientOp, args: tuple, key: bytes, write: bool) -> Any:
        cid, seq = self._next_command_id() if write else (0, 0)
        deadline = time.monotonic() + self.timeout
        if not self._cache.node_addrs:
            self._discover(deadline)
        rotation = itertools.cycle(self.addresses)
        target = self._avoid_suspect(self._cache.leader_addr(key) or next(rotation), rotation)
        per_try = max(0.5, self.timeout / 4)
        misses = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout(f"{op.name} {key!r}: no answer within {self.timeout}s "
                              f"({'outcome unknown' if write else 'not served'})")
            try:
                resp = self._conn(target).request(op, args, timeout=min(left, per_try),
                                                  client_id=cid, seq=seq)
            except TimeoutError:
                self._suspect[target] = time.monotonic() + _SUSPECT_FOR
                target = self._avoid_suspect(next(rotation), rotation)
                continue
            st = resp.status
            if st == ClientStatus.OK:
                self._cache.set_leader(key, self._node_of(target))
                return resp.result
            if st == ClientStatus.ERROR and not resp.result.startswith(_RETRYABLE_ERRORS):
                raise ClientError(f"{op.name} {key!r}: {resp.result}")
            hinted = self._cache.node_addrs.get(resp.result) if st == ClientStatus.NOT_LEADER else None
            if hinted is not None and hinted != target:
                self._cache.set_leader(key, resp.result)
                target = hinted
                continue
            # No usable hint (an election is under way, or the node lacks the range): try the
            # next node, and pause after a full round so an election can finish.
            misses += 1
            if st == ClientStatus.NOT_LEADER and resp.result and hinted is None \
                    and time.monotonic() - self._discovered_at > 1.0:
                self._discover(deadline)
            target = self._avoid_suspect(next(rotation), rotation)
            if misses % len(self.addresses) == 0:
                time.sleep(min(0.05 * (misses // len(self.addresses)), 0.5, max(0.0, left)))

    def _avoid_suspect(self, target: str, rotation: Any) -> str:
        """``target``, unless it recently did not answer and another address has not."""
        now = time.monotonic()
        for _ in range(len(self.addresses)):
            if self._suspect.get(target, 0.0) <= now:
                return target
            target = next(rotation)
        return target  # every address is suspect: try them anyway

    def _node_of(self, addr: str) -> int:
        for node, a in self._cache.node_addrs.items():
            if a == addr:
                return node
        return 0

