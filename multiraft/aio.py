"""``multiraft.aio.Client``: the asyncio client, for FastAPI, aiohttp and other asyncio programs.

The same methods as ``multiraft.Client``, awaited (``await c.put(b"k", b"v")``), the same
errors and the same rules (``multiraft.attempts``): it finds each key's range and leader,
follows hints, retries a write with its command id so it applies at most once, and raises
``Timeout`` only when the outcome is unknown. Many requests are in flight at once on one
connection per node. Each write in flight holds one client session (the state machine keeps one
sequence per session); ``sessions`` bounds them, and a write waits for a free one. Use one
``Client`` from one event loop::

    async with Client("127.0.0.1:7201,127.0.0.1:7202") as c:
        await c.put("user/1", "ada")
        value = await c.get("user/1")
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import zmq.asyncio

from multiraft.transport.async_client import AsyncClientConnection
from multiraft.transport.client import NotConnected
from multiraft.transport.client_protocol import (DEFAULT_MAX_COMMAND_BYTES, ClientOp, ClientStatus,
                                                 WireDescriptor)
from multiraft.transport.keys import ClientCurve

from .attempts import Attempts, ClientRouting, ScanCursor
from .client import (NodeAttempts, as_bytes, change_replicas_args,
                     check_curve, new_client_id, parse_addresses, range_start)
from .errors import Busy, ClientError

__all__ = ["Client"]


class Client:
    """An asyncio client of the cluster whose nodes' client endpoints are ``addresses`` (a list
    or a comma-separated string of ``host:port``). ``timeout`` bounds each operation, retries
    and the wait for a session included; ``curve`` as for ``multiraft.Client``."""

    def __init__(self, addresses: list[str] | str, timeout: float = 5.0, *,
                 curve: ClientCurve | None = None, sessions: int = 64,
                 max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES) -> None:
        if sessions < 1:
            raise ValueError("a client needs at least one session")
        self.addresses = parse_addresses(addresses)
        self.timeout = timeout
        self.curve = curve
        check_curve(self.addresses, curve)
        self._ctx = zmq.asyncio.Context()
        self._conns: dict[str, AsyncClientConnection] = {}
        self._routing = ClientRouting(self.addresses, max_command_bytes)
        self._discovery: asyncio.Lock | None = None  # made on first use, in the client's loop
        #: sessions not in use: [client id, last seq]; at most ``sessions`` exist
        self._idle_sessions: list[list[int]] = []
        self._sessions: asyncio.Semaphore | None = None
        self._max_sessions = sessions
        self._closed = False

    # -- the API --

    async def put(self, key: bytes | str, value: bytes | str) -> None:
        k = as_bytes(key)
        await self._call(ClientOp.PUT, (k, as_bytes(value)), k, write=True)

    async def get(self, key: bytes | str) -> bytes | None:
        k = as_bytes(key)
        value: bytes | None = await self._call(ClientOp.GET, (k,), k, write=False)
        return value

    async def delete(self, key: bytes | str) -> bool:
        """Delete ``key``; whether it existed."""
        k = as_bytes(key)
        existed: bool = await self._call(ClientOp.DELETE, (k,), k, write=True)
        return existed

    async def cas(self, key: bytes | str, expected: bytes | str | None, new: bytes | str) -> bool:
        """Set ``key`` to ``new`` if its value is ``expected`` (None: if absent); whether it did."""
        k = as_bytes(key)
        exp = None if expected is None else as_bytes(expected)
        swapped, _ = await self._call(ClientOp.CAS, (k, exp, as_bytes(new)), k, write=True)
        return bool(swapped)

    async def split(self, key: bytes | str) -> tuple[WireDescriptor, WireDescriptor]:
        """As ``multiraft.Client.split``."""
        k = as_bytes(key)
        left, right = await self._call(ClientOp.SPLIT, (k,), k, write=True)
        return left, right

    async def scan(self, start: bytes | str, end: bytes | str | None = None,
                   limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """The pairs with ``start <= key < end`` in key order, across ranges (at most ``limit``)."""
        cursor = ScanCursor(as_bytes(start), None if end is None else as_bytes(end), limit)
        while (args := cursor.next_args()) is not None:
            cursor.add(*await self._call(ClientOp.SCAN, args, args[0], write=False))
        return cursor.pairs

    async def change_replicas(self, range_id: int, kind: str, from_node: int = 0,
                              to_node: int = 0, expected_conf_ver: int = 0) -> dict[str, Any]:
        """As ``multiraft.Client.change_replicas``."""
        return await self._range_op(ClientOp.CHANGE_REPLICAS, range_id, change_replicas_args(
            kind, from_node, to_node, expected_conf_ver))

    async def add_replica(self, range_id: int, node_id: int) -> dict[str, Any]:
        """As ``multiraft.Client.add_replica``."""
        return await self.change_replicas(range_id, "add", to_node=node_id)

    async def remove_replica(self, range_id: int, node_id: int) -> dict[str, Any]:
        """As ``multiraft.Client.remove_replica``."""
        return await self.change_replicas(range_id, "remove", from_node=node_id)

    async def move_replica(self, range_id: int, from_node: int, to_node: int) -> dict[str, Any]:
        """As ``multiraft.Client.move_replica``."""
        return await self.change_replicas(range_id, "move", from_node, to_node)

    async def transfer_leader(self, range_id: int, node_id: int) -> dict[str, Any]:
        """As ``multiraft.Client.transfer_leader``."""
        return await self._range_op(ClientOp.TRANSFER_LEADER, range_id, (node_id,))

    async def decommission(self, node_id: int, state: str = "decommissioning",
                           address: str | None = None) -> dict[str, Any]:
        """As ``multiraft.Client.decommission``."""
        attempts = NodeAttempts.decommission(node_id, state,
                                             [address] if address else self.addresses,
                                             self.timeout)
        while not attempts.expired():
            try:
                resp = await self._conn(attempts.target).request(
                    attempts.op, attempts.args, timeout=attempts.try_timeout())
            except NotConnected:
                attempts.unanswered(sent=False)
                continue
            except TimeoutError:
                attempts.unanswered(sent=True)
                continue
            if attempts.answered(resp):
                record: dict[str, Any] = attempts.result
                return record
            if attempts.pause:
                await asyncio.sleep(attempts.pause)
        raise attempts.give_up()

    async def status(self, address: str | None = None, ranges: bool = True,
                     timeout: float | None = None) -> dict[str, Any]:
        """A node's status (the first address's by default), within ``timeout`` seconds (default:
        the client's)."""
        resp = await self._conn(address or self.addresses[0]).request(
            ClientOp.STATUS, ({"ranges": ranges},),
            timeout=self.timeout if timeout is None else timeout)
        if resp.status != ClientStatus.OK:
            raise ClientError(f"status: {resp.status.name}: {resp.result}")
        status: dict[str, Any] = resp.result
        return status

    async def close(self) -> None:
        """Close every connection (operations still waiting end in ``Timeout`` if a write of
        theirs was sent, else ``ClientError``)."""
        self._closed = True
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            await c.close()
        self._ctx.destroy(linger=0)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- internals --

    def _conn(self, addr: str) -> AsyncClientConnection:
        if self._closed:
            raise ClientError("client is closed")
        c = self._conns.get(addr)
        if c is None:
            cv = self.curve
            c = self._conns[addr] = (AsyncClientConnection(self._ctx, addr) if cv is None else
                                     AsyncClientConnection(self._ctx, addr, cv.server_keys[addr],
                                                           (cv.public_key, cv.secret_key)))
        return c

    async def _discover(self, deadline: float) -> None:
        """Learn node ids and the ranges each node holds from every node that answers in time,
        all asked at once (a key the cache still has no range for is looked up, LOOKUP); one
        discovery at a time, shared by the operations that wait for it."""
        if self._discovery is None:
            self._discovery = asyncio.Lock()
        started = time.monotonic()
        async with self._discovery:
            if self._routing.discovered_at >= started:
                return  # another operation rediscovered while we waited
            self._routing.discovered_at = time.monotonic()
            await self._statuses(deadline)

    async def _statuses(self, deadline: float) -> list[tuple[str, dict[str, Any] | None]]:
        """Every address's STATUS answer (None: none before ``deadline``, at most 1 s each),
        all asked at once, each also learned by the routing."""
        left = deadline - time.monotonic()

        async def ask(addr: str) -> tuple[str, dict[str, Any] | None]:
            if left <= 0:
                return addr, None
            try:
                resp = await self._conn(addr).request(ClientOp.STATUS, ({"ranges": True},),
                                                      timeout=min(left, 1.0))
            except TimeoutError:
                return addr, None
            if resp.status != ClientStatus.OK:
                return addr, None
            self._routing.learn_status(addr, resp.result)
            return addr, resp.result

        return list(await asyncio.gather(*(ask(a) for a in self.addresses)))

    async def _range_op(self, op: ClientOp, range_id: int,
                        rest: tuple[Any, ...]) -> dict[str, Any]:
        """As ``multiraft.Client._range_op``."""
        deadline = time.monotonic() + self.timeout
        key = range_start(range_id, await self._statuses(deadline))
        info: dict[str, Any] = await self._call(op, (key, range_id, *rest), key, write=True,
                                                timeout=deadline - time.monotonic())
        return info

    async def _call(self, op: ClientOp, args: tuple[Any, ...], key: bytes, write: bool,
                    timeout: float | None = None) -> Any:
        """``op`` to ``key``'s range, retried within ``timeout`` (default: the client's)."""
        attempts = Attempts(self._routing, op, args, key, write,
                            self.timeout if timeout is None else timeout)
        if not write:
            return await self._attempt(attempts, args, 0, 0)
        session = await self._take_session(attempts)
        try:
            session[1] += 1
            return await self._attempt(attempts, args, session[0], session[1])
        finally:
            self._give_back(session)

    async def _attempt(self, attempts: Attempts, args: tuple[Any, ...], cid: int, seq: int) -> Any:
        if self._routing.must_discover():
            await self._discover(attempts.deadline)
            attempts.aim()
        while not attempts.expired():
            if self._closed:
                raise attempts.closed()
            if attempts.needs_lookup():
                try:
                    found = await self._conn(attempts.target).request(
                        ClientOp.LOOKUP, (attempts.key,), timeout=attempts.try_timeout())
                except TimeoutError:  # (NotConnected too) nothing was sent that could apply
                    attempts.unanswered(sent=False)
                    continue
                attempts.looked_up(found)
            try:
                resp = await self._conn(attempts.target).request(
                    attempts.op, args, timeout=attempts.try_timeout(), client_id=cid, seq=seq,
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
                await self._discover(attempts.deadline)
            if attempts.pause:
                await asyncio.sleep(attempts.pause)
        raise attempts.give_up()

    async def _take_session(self, attempts: Attempts) -> list[int]:
        if self._sessions is None:
            self._sessions = asyncio.Semaphore(self._max_sessions)
        try:
            await asyncio.wait_for(self._sessions.acquire(), max(0.0, attempts.time_left()))
        except TimeoutError:
            raise Busy(f"{attempts.op.name} {attempts.key!r}: all {self._max_sessions} client "
                       f"sessions stayed busy for {attempts.timeout}s (not sent)") from None
        return self._idle_sessions.pop() if self._idle_sessions else [new_client_id(), 0]

    def _give_back(self, session: list[int]) -> None:
        self._idle_sessions.append(session)
        assert self._sessions is not None
        self._sessions.release()
