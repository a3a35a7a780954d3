"""Answering a STATUS request without blocking any actor: the store asks every replica for its
status with a callback, and the last callback to arrive sends the combined answer."""

from __future__ import annotations

import threading
from typing import Any

from multiraft.transport.client_protocol import ClientStatus
from multiraft.transport.handler import Responder

from .messages import ReportStatus

__all__ = ["StatusCollector"]


class StatusCollector:
    """Invariant: ``_waiting`` counts the replicas that have not answered; the response is sent
    once, when it reaches zero. Replicas answer on their own threads, hence the lock."""

    __slots__ = ("_responder", "_node", "_directory", "_ranges", "_waiting", "_lock")

    def __init__(self, responder: Responder, node: dict[str, Any], waiting: int,
                 directory: list[dict[str, Any]] | None = None) -> None:
        self._responder = responder
        self._node = node
        self._directory = directory or []
        self._ranges: list[dict[str, Any]] = []
        self._waiting = waiting
        self._lock = threading.Lock()

    @classmethod
    def start(cls, store: Any, responder: Responder, include_ranges: bool = True) -> None:
        """Ask every replica of ``store`` (a StoreActor, on its own thread) for its status
        (none if not ``include_ranges``: the node's own part answers at once)."""
        replicas = list(store.replicas.values()) if include_ranges else []
        c = cls(responder, store.node_status(), len(replicas), store.membership.status())
        if not replicas:
            c._send()
            return
        msg = ReportStatus(c.add)
        for r in replicas:
            r.tell(msg)

    def add(self, range_status: dict[str, Any]) -> None:
        with self._lock:
            self._ranges.append(range_status)
            self._waiting -= 1
            done = self._waiting == 0
        if done:
            self._send()

    def _send(self) -> None:
        self._ranges.sort(key=lambda r: r["range_id"])
        self._responder.respond(ClientStatus.OK, {"node": self._node, "ranges": self._ranges,
                                                  "directory": self._directory})
