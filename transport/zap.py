"""A ZAP handler (ZeroMQ RFC 27) that admits only listed CURVE public keys.

It runs on the transport thread, polled like any other socket (libzmq waits for ZAP replies
asynchronously, so one thread can serve both). Node keys are admitted on the ``node`` domain
with the node's id as ZAP User-Id: that id, read back from each received frame's "User-Id"
property, is the only sender identity the transport trusts. Client keys are admitted on the
``client`` domain.
"""

from __future__ import annotations

import logging

import zmq
from zmq.utils import z85

from .keys import CurveConfig

__all__ = ["NODE_DOMAIN", "CLIENT_DOMAIN", "ZapHandler"]

NODE_DOMAIN = b"node"
CLIENT_DOMAIN = b"client"
_ZAP_ENDPOINT = "inproc://zeromq.zap.01"

log = logging.getLogger(__name__)


class ZapHandler:
    """Owns the context's ZAP socket. Must be bound before any CURVE server socket binds,
    or libzmq would admit every key."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], curve: CurveConfig) -> None:
        # raw 32-byte key -> User-Id; ZAP hands us raw keys.
        self._nodes = {z85.decode(k): str(node_id).encode() for node_id, k in curve.node_keys.items()}
        self._clients = {z85.decode(k) for k in curve.client_keys}
        self.socket = ctx.socket(zmq.REP)
        self.socket.linger = 0
        self.socket.bind(_ZAP_ENDPOINT)

    def add_node(self, node_id: int, public_key: bytes) -> None:
        """Admit one more node (transport thread only)."""
        self._nodes[z85.decode(public_key)] = str(node_id).encode()

    def handle(self) -> None:
        """Answer every pending ZAP request without blocking."""
        while True:
            try:
                request = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.socket.send_multipart(self._reply(request))

    def _reply(self, request: list[bytes]) -> list[bytes]:
        version, request_id, domain, address, _identity, mechanism, *credentials = request
        user_id = None
        if mechanism == b"CURVE" and len(credentials) == 1:
            key = credentials[0]
            if domain == NODE_DOMAIN:
                user_id = self._nodes.get(key)
            elif domain == CLIENT_DOMAIN and key in self._clients:
                user_id = b"client"
        if user_id is None:
            log.warning("rejected %s key %s from %s", domain.decode(errors="replace"),
                        z85.encode(credentials[0]).decode() if credentials and len(credentials[0]) == 32
                        else "?", address.decode(errors="replace"))
            return [version, request_id, b"400", b"key not listed", b"", b""]
        return [version, request_id, b"200", b"OK", user_id, b""]
