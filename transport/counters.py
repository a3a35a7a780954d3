"""Transport counters: plain ints, written only by the transport thread, read by anyone.

Readers on other threads see values that may be a few frames old, never torn (each is one int).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["PeerCounters", "TransportCounters"]


@dataclass(slots=True)
class PeerCounters:
    """Traffic with one peer node. A message is a raft message or a heartbeat."""

    frames_sent: int = 0
    messages_sent: int = 0
    bytes_sent: int = 0
    frames_received: int = 0
    messages_received: int = 0
    bytes_received: int = 0
    #: messages dropped because the peer was unreachable, slow (send queue full) or unknown.
    messages_dropped: int = 0
    #: messages dropped or delayed by fault injection.
    messages_faulted: int = 0
    #: messages dropped because no frame could carry them within the peer's receive limit.
    messages_oversize: int = 0


@dataclass(slots=True)
class TransportCounters:
    """Node-wide counters; ``peers`` maps node id -> its counters, created on first traffic."""

    peers: dict[int, PeerCounters] = field(default_factory=dict)
    decode_errors: int = 0
    #: frames whose payload sender differs from the CURVE-authenticated node.
    auth_mismatches: int = 0
    client_requests: int = 0
    client_responses: int = 0
    #: responses to clients that had gone away.
    client_responses_dropped: int = 0

    def peer(self, node_id: int) -> PeerCounters:
        """The counters of ``node_id``, created if absent (transport thread only)."""
        c = self.peers.get(node_id)
        if c is None:
            c = self.peers[node_id] = PeerCounters()
        return c
