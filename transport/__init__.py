"""Node-to-node and client transport over ZeroMQ, with a validating msgpack wire codec.

See ``zmq_transport`` for the threading model and ``codec`` for the wire format.
"""

from .client import ClientConnection
from .client_protocol import (BadRequest, ClientOp, ClientRequest, ClientResponse, ClientStatus,
                              decode_request, decode_response, encode_request, encode_response)
from .codec import DecodeError, Heartbeat, ReplicaGone, SnapshotAck, SnapshotChunk, decode_frame
from .counters import PeerCounters, TransportCounters
from .faults import FaultInjector, LinkFault
from .handler import Handler, Responder
from .keys import (ClientCurve, CurveConfig, generate_keypair, load_client_curve, load_keypair,
                   load_public_key)
from .zmq_transport import Transport

__all__ = [
    "ClientConnection", "BadRequest", "ClientOp", "ClientRequest", "ClientResponse",
    "ClientStatus", "decode_request", "decode_response", "encode_request", "encode_response",
    "DecodeError", "Heartbeat", "ReplicaGone", "SnapshotAck", "SnapshotChunk", "decode_frame", "PeerCounters",
    "TransportCounters", "FaultInjector", "LinkFault", "Handler", "Responder", "CurveConfig",
    "ClientCurve", "load_client_curve",
    "generate_keypair", "load_keypair", "load_public_key", "Transport",
]
