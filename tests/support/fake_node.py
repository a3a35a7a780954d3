"""A stand-in for a node's client endpoint, answering by a script: for tests of what a client
does with each status (retry, redirect, back off, give up, and which error it raises).

``FakeNode(answer)`` binds a ROUTER on 127.0.0.1 and runs a thread that answers STATUS as node
``node_id`` holding one range over the whole key space (led by ``leader``), and every other
request with ``answer(request)``: a ``(status, result)`` pair, or None to never answer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

import zmq

from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientResponse,
                                                 ClientStatus, decode_request, encode_response)

Answer = Callable[[ClientRequest], "tuple[ClientStatus, object] | None"]


class FakeNode:
    def __init__(self, answer: Answer, node_id: int = 1, leader: int = 1) -> None:
        self.answer = answer
        self.node_id, self.leader = node_id, leader
        self.requests: list[ClientRequest] = []  # every non-STATUS request, in arrival order
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.linger = 0
        port = self._sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"127.0.0.1:{port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fake-node-{node_id}", daemon=True)
        self._thread.start()

    def status(self) -> dict[str, object]:
        return {"node": {"node_id": self.node_id},
                "ranges": [{"range_id": 1, "start_key": b"", "end_key": b"", "generation": 0,
                            "leader": self.leader,
                            "state": "leader" if self.leader == self.node_id else "follower"}]}

    def _serve(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(50):
                continue
            routing_id, data = self._sock.recv_multipart()
            req = decode_request(data)
            if req.op is ClientOp.STATUS:
                out: tuple[ClientStatus, object] | None = (ClientStatus.OK, self.status())
            else:
                self.requests.append(req)
                out = self.answer(req)
            if out is not None:
                resp = ClientResponse(req.request_id, req.op, out[0], out[1])
                self._sock.send_multipart((routing_id, encode_response(resp)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._ctx.destroy(linger=0)

    def __enter__(self) -> FakeNode:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
