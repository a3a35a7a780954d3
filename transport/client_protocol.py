"""The client protocol: requests and responses between a client and a node's client endpoint.

Frames use the node codec's envelope: ``[VERSION, CLIENT_REQUEST, request_id, op, args,
client_id, seq, register]`` and ``[VERSION, CLIENT_RESPONSE, request_id, op, status, result]``.
``(client_id, seq)`` is the command id of a write: a client retries a write with the same one,
and the state machine applies it once (``client_id=0`` opts out). ``register`` says the write
may open the client's session in its range: a client clears it on a retry of an attempt that
went unanswered, which must find the session that may have applied it (see
``storage.sessions``). The response repeats the op so
its result can be validated without the request at hand. Shapes (all keys/values are bytes):

=========  ====================================  ===================================
op         args                                  OK result
=========  ====================================  ===================================
PUT        (key, value)                          None
GET        (key,)                                value or None
DELETE     (key,)                                existed: bool
CAS        (key, expected|None, new|None)        (swapped: bool, current: bytes|None)
SCAN       (start, end (b"" = no end), limit)    (pairs, resume): the (key, value) pairs
                                                 within the serving range, at most ``limit``
                                                 and about ``max_scan_bytes`` of them, and
                                                 where the scan goes on (b"": nothing more)
STATUS     (opaque map,)                         opaque map
SPLIT      (key,)                                (left, right): the two descriptors, each
                                                 ``(range_id, start, end (b"" = no end),
                                                 generation)``
LOOKUP     (key,)                                (descriptors, leader): what the node's replica
                                                 of the key's range knows (its descriptor and
                                                 its latest splits' right halves) and the node
                                                 id it believes leads (0: none); any replica
                                                 answers, leader or not
CHANGE_    (key, range_id, expected_conf_ver,    RANGE_INFO map, once the change has applied
REPLICAS   kind ("add"|"remove"|"move"),          and the range left any joint config; sent
           from_node (0: none), to_node (0:       to the range's leader (``key``: its start
           none))                                key); ``expected_conf_ver`` 0: any
TRANSFER_  (key, range_id, to_node)              RANGE_INFO map, once ``to_node`` leads
LEADER
DECOMMIS-  (node_id, state ("decommissioning"|   the node's directory record (map); any node
SION        "decommissioned"|"active"))          answers (``store.node_directory``)
JOIN       (node_id, raft_address,               {"directory": [records], "cluster_id": str}
           client_address, cluster_id)           from any node; REFUSED if the id is another
                                                 node's or the cluster id differs
=========  ====================================  ===================================

RANGE_INFO: ``{"range_id", "start_key", "end_key" (None: no end), "generation", "conf_ver",
"replicas": [[node_id, replica_id, role]...] (role "voter"|"learner"|"voter_incoming"|
"voter_outgoing"), "voters": [node ids], "learners": [node ids], "leader": node id}``.

Non-OK statuses say what happened and what a client may do; none of them was applied:

==================  ==========================================  ==============================
status              result                                      the client
==================  ==========================================  ==============================
NOT_LEADER          leader hint: node id (0 if unknown)         retries at the hinted leader
RANGE_NOT_FOUND     None                                        retries on another node
REFUSED             message                                     gives up: never valid as sent
UNAVAILABLE         message                                     retries on another node
BUSY                message                                     backs off, then retries
RANGE_KEY_MISMATCH  the descriptors the replica knows, each     refreshes its range cache,
                    ``(range_id, start, end (b"" = no end),     retries
                    generation)``
TOO_LARGE           message                                     gives up: the command is over
                                                                ``max_command_bytes``
SESSION_EXPIRED     message                                     a retry: gives up, outcome
                                                                unknown (``SessionExpired``)
SESSIONS_FULL       message                                     gives up: too many sessions
RANGE_BOUNDARY      message                                     gives up: a SPLIT at a key that
                                                                already starts a range
==================  ==========================================  ==============================

A write's size, for ``max_command_bytes``, is ``command_bytes(op, args)``: the bytes of its key
and values. Both sides check it: the client before sending, the node before proposing.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Callable

import msgpack

from .codec import VERSION, DecodeError, FrameKind, unpack_envelope

__all__ = ["ClientOp", "NODE_OPS", "ClientStatus", "WireDescriptor", "command_bytes",
           "DEFAULT_MAX_COMMAND_BYTES", "ClientRequest", "ClientResponse", "BadRequest",
           "encode_request", "decode_request", "encode_response", "decode_response"]


class ClientOp(IntEnum):
    PUT = 1
    GET = 2
    DELETE = 3
    CAS = 4
    SCAN = 5
    STATUS = 6
    SPLIT = 7
    LOOKUP = 8
    CHANGE_REPLICAS = 9
    TRANSFER_LEADER = 10
    DECOMMISSION = 11
    JOIN = 12


#: the ops a node answers itself (no range involved; args[0] is not a key)
NODE_OPS = frozenset({ClientOp.DECOMMISSION, ClientOp.JOIN})


class ClientStatus(IntEnum):
    """A response's status (the module table says what each means for a client)."""

    OK = 0
    NOT_LEADER = 1
    RANGE_NOT_FOUND = 2
    REFUSED = 3
    UNAVAILABLE = 4
    BUSY = 5
    RANGE_KEY_MISMATCH = 6
    TOO_LARGE = 7
    SESSION_EXPIRED = 8
    SESSIONS_FULL = 9
    RANGE_BOUNDARY = 10


#: A write's largest size (key and values), as etcd's ``--max-request-bytes`` default: larger
#: ones are refused, never proposed (a raft entry must fit every peer's frame limit).
DEFAULT_MAX_COMMAND_BYTES = 1536 << 10


def command_bytes(op: ClientOp, args: tuple[Any, ...]) -> int:
    """The size of a request for ``max_command_bytes``: its keys and values, in bytes."""
    return sum(len(a) for a in args if type(a) is bytes)

#: A descriptor as RANGE_KEY_MISMATCH carries it: (range_id, start, end (b"" = no end), generation)
WireDescriptor = tuple[int, bytes, bytes, int]


@dataclass(slots=True)
class ClientRequest:
    """``request_id`` is chosen by the client and echoed in the response; ``(client_id, seq)``
    identifies a write across retries."""

    request_id: int
    op: ClientOp
    args: tuple[Any, ...]
    client_id: int = 0
    seq: int = 0
    register: bool = True


@dataclass(slots=True)
class ClientResponse:
    """``result``'s shape depends on ``status`` and ``op`` (see the module table)."""

    request_id: int
    op: ClientOp
    status: ClientStatus
    result: Any = None


class BadRequest(DecodeError):
    """A request whose id and op are valid but whose args are not: the server can answer it."""

    def __init__(self, request_id: int, op: ClientOp, message: str) -> None:
        super().__init__(message)
        self.request_id = request_id
        self.op = op


def _is_bytes(v: Any) -> bool:
    return type(v) is bytes


def _is_opt_bytes(v: Any) -> bool:
    return v is None or type(v) is bytes


def _is_uint(v: Any) -> bool:
    return type(v) is int and v >= 0


def _is_u64(v: Any) -> bool:
    return type(v) is int and 0 <= v < 1 << 64


def _is_map(v: Any) -> bool:
    return type(v) is dict


# op -> one check per argument; the tuple's length is the op's arity.
_ARG_CHECKS: dict[ClientOp, tuple[Callable[[Any], bool], ...]] = {
    ClientOp.PUT: (_is_bytes, _is_bytes),
    ClientOp.GET: (_is_bytes,),
    ClientOp.DELETE: (_is_bytes,),
    ClientOp.CAS: (_is_bytes, _is_opt_bytes, _is_opt_bytes),
    ClientOp.SCAN: (_is_bytes, _is_bytes, _is_uint),
    ClientOp.STATUS: (_is_map,),
    ClientOp.SPLIT: (_is_bytes,),
    ClientOp.LOOKUP: (_is_bytes,),
    ClientOp.CHANGE_REPLICAS: (_is_bytes, _is_u64, _is_u64, lambda v: v in ("add", "remove", "move"),
                               _is_u64, _is_u64),
    ClientOp.TRANSFER_LEADER: (_is_bytes, _is_u64, _is_u64),
    ClientOp.DECOMMISSION: (_is_u64, lambda v: v in ("decommissioning", "decommissioned", "active")),
    ClientOp.JOIN: (_is_u64, lambda v: type(v) is str, lambda v: type(v) is str,
                    lambda v: type(v) is str),
}


def _is_none(v: Any) -> bool:
    return v is None


def _is_cas_result(v: Any) -> bool:
    return type(v) is tuple and len(v) == 2 and type(v[0]) is bool and _is_opt_bytes(v[1])


def _is_pairs(v: Any) -> bool:
    return type(v) is tuple and all(
        type(p) is tuple and len(p) == 2 and type(p[0]) is bytes and type(p[1]) is bytes
        for p in v)


def _is_scan_result(v: Any) -> bool:
    return type(v) is tuple and len(v) == 2 and _is_pairs(v[0]) and type(v[1]) is bytes


def _is_bool(v: Any) -> bool:
    return type(v) is bool


_OK_RESULT_CHECKS: dict[ClientOp, Callable[[Any], bool]] = {
    ClientOp.PUT: _is_none,
    ClientOp.GET: _is_opt_bytes,
    ClientOp.DELETE: _is_bool,
    ClientOp.CAS: _is_cas_result,
    ClientOp.SCAN: _is_scan_result,
    ClientOp.STATUS: _is_map,
    ClientOp.SPLIT: lambda v: _is_descriptors(v) and len(v) == 2,
    ClientOp.LOOKUP: lambda v: (type(v) is tuple and len(v) == 2 and _is_descriptors(v[0])
                                and bool(v[0]) and _is_uint(v[1])),
    ClientOp.CHANGE_REPLICAS: _is_map,
    ClientOp.TRANSFER_LEADER: _is_map,
    ClientOp.DECOMMISSION: _is_map,
    ClientOp.JOIN: _is_map,
}

def _is_str(v: Any) -> bool:
    return type(v) is str


def _is_descriptors(v: Any) -> bool:
    return type(v) is tuple and all(
        type(d) is tuple and len(d) == 4 and _is_u64(d[0]) and type(d[1]) is bytes
        and type(d[2]) is bytes and _is_u64(d[3]) for d in v)


_STATUS_RESULT_CHECKS: dict[ClientStatus, Callable[[Any], bool]] = {
    ClientStatus.NOT_LEADER: _is_uint,
    ClientStatus.RANGE_NOT_FOUND: _is_none,
    ClientStatus.REFUSED: _is_str,
    ClientStatus.UNAVAILABLE: _is_str,
    ClientStatus.BUSY: _is_str,
    ClientStatus.RANGE_KEY_MISMATCH: _is_descriptors,
    ClientStatus.TOO_LARGE: _is_str,
    ClientStatus.SESSION_EXPIRED: _is_str,
    ClientStatus.SESSIONS_FULL: _is_str,
    ClientStatus.RANGE_BOUNDARY: _is_str,
}

_OPS = {int(o): o for o in ClientOp}
_STATUSES = {int(s): s for s in ClientStatus}


def _enum(table: dict[int, Any], v: Any, what: str) -> Any:
    found = table.get(v) if type(v) is int else None
    if found is None:
        raise DecodeError(f"malformed client message: bad {what} {v!r}")
    return found


def _fields(data: bytes | memoryview, kind: FrameKind, n: int) -> tuple[Any, ...]:
    got, fields = unpack_envelope(data)
    if got is not kind or len(fields) != n:
        raise DecodeError(f"malformed client message: expected {kind.name} with {n} fields")
    if not _is_uint(fields[0]):
        raise DecodeError("malformed client message: request id")
    return fields


def encode_request(req: ClientRequest) -> bytes:
    return msgpack.packb((VERSION, FrameKind.CLIENT_REQUEST, req.request_id, req.op, req.args,
                          req.client_id, req.seq, req.register))


def decode_request(data: bytes | memoryview) -> ClientRequest:
    """Decode and validate a request; raises ``DecodeError`` only."""
    request_id, op, args, client_id, seq, register = _fields(data, FrameKind.CLIENT_REQUEST, 6)
    op = _enum(_OPS, op, "op")
    if not (_is_u64(client_id) and _is_u64(seq) and type(register) is bool):
        raise BadRequest(request_id, op, "malformed client message: bad command id")
    checks = _ARG_CHECKS[op]
    if type(args) is not tuple or len(args) != len(checks) or not all(
            check(a) for check, a in zip(checks, args)):
        raise BadRequest(request_id, op, f"malformed client message: bad args for {op.name}")
    return ClientRequest(request_id, op, args, client_id, seq, register)


def encode_response(resp: ClientResponse) -> bytes:
    return msgpack.packb((VERSION, FrameKind.CLIENT_RESPONSE, resp.request_id, resp.op,
                          resp.status, resp.result))


def decode_response(data: bytes | memoryview) -> ClientResponse:
    """Decode and validate a response; raises ``DecodeError`` only."""
    request_id, op, status, result = _fields(data, FrameKind.CLIENT_RESPONSE, 4)
    op = _enum(_OPS, op, "op")
    status = _enum(_STATUSES, status, "status")
    check = _OK_RESULT_CHECKS[op] if status is ClientStatus.OK else _STATUS_RESULT_CHECKS[status]
    if not check(result):
        raise DecodeError(f"malformed client message: bad result for {op.name}/{status.name}")
    return ClientResponse(request_id, op, status, result)
