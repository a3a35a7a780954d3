"""The store's channel for outgoing heartbeats: replicas post, the store drains once per tick.

This is a mailbox, not shared state: replicas only append (``deque.append`` is atomic), and only
the store actor drains it, when the timer says a heartbeat interval passed. Posting is one
append, so coalescing costs a replica nothing per heartbeat; draining yields one list per
destination node: one frame per node pair per interval, however many ranges they share.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from multiraft.transport.codec import Heartbeat

from .counters import StoreCounters
from .routing import group_pairs

__all__ = ["CoalescedHeartbeats"]


class CoalescedHeartbeats:
    __slots__ = ("_heartbeats", "_responses")

    def __init__(self) -> None:
        self._heartbeats: deque[tuple[int, Heartbeat]] = deque()
        self._responses: deque[tuple[int, Heartbeat]] = deque()

    def post(self, node_id: int, hb: Heartbeat) -> None:
        self._heartbeats.append((node_id, hb))

    def post_response(self, node_id: int, hb: Heartbeat) -> None:
        self._responses.append((node_id, hb))

    def drain(self) -> tuple[dict[int, list[Heartbeat]], dict[int, list[Heartbeat]]]:
        """(heartbeats, responses) per destination node, everything posted so far."""
        return _drain(self._heartbeats), _drain(self._responses)

    def flush(self, transport: Any, peers: list[int], counters: StoreCounters) -> None:
        """Send what was posted: one heartbeat frame to every peer (empty frames are the node's
        liveness ping) and one response frame to each node that has responses."""
        hbs, resps = self.drain()
        frames = [(node, hbs.pop(node, [])) for node in peers]
        frames.extend(hbs.items())  # nodes not (yet) in the peer list
        for node, lst in frames:
            transport.send_heartbeats(node, lst)
            counters.heartbeat_frames_sent += 1
            counters.heartbeats_sent += len(lst)
            counters.heartbeat_frame_size.observe(len(lst))
        for node, lst in resps.items():
            transport.send_heartbeat_responses(node, lst)
            counters.heartbeat_responses_sent += len(lst)


def _drain(q: deque[tuple[int, Heartbeat]]) -> dict[int, list[Heartbeat]]:
    # Only what is there now (appends may race the drain); later posts wait for the next one.
    popleft = q.popleft
    return group_pairs(popleft() for _ in range(len(q)))
