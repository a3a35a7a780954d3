"""``Client``: read and write keys of a multiraft cluster.

It learns which node leads which range (a STATUS per node, then leader hints), sends each
request to the leader of its key's range, follows NOT_LEADER hints, and retries a write with the
same command id (client id, sequence number), so a write the cluster received twice is still
applied once; ``multiraft.attempts`` holds those rules (shared with ``multiraft.aio.Client``).
The admin operations on a range by id (``change_replicas``, ``transfer_leader``) find the
range's start key in the nodes' STATUS answers (``range_start``) and go the same way, as a write
to that key; a node operation (``decommission``) goes to any node (``NodeAttempts``). Those
sans-I/O helpers live here and are shared with the asyncio client too.
Thread-safe: each thread gets its own connections and its own client session (the state machine
keeps one sequence per client id, so a session has one write in flight).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from multiraft.transport.client import ClientConnection, NotConnected
from multiraft.transport.client_protocol import (DEFAULT_MAX_COMMAND_BYTES, ClientOp,
                                                 ClientResponse, ClientStatus, WireDescriptor)
from multiraft.transport.keys import ClientCurve

from .attempts import Attempts, ClientRouting, ScanCursor
from .errors import ClientError, Refused, Timeout, Unavailable, UnknownRange

__all__ = ["Client", "new_client_id", "as_bytes", "REPLICA_CHANGES", "DECOMMISSION_STATES",
           "change_replicas_args", "range_start", "NodeAttempts"]

#: The kinds of CHANGE_REPLICAS, and which nodes each names: (from_node, to_node)
REPLICA_CHANGES = {"add": (False, True), "remove": (True, False), "move": (True, True)}
#: The states DECOMMISSION sets ("active" takes a decommissioning node back)
DECOMMISSION_STATES = ("decommissioning", "decommissioned", "active")


def as_bytes(v: bytes | str) -> bytes:
    """A key or value as bytes (str is encoded as UTF-8)."""
    return v.encode() if isinstance(v, str) else v


def new_client_id() -> int:
    """A fresh client session id (random, never 0: 0 opts out of deduplication)."""
    return random.SystemRandom().getrandbits(62) + 1


def check_curve(addresses: list[str], curve: ClientCurve | None) -> None:
    if curve is not None and (missing := set(addresses) - set(curve.server_keys)):
        raise ValueError(f"no server key for {sorted(missing)}")


def parse_addresses(addresses: list[str] | str) -> list[str]:
    if isinstance(addresses, str):
        addresses = addresses.split(",")
    out = [a.strip() for a in addresses if a.strip()]
    if not out:
        raise ValueError("a client needs at least one node address")
    return out


def change_replicas_args(kind: str, from_node: int, to_node: int,
                         expected_conf_ver: int) -> tuple[int, str, int, int]:
    """CHANGE_REPLICAS' args after the key and range id: ``(expected_conf_ver, kind, from_node,
    to_node)``. Raises ``ValueError`` for an unknown kind, or a node the kind needs left 0 (or
    one it does not take given), before anything is sent."""
    needs = REPLICA_CHANGES.get(kind)
    if needs is None:
        raise ValueError(f"replica change {kind!r}: expected one of {', '.join(REPLICA_CHANGES)}")
    for name, node, needed in (("from_node", from_node, needs[0]), ("to_node", to_node, needs[1])):
        if needed != (node > 0) or node < 0:
            raise ValueError(f"replica change {kind!r} {'needs' if needed else 'takes no'} "
                             f"{name} (got {node})")
    return expected_conf_ver, kind, from_node, to_node


def range_start(range_id: int, answers: Iterable[tuple[str, Mapping[str, Any] | None]]) -> bytes:
    """The start key of range ``range_id`` by its newest descriptor (highest generation, then
    conf version) in the STATUS answers ``(address, answer or None if it did not answer)``.
    (A split keeps a range's start key, so a lagging replica gives the same one; the newest
    wins in case a change ever moves it.)

    Raises ``UnknownRange`` if every address answered and none describes the range,
    ``Unavailable`` if some did not answer (the range may live there) or none did."""
    answers = list(answers)
    silent = [addr for addr, st in answers if st is None]
    entries = [r for _, st in answers if st is not None for r in st["ranges"]
               if r["range_id"] == range_id and r.get("start_key") is not None]
    if entries:
        newest = max(entries, key=lambda r: (r.get("generation") or 0, r.get("conf_ver") or 0))
        start: bytes = newest["start_key"]
        return start
    if silent:
        raise Unavailable(f"range {range_id}: not described by the nodes that answered "
                          f"(no answer from {', '.join(silent)})")
    raise UnknownRange(f"range {range_id}: no such range on "
                       f"{', '.join(addr for addr, _ in answers)}", range_id)


class NodeAttempts:
    """One node operation's attempts (DECOMMISSION: no range involved, any node answers): the
    addresses in turn until one answers OK, within ``timeout``. The driver loops as for
    ``multiraft.attempts.Attempts``::

        while not attempts.expired():
            send to attempts.target, wait at most attempts.try_timeout()
            no answer -> attempts.unanswered(sent)
            answer    -> if attempts.answered(resp): return attempts.result
                         pause attempts.pause seconds
        raise attempts.give_up()

    ``REFUSED`` ends it with ``Refused``; any other answer tries the next address (pausing
    after each full round). Time up: ``Timeout`` if a request went unanswered after it was sent
    (it may have applied), else ``Unavailable`` (nothing applied)."""

    __slots__ = ("op", "args", "what", "timeout", "deadline", "target", "result", "pause", "in_doubt",
                 "_addresses", "_rotation", "_per_try", "_misses", "_refusal")

    def __init__(self, op: ClientOp, args: tuple[Any, ...], what: str, addresses: list[str],
                 timeout: float) -> None:
        self.op, self.args, self.what, self.timeout = op, args, what, timeout
        self.deadline = time.monotonic() + timeout
        self._addresses = addresses
        self._rotation = itertools.cycle(addresses)
        self.target = next(self._rotation)
        self._per_try = max(0.5, timeout / 4)
        self._misses = 0
        self._refusal: ClientError | None = None
        self.result: Any = None
        self.pause = 0.0
        self.in_doubt = False

    @classmethod
    def decommission(cls, node_id: int, state: str, addresses: list[str],
                     timeout: float) -> NodeAttempts:
        """DECOMMISSION ``(node_id, state)``; ``ValueError`` for a state not in
        ``DECOMMISSION_STATES``."""
        if state not in DECOMMISSION_STATES:
            raise ValueError(f"decommission state {state!r}: expected one of "
                             f"{', '.join(DECOMMISSION_STATES)}")
        return cls(ClientOp.DECOMMISSION, (node_id, state),
                   f"DECOMMISSION node {node_id} {state}", addresses, timeout)

    def expired(self) -> bool:
        return self.deadline - time.monotonic() <= 0

    def try_timeout(self) -> float:
        return max(0.0, min(self.deadline - time.monotonic(), self._per_try))

    def unanswered(self, sent: bool) -> None:
        """No answer from the target (``sent``: the request left, so it may have applied)."""
        self.in_doubt = self.in_doubt or sent
        self._refusal = None if sent else Unavailable(f"{self.what}: not connected to "
                                                      f"{self.target}")
        self._next()

    def answered(self, resp: ClientResponse) -> bool:
        """Take an answer; True if the operation is done (its result in ``result``)."""
        if resp.status is ClientStatus.OK:
            self.result = resp.result
            return True
        if resp.status is ClientStatus.REFUSED:
            raise Refused(f"{self.what}: {resp.result}")
        self._refusal = Unavailable(f"{self.what}: {self.target} answered "
                                    f"{resp.status.name} {resp.result!r}")
        self._next()
        return False

    def give_up(self) -> ClientError:
        if self._refusal is not None and not self.in_doubt:
            return self._refusal
        return Timeout(f"{self.what}: no answer within {self.timeout}s "
                       f"({'outcome unknown' if self.in_doubt else 'not served'})")

    def _next(self) -> None:
        self.target = next(self._rotation)
        self._misses += 1
        rounds, rem = divmod(self._misses, len(self._addresses))
        self.pause = 0.0 if rem else min(0.05 * rounds, 0.5,
                                         max(0.0, self.deadline - time.monotonic()))


class Client:
    """A client of the cluster whose nodes' client endpoints are ``addresses`` (a list or a
    comma-separated string of ``host:port``). ``timeout`` bounds each operation, retries
    included; past it, ``Timeout`` (outcome unknown). ``curve``
    (``multiraft.transport.keys.ClientCurve``, e.g. from ``load_client_curve``) talks CurveZMQ
    to nodes started with keys. A write over ``max_command_bytes`` (key and values; keep it at
    most the nodes' setting) raises ``CommandTooLarge`` before it is sent."""

    def __init__(self, addresses: list[str] | str, timeout: float = 5.0, *,
                 curve: ClientCurve | None = None,
                 max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES) -> None:
        self.addresses = parse_addresses(addresses)
        self.timeout = timeout
        self.curve = curve
        check_curve(self.addresses, curve)
        self._local = threading.local()
        self._all_conns: list[ClientConnection] = []
        self._conns_lock = threading.Lock()
        self._routing = ClientRouting(self.addresses, max_command_bytes)
        self._closed = False

    # -- the API --

    def put(self, key: bytes | str, value: bytes | str) -> None:
        k = as_bytes(key)
        self._call(ClientOp.PUT, (k, as_bytes(value)), k, write=True)

    def get(self, key: bytes | str) -> bytes | None:
        k = as_bytes(key)
        value: bytes | None = self._call(ClientOp.GET, (k,), k, write=False)
        return value

    def delete(self, key: bytes | str) -> bool:
        """Delete ``key``; whether it existed."""
        k = as_bytes(key)
        existed: bool = self._call(ClientOp.DELETE, (k,), k, write=True)
        return existed

    def cas(self, key: bytes | str, expected: bytes | str | None, new: bytes | str) -> bool:
        """Set ``key`` to ``new`` if its value is ``expected`` (None: if absent); whether it did."""
        k = as_bytes(key)
        exp = None if expected is None else as_bytes(expected)
        swapped, _ = self._call(ClientOp.CAS, (k, exp, as_bytes(new)), k, write=True)
        return bool(swapped)

    def split(self, key: bytes | str) -> tuple[WireDescriptor, WireDescriptor]:
        """Split the range holding ``key`` at ``key``: the (left, right) descriptors, each
        ``(range_id, start, end (b"" = no end), generation)``, once the split has applied on
        the leader's node. ``Refused`` if ``key`` already starts a range."""
        k = as_bytes(key)
        left, right = self._call(ClientOp.SPLIT, (k,), k, write=True)
        return left, right

    def scan(self, start: bytes | str, end: bytes | str | None = None,
             limit: int | None = None) -> list[tuple[bytes, bytes]]:
        """The pairs with ``start <= key < end`` in key order, across ranges (at most ``limit``)."""
        cursor = ScanCursor(as_bytes(start), None if end is None else as_bytes(end), limit)
        while (args := cursor.next_args()) is not None:
            cursor.add(*self._call(ClientOp.SCAN, args, args[0], write=False))
        return cursor.pairs

    def change_replicas(self, range_id: int, kind: str, from_node: int = 0, to_node: int = 0,
                        expected_conf_ver: int = 0) -> dict[str, Any]:
        """Change the replicas of range ``range_id``: ``kind`` "add" (a replica on
        ``to_node``), "remove" (the one on ``from_node``) or "move" (from ``from_node`` to
        ``to_node``), if the range's conf version is still ``expected_conf_ver`` (0: whatever
        it is). Returns the range's RANGE_INFO map (``transport.client_protocol``) once the
        change applied and the range left any joint configuration. ``UnknownRange`` if no node
        describes the range, ``Refused`` if the cluster refused the change (unknown node, the
        node already holds / does not hold a replica, no voter would remain, another change
        in progress), ``ValueError`` for a kind without the nodes it needs."""
        return self._range_op(ClientOp.CHANGE_REPLICAS, range_id, change_replicas_args(
            kind, from_node, to_node, expected_conf_ver))

    def add_replica(self, range_id: int, node_id: int) -> dict[str, Any]:
        """A replica of range ``range_id`` on node ``node_id`` (a voter once this returns)."""
        return self.change_replicas(range_id, "add", to_node=node_id)

    def remove_replica(self, range_id: int, node_id: int) -> dict[str, Any]:
        """Remove node ``node_id``'s replica of range ``range_id``."""
        return self.change_replicas(range_id, "remove", from_node=node_id)

    def move_replica(self, range_id: int, from_node: int, to_node: int) -> dict[str, Any]:
        """Move range ``range_id``'s replica on ``from_node`` to ``to_node``."""
        return self.change_replicas(range_id, "move", from_node, to_node)

    def transfer_leader(self, range_id: int, node_id: int) -> dict[str, Any]:
        """Make node ``node_id`` lead range ``range_id``: its RANGE_INFO map once it does (at
        once if it already does). ``UnknownRange``; ``Refused`` for an unknown node, one
        without a voter of the range, or a target whose log lags."""
        return self._range_op(ClientOp.TRANSFER_LEADER, range_id, (node_id,))

    def decommission(self, node_id: int, state: str = "decommissioning",
                     address: str | None = None) -> dict[str, Any]:
        """Set node ``node_id``'s state in the node directory (``DECOMMISSION_STATES``): its
        directory record once a node took it. Sent to ``address``, else to the client's
        addresses in turn (any node answers). ``Refused`` if the cluster refused it."""
        attempts = NodeAttempts.decommission(node_id, state,
                                             [address] if address else self.addresses,
                                             self.timeout)
        while not attempts.expired():
            try:
                resp = self._conn(attempts.target).request(
                    attempts.op, attempts.args, timeout=attempts.try_timeout())
            except NotConnected:
                attempts.unanswered(sent=False)
                continue
            except TimeoutError:
                attempts.unanswered(sent=True)
                continue
            if attempts.answered(resp):
                record: dict[str, Any] = attempts.result
                return record
            if attempts.pause:
                time.sleep(attempts.pause)
        raise attempts.give_up()

    def status(self, address: str | None = None, ranges: bool = True,
               timeout: float | None = None) -> dict[str, Any]:
        """A node's status (the first address's by default), within ``timeout`` seconds (default:
        the client's)."""
        resp = self._conn(address or self.addresses[0]).request(
            ClientOp.STATUS, ({"ranges": ranges},),
            timeout=self.timeout if timeout is None else timeout)
        if resp.status != ClientStatus.OK:
            raise ClientError(f"status: {resp.status.name}: {resp.result}")
        status: dict[str, Any] = resp.result
        return status

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            conns, self._all_conns = self._all_conns, []
        for c in conns:
            c.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --

    def _conn(self, addr: str) -> ClientConnection:
        if self._closed:
            raise ClientError("client is closed")
        conns = getattr(self._local, "conns", None)
        if conns is None:
            conns = self._local.conns = {}
        c: ClientConnection | None = conns.get(addr)
        if c is None:
            cv = self.curve
            c = conns[addr] = (ClientConnection(addr) if cv is None else ClientConnection(
                addr, cv.server_keys[addr], (cv.public_key, cv.secret_key)))
            with self._conns_lock:
                self._all_conns.append(c)
        return c

    def _next_command_id(self) -> tuple[int, int]:
        """(client id, seq) of this thread's session; seqs only grow within a session."""
        loc = self._local
        sess = getattr(loc, "session", None)
        if sess is None:
            sess = loc.session = [new_client_id(), 0]
        sess[1] += 1
        return sess[0], sess[1]

    def _discover(self, deadline: float) -> None:
        """Learn node ids and the ranges each node holds (their descriptors and leaders) from
        every node that answers in time; a key the cache still has no range for is looked up
        (LOOKUP)."""
        self._routing.discovered_at = time.monotonic()
        self._statuses(deadline)

    def _statuses(self, deadline: float) -> list[tuple[str, dict[str, Any] | None]]:
        """Every address's STATUS answer (None: none before ``deadline``, at most 1 s each),
        each also learned by the routing."""
        out: list[tuple[str, dict[str, Any] | None]] = []
        for addr in self.addresses:
            left = deadline - time.monotonic()
            resp = None
            if left > 0:
                try:
                    resp = self._conn(addr).request(ClientOp.STATUS, ({"ranges": True},),
                                                    timeout=min(left, 1.0))
                except TimeoutError:
                    pass
            if resp is not None and resp.status == ClientStatus.OK:
                self._routing.learn_status(addr, resp.result)
                out.append((addr, resp.result))
            else:
                out.append((addr, None))
        return out

    def _range_op(self, op: ClientOp, range_id: int, rest: tuple[Any, ...]) -> dict[str, Any]:
        """``op`` on range ``range_id``, args ``(start key, range_id, *rest)``: sent as a write
        to the range's start key (so its leader gets it, with a command id), all within the
        client's timeout."""
        deadline = time.monotonic() + self.timeout
        key = range_start(range_id, self._statuses(deadline))
        info: dict[str, Any] = self._call(op, (key, range_id, *rest), key, write=True,
                                          timeout=deadline - time.monotonic())
        return info

    def _call(self, op: ClientOp, args: tuple[Any, ...], key: bytes, write: bool,
              timeout: float | None = None) -> Any:
        """``op`` to ``key``'s range, retried within ``timeout`` (default: the client's)."""
        cid, seq = self._next_command_id() if write else (0, 0)
        attempts = Attempts(self._routing, op, args, key, write,
                            self.timeout if timeout is None else timeout)
        if self._routing.must_discover():
            self._discover(attempts.deadline)
            attempts.aim()
        while not attempts.expired():
            if self._closed:
                raise attempts.closed()
            if attempts.needs_lookup():
                try:
                    found = self._conn(attempts.target).request(
                        ClientOp.LOOKUP, (key,), timeout=attempts.try_timeout())
                except TimeoutError:  # (NotConnected too) nothing was sent that could apply
                    attempts.unanswered(sent=False)
                    continue
                attempts.looked_up(found)
            try:
                resp = self._conn(attempts.target).request(
                    op, args, timeout=attempts.try_timeout(), client_id=cid, seq=seq,
                    register=attempts.register)
            except NotConnected:
                attempts.unanswered(sent=False)
                continue
            except TimeoutError:
                attempts.unanswered(sent=True)
                continue
            if attempts.answered(resp):
                return attempts.result
            if attempts.rediscover:
                self._discover(attempts.deadline)
            if attempts.pause:
                time.sleep(attempts.pause)
        raise attempts.give_up()
