"""An asyncio connection to one node's client endpoint: many requests in flight on one socket.

One DEALER socket per node; each request gets an id and a future, and one reader task hands
every response to the future of its id (a late answer to a request that timed out finds none and
is dropped). The requests made in one turn of the event loop leave together, as one multipart
message (a part each: the node takes it as a batch). Like ``ClientConnection`` the socket is
``IMMEDIATE``: a request to a node with no live connection fails at once with ``NotConnected``
(it was not sent). Bound to the event loop it is first used on; not thread-safe.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import zmq
import zmq.asyncio

from .client import NotConnected, connect_client_socket
from .client_protocol import ClientOp, ClientRequest, ClientResponse, decode_response, encode_request
from .codec import DecodeError

__all__ = ["AsyncClientConnection"]


class AsyncClientConnection:
    """Requests to the node at ``address`` over ``ctx`` (the client's shared context).

    With CURVE, ``server_key`` is the node's public key and ``keypair`` the client's
    (public, secret) pair. Invariant: ``_waiting`` holds the future of every request sent and
    neither answered nor given up; ``_reader`` runs while any may be answered.
    """

    def __init__(self, ctx: zmq.asyncio.Context, address: str, server_key: bytes | None = None,
                 keypair: tuple[bytes, bytes] | None = None, connect_wait: float = 0.25) -> None:
        self.address = address
        self._connect_wait = connect_wait
        self._socket = connect_client_socket(ctx.socket(zmq.DEALER), address, server_key, keypair)
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[ClientResponse]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        #: requests made this turn of the event loop, sent together by ``_flush`` (scheduled
        #: while the list is not empty): (request id, encoded request)
        self._outgoing: list[tuple[int, bytes]] = []

    async def request(self, op: ClientOp, args: tuple[Any, ...], timeout: float = 5.0,
                      client_id: int = 0, seq: int = 0, register: bool = True) -> ClientResponse:
        """Send one request and wait for its response; raises ``NotConnected`` if it could not
        be sent, ``TimeoutError`` if it was sent and not answered in time."""
        if self._closed:
            raise NotConnected(f"connection to {self.address} is closed")
        sock = self._socket
        events = sock.getsockopt(zmq.EVENTS)
        assert isinstance(events, int)
        if not events & zmq.POLLOUT:
            # Writable only while connected (IMMEDIATE): give a fresh or restarting connection
            # a moment, and fail fast for a node that is not there.
            wait = min(self._connect_wait, timeout)
            # (pyzmq's stubs omit the flags zmq.asyncio's poll takes)
            if not await sock.poll(int(wait * 1000), zmq.POLLOUT):  # type: ignore[call-arg]
                raise NotConnected(f"not connected to {self.address}")
        request_id = next(self._ids)
        fut: asyncio.Future[ClientResponse] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = fut
        if self._reader is None:
            self._reader = asyncio.ensure_future(self._read())
        if not self._outgoing:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outgoing.append((request_id, encode_request(
            ClientRequest(request_id, op, args, client_id, seq, register))))
        try:
            return await asyncio.wait_for(fut, timeout)
        except NotConnected:
            raise
        except TimeoutError:
            raise TimeoutError(f"no response to {op.name} request {request_id} "
                               f"within {timeout}s") from None
        finally:
            self._waiting.pop(request_id, None)

    def _flush(self) -> None:
        """Send this turn's requests as one multipart message. Never waits: the node may have
        gone since the check (no pipe left to queue on); then every one of them fails with
        ``NotConnected`` (none was sent)."""
        batch, self._outgoing = self._outgoing, []
        if not batch:
            return
        if self._closed:
            self._unsent(batch)
            return
        try:
            sent = asyncio.ensure_future(
                self._socket.send_multipart([data for _, data in batch], zmq.NOBLOCK))
        except zmq.ZMQError:  # (Again: no live connection)
            self._unsent(batch)
            return
        sent.add_done_callback(lambda f: self._unsent(batch) if f.cancelled()
                               or f.exception() is not None else None)

    def _unsent(self, batch: list[tuple[int, bytes]]) -> None:
        for request_id, _ in batch:
            fut = self._waiting.get(request_id)
            if fut is not None and not fut.done():
                fut.set_exception(NotConnected(f"connection to {self.address} lost before "
                                               "sending"))

    async def _read(self) -> None:
        sock = self._socket
        while True:
            data = await sock.recv()
            try:
                resp = decode_response(data)
            except DecodeError:
                continue
            fut = self._waiting.pop(resp.request_id, None)
            if fut is not None and not fut.done():
                fut.set_result(resp)

    async def close(self) -> None:
        """Stop reading, fail what is still waiting, close the socket."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            self._reader = None
        for fut in self._waiting.values():
            if not fut.done():  # sent, never answered: a write among them may yet apply
                fut.set_exception(TimeoutError(f"connection to {self.address} closed"))
        self._waiting.clear()
        self._socket.close(linger=0)
