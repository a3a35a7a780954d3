"""The client connections never block on a send: a node that goes away between the check that
the socket is writable and the send (the window a SIGKILLed leader opens) fails the request at
once with ``NotConnected`` instead of hanging the caller (CI hung 600 s in the failover test)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest
import zmq
import zmq.asyncio

from multiraft.transport.async_client import AsyncClientConnection
from multiraft.transport.client import ClientConnection, NotConnected
from multiraft.transport.client_protocol import ClientOp


def unused_address() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


@pytest.mark.timeout(10)
def test_sync_send_to_a_vanished_peer_fails_at_once() -> None:
    """Proves: when the writable check passes but no peer is left (the race), ``request``
    raises ``NotConnected`` within a second instead of blocking in ``send``."""
    with ClientConnection(unused_address()) as conn:
        sock: Any = conn._socket
        sock.poll = lambda *a, **k: zmq.POLLOUT  # the check saw a peer that is now gone
        t0 = time.monotonic()
        with pytest.raises(NotConnected):
            conn.request(ClientOp.GET, (b"k",), timeout=2.0)
        assert time.monotonic() - t0 < 1.0


@pytest.mark.timeout(10)
def test_async_send_to_a_vanished_peer_fails_at_once() -> None:
    """Proves: the asyncio connection, in the same race, raises ``NotConnected`` within a
    second and leaves no request waiting."""

    async def run() -> None:
        ctx = zmq.asyncio.Context()
        conn = AsyncClientConnection(ctx, unused_address())
        sock: Any = conn._socket
        sock.getsockopt = lambda *a: zmq.POLLOUT  # the check saw a peer that is now gone
        t0 = time.monotonic()
        try:
            with pytest.raises(NotConnected):
                await asyncio.wait_for(conn.request(ClientOp.GET, (b"k",), timeout=2.0), 5.0)
            assert time.monotonic() - t0 < 1.0
            assert not conn._waiting
        finally:
            await conn.close()
            ctx.destroy(linger=0)

    asyncio.run(run())
