"""``Client``: read and write keys of a multiraft cluster.

It learns which node leads which range (a STATUS per node, then leader hints), sends each
request to the leader of its key's range, follows NOT_LEADER hints, and retries a write with the
same command id (client id, sequence number), so a write the cluster received twice is still
applied once; ``multiraft.attempts`` holds those rules (shared with ``multiraft.aio.Client``).
Thread-safe: each thread gets its own connections and its own client session (the state machine
keeps one sequence per client id, so a session has one write in flight).
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from multiraft.transport.client import ClientConnection, NotConnected
from multiraft.transport.client_protocol import (DEFAULT_MAX_COMMAND_BYTES, ClientOp, ClientStatus,
                                                 WireDescriptor)
from multiraft.transport.keys import ClientCurve

from .attempts import Attempts, ClientRouting, ScanCursor
from .errors import ClientError

__all__ = ["Client", "new_client_id", "as_bytes"]


def as_bytes(v: bytes | str) -> bytes:
    """A key or value as bytes (str is encoded as UTF-8)."""
    return v.encode() if isinstance(v, str) else v


def new_client_id() -> int:
    """A fresh client session id (random, never 0: 0 opts out of deduplication)."""
    return random.SystemRandom().getrandbits(62) + 1


def check_curve(addresses: list[str], curve: ClientCurve | None) -> None:
    if curve is not None and (missing := set(addresses) - set(curve.server_keys)):
        raise ValueError(f"no server key for {sorted(missing)}")


def parse_addresses(addresses: list[str] | str) -> list[str]:
    if isinstance(addresses, str):
        addresses = addresses.split(",")
    out = [a.strip() for a in addresses if a.strip()]
    if not out:
        raise ValueError("a client needs at least one node address")
    return out


class Client:
    """A client of the cluster whose nodes' client endpoints are ``addresses`` (a list or a
    comma-separated string of ``host:port``). ``timeout`` bounds each operation, retries
    included; past it, ``Timeout`` (outcome unknown). ``curve``
    (``multiraft.transport.keys.ClientCurve``, e.g. from ``load_client_curve``) talks CurveZMQ
    to nodes started with keys. A write over ``max_command_bytes`` (key and values; keep it at
    most the nodes' setting) raises ``CommandTooLarge`` before it is sent."""

    def __init__(self, addresses: list[str] | str, timeout: float = 5.0, *,
                 curve: ClientCurve | None = None,
                 max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES) -> None:
        self.addresses = parse_addresses(addresses)
        self.timeout = timeout
        self.curve = curve
        check_curve(self.addresses, curve)
        self._local = threading.local()
        self._all_conns: list[ClientConnection] = []
        self._conns_lock = threading.Lock()
        self._routing = ClientRouting(self.addresses, max_command_bytes)
        self._closed = False

    # -- the API --

    def put(self, key: bytes | str, value: bytes | str) -> None:
        k = as_bytes(key)
        self._call(ClientOp.PUT, (k, as_bytes(value)), k, write=True)

    def get(self, key: bytes | str) -> bytes | None:
        k = as_bytes(key)
        value: bytes | None = self._call(ClientOp.GET, (k,), k, write=False)
        return value

    def delete(self, key: bytes | str) -> bool:
        """Delete ``key``; whether it existed."""
        k = as_bytes(key)
        existed: bool = self._call(ClientOp.DELETE, (k,), k, write=True)
        return existed

    def cas(self, key: bytes | str, expected: bytes | str | None, new: bytes | str) -> bool:
        """Set ``key`` to ``new`` if its value is ``expected`` (None: if absent); whether it did."""
        k = as_bytes(key)
        exp = None if expected is None else as_bytes(expected)
        swapped, _ = self._call(ClientOp.CAS, (k, exp, as_bytes(new)), k, write=True)
        return bool(swapped)

    def split(self, key: bytes | str) -> tuple[WireDescriptor, WireDescriptor]:
        """Split the range holding ``key`` at ``key``: the (left, right) descriptors, each
        ``(range_id, start, end (b"" = no end), generation)``, once the split has applied on
        the leader's node. ``Refused`` if ``key`` already starts a range."""
        k = as_bytes(key)
        left, right = self._call(ClientOp.SPLIT, (k,), k, write=True)
        return left, right

    def scan(self, start: bytes | str, end: bytes | str | None = None,
             limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """The pairs with ``start <= key < end`` in key order, across ranges (at most ``limit``)."""
        cursor = ScanCursor(as_bytes(start), None if end is None else as_bytes(end), limit)
        while (args := cursor.next_args()) is not None:
            cursor.add(*self._call(ClientOp.SCAN, args, args[0], write=False))
        return cursor.pairs

    def status(self, address: str | None = None, ranges: bool = True,
               timeout: float | None = None) -> dict[str, Any]:
        """A node's status (the first address's by default), within ``timeout`` seconds (default:
        the client's)."""
        resp = self._conn(address or self.addresses[0]).request(
            ClientOp.STATUS, ({"ranges": ranges},),
            timeout=self.timeout if timeout is None else timeout)
        if resp.status != ClientStatus.OK:
            raise ClientError(f"status: {resp.status.name}: {resp.result}")
        status: dict[str, Any] = resp.result
        return status

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
        c: ClientConnection | None = conns.get(addr)
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
            sess = loc.session = [new_client_id(), 0]
        sess[1] += 1
        return sess[0], sess[1]

    def _discover(self, deadline: float) -> None:
        """Learn node ids and the ranges each node holds (their descriptors and leaders) from
        every node that answers in time; a key the cache still has no range for is looked up
        (LOOKUP)."""
        self._routing.discovered_at = time.monotonic()
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
                self._routing.learn_status(addr, resp.result)

    def _call(self, op: ClientOp, args: tuple[Any, ...], key: bytes, write: bool) -> Any:
        cid, seq = self._next_command_id() if write else (0, 0)
        attempts = Attempts(self._routing, op, args, key, write, self.timeout)
        if self._routing.must_discover():
            self._discover(attempts.deadline)
            attempts.aim()
        while not attempts.expired():
            if self._closed:
                raise attempts.closed()
            if attempts.needs_lookup():
                try:
                    found = self._conn(attempts.target).request(
                        ClientOp.LOOKUP, (key,), timeout=attempts.try_timeout())
                except TimeoutError:  # (NotConnected too) nothing was sent that could apply
                    attempts.unanswered(sent=False)
                    continue
                attempts.looked_up(found)
            try:
                resp = self._conn(attempts.target).request(
                    op, args, timeout=attempts.try_timeout(), client_id=cid, seq=seq,
                    register=attempts.register)
            except NotConnected:
                attempts.unanswered(sent=False)
                continue
            except TimeoutError:
                attempts.unanswered(sent=True)
                continue
            if attempts.answered(resp):
                return attempts.result
            if attempts.rediscover:
                self._discover(attempts.deadline)
            if attempts.pause:
                time.sleep(attempts.pause)
        raise attempts.give_up()
