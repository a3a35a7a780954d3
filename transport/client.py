"""A minimal synchronous client of a node's client endpoint (the Python client builds on it).

One DEALER socket to one node; requests carry increasing ids and a response whose id does not
match (a late answer to a request that timed out) is discarded. The socket is ``IMMEDIATE``: a
request to a node with no live connection (down, or not started) fails at once rather than
waiting in a queue for the node to come back. Not thread-safe: one connection per thread.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, TypeVar

import zmq

from .client_protocol import ClientOp, ClientRequest, ClientResponse, decode_response, encode_request
from .codec import DecodeError

__all__ = ["ClientConnection", "NotConnected", "connect_client_socket"]

S = TypeVar("S", bound=zmq.Socket[Any])


def connect_client_socket(sock: S, address: str, server_key: bytes | None,
                          keypair: tuple[bytes, bytes] | None) -> S:
    """Set up a client's DEALER socket (no linger, ``IMMEDIATE``, CURVE if ``server_key``) and
    connect it to the node at ``address``; shared by the blocking and asyncio connections."""
    sock.linger = 0
    sock.setsockopt(zmq.IMMEDIATE, 1)
    if server_key is not None:
        if keypair is None:
            raise ValueError("a CURVE connection needs the client's key pair")
        sock.curve_serverkey = server_key
        sock.curve_publickey, sock.curve_secretkey = keypair
    sock.connect(f"tcp://{address}")
    return sock


class NotConnected(TimeoutError):
    """The request was not sent: no live connection to the node (down, or not started)."""


class ClientConnection:
    """Requests to the node at ``address`` (``host:port``).

    With CURVE, ``server_key`` is the node's public key and ``keypair`` this client's
    (public, secret) pair, which the node must list in ``CurveConfig.client_keys``.
    """

    def __init__(self, address: str, server_key: bytes | None = None,
                 keypair: tuple[bytes, bytes] | None = None, connect_wait: float = 0.25) -> None:
        self.address = address
        self._connect_wait_ms = int(connect_wait * 1000)
        self._ctx = zmq.Context()
        self._socket = connect_client_socket(self._ctx.socket(zmq.DEALER), address, server_key,
                                             keypair)
        self._ids = itertools.count(1)

    def request(self, op: ClientOp, args: tuple[Any, ...], timeout: float = 5.0,
                client_id: int = 0, seq: int = 0, register: bool = True) -> ClientResponse:
        """Send one request and wait for its response; raises ``NotConnected`` if it could not
        be sent, ``TimeoutError`` if it was sent and not answered in time.

        ``(client_id, seq)`` is a write's command id: reuse it when retrying the same write,
        with ``register`` False once an attempt of it went unanswered.
        """
        request_id = next(self._ids)
        # Writable only while connected (IMMEDIATE): give a fresh or restarting connection a
        # moment, and fail fast for a node that is not there.
        if not self._socket.poll(min(self._connect_wait_ms, int(timeout * 1000)), zmq.POLLOUT):
            raise NotConnected(f"not connected to {self.address}")
        try:
            # Never block: the node may have gone between the check and the send (no pipe left).
            self._socket.send(encode_request(ClientRequest(request_id, op, args, client_id, seq, register)),
                              zmq.NOBLOCK)
        except zmq.Again:
            raise NotConnected(f"connection to {self.address} lost before sending") from None
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not self._socket.poll(int(left * 1000) + 1):
                break
            try:
                response = decode_response(self._socket.recv())
            except DecodeError:
                continue
            if response.request_id == request_id:
                return response
        raise TimeoutError(f"no response to {op.name} request {request_id} within {timeout}s")

    def close(self) -> None:
        self._ctx.destroy(linger=0)

    def __enter__(self) -> ClientConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
