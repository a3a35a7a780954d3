"""How a client carries one operation to the cluster, without doing any I/O itself.

``ClientRouting`` is what a client remembers between operations (node addresses, the range
cache, which addresses recently did not answer); ``Attempts`` is one operation's retry loop as a
state machine: which address to try, how long to wait for it, what each answer means, and which
error to raise when time is up. The blocking ``Client`` and the asyncio ``multiraft.aio.Client``
drive the same two classes, so they retry, redirect and give up by the same rules:

- an answer ``OK`` ends the operation; ``REFUSED`` ends it with ``Refused`` (not applied);
- a write may open its session in the range (``register``) until an attempt went unanswered:
  a retry of that attempt must find the session that may have applied it, and if it is gone
  (``SESSION_EXPIRED``) the operation ends in ``SessionExpired``, a ``Timeout``;
- ``NOT_LEADER`` with a known leader goes there at once; other retryable answers try the next
  address, pausing after each full round (``BUSY`` backs off at once);
- time is up: ``Timeout`` if any attempt went unanswered after it was sent (it may have
  applied), else the typed refusal of the last answer (``NotLeader``, ``Unavailable``, ...),
  which means nothing was applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from multiraft.transport.client_protocol import (DEFAULT_MAX_COMMAND_BYTES, ClientOp,
                                                 ClientResponse, ClientStatus, command_bytes)

from .errors import (Busy, ClientError, CommandTooLarge, NotLeader, RangeKeyMismatch,
                     RangeBoundary, RangeNotFound, Refused, SessionExpired, Timeout, TooManySessions,
                     Unavailable)
from .routing import RangeCache

__all__ = ["ClientRouting", "Attempts", "ScanCursor", "Rotation"]

#: How long an address that did not answer is tried last (seconds).
SUSPECT_FOR = 2.0
#: Rediscover the cluster (STATUS of every node) at most this often (seconds).
REDISCOVER_AFTER = 1.0
#: The first pause after a BUSY answer; it doubles up to MAX_PAUSE.
BUSY_PAUSE = 0.01
MAX_PAUSE = 0.5


class Rotation(Iterator[str]):
    """Round robin over a list that may grow while it turns (a client learns node addresses
    from the STATUS directory): by index over the live list, so an address added later comes
    up in its turn (``itertools.cycle`` would keep replaying its first pass)."""

    __slots__ = ("_addresses", "_i")

    def __init__(self, addresses: list[str]) -> None:
        self._addresses = addresses
        self._i = -1

    def __next__(self) -> str:
        self._i = (self._i + 1) % len(self._addresses)
        return self._addresses[self._i]


class ClientRouting:
    """What a client knows between operations. Its cache is thread-safe; the rest is plain
    assignments (a stale read costs one extra attempt, never a wrong answer).

    ``addresses`` is the client's own list, grown in place with the client addresses a STATUS
    answer's node directory names (so one address is enough to reach the whole cluster; its
    discovery, iterating the same list, asks the new ones too); ``accept_address`` filters
    them (a CURVE client: only addresses it holds a server key for)."""

    def __init__(self, addresses: list[str],
                 max_command_bytes: int = DEFAULT_MAX_COMMAND_BYTES,
                 accept_address: Callable[[str], bool] | None = None) -> None:
        self.addresses = addresses
        self.accept_address = accept_address
        #: writes larger than this are refused before they are sent (the node checks too)
        self.max_command_bytes = max_command_bytes
        self.cache = RangeCache()
        self.suspect: dict[str, float] = {}  # address -> until when it is tried last
        self.discovered_at = 0.0

    def learn_status(self, addr: str, status: Mapping[str, Any]) -> None:
        """Take what a node's STATUS answer says of itself, of the ranges it holds and of the
        other nodes (its ``directory``: their client addresses, the ones not known yet added to
        ``addresses``)."""
        me = status["node"]["node_id"]
        self.cache.learn_node(me, addr)
        self.cache.learn_ranges(status["ranges"])
        for rec in status.get("directory") or ():
            node, client = rec.get("node_id"), rec.get("client_address")
            if node == me or not client or not isinstance(node, int) or not isinstance(client, str):
                continue
            if self.accept_address is not None and not self.accept_address(client):
                continue
            if self.cache.learn_node_if_unknown(node, client) and client not in self.addresses:
                self.addresses.append(client)

    def must_discover(self) -> bool:
        """Whether the client knows no node yet (it asks every node's STATUS first)."""
        return not self.cache.node_addrs

    def is_suspect(self, addr: str) -> bool:
        """Whether ``addr`` recently did not answer."""
        return self.suspect.get(addr, 0.0) > time.monotonic()

    def avoid_suspect(self, target: str, rotation: Iterator[str]) -> str:
        """``target``, unless it recently did not answer and another address has not."""
        for _ in range(len(self.addresses)):
            if not self.is_suspect(target):
                return target
            target = next(rotation)
        return target  # every address is suspect: try them anyway


class Attempts:
    """One operation's attempts. The driver loops::

        while not attempts.expired():
            send to attempts.target, wait at most attempts.try_timeout()
            no answer -> attempts.unanswered(sent)
            answer    -> if attempts.answered(resp): return attempts.result
                         pause attempts.pause seconds; if attempts.rediscover: refresh
        raise attempts.give_up()

    Invariant: ``in_doubt`` is True once a write was sent and not answered: from then on the
    operation can only end in success or ``Timeout``.
    """

    __slots__ = ("routing", "op", "key", "write", "timeout", "deadline", "target", "result",
                 "pause", "rediscover", "in_doubt", "_rotation", "_per_try", "_misses",
                 "_busy_pause", "_refusal", "_looked_up")

    def __init__(self, routing: ClientRouting, op: ClientOp, args: tuple[Any, ...], key: bytes,
                 write: bool, timeout: float) -> None:
        """Raises ``CommandTooLarge`` for a write over the routing's ``max_command_bytes``."""
        if write and (size := command_bytes(op, args)) > routing.max_command_bytes:
            raise CommandTooLarge(f"{op.name} {key[:64]!r}: {size} bytes of key and values, "
                                  f"over max_command_bytes ({routing.max_command_bytes})")
        self.routing = routing
        self.op, self.key, self.write, self.timeout = op, key, write, timeout
        self.deadline = time.monotonic() + timeout
        self._rotation = Rotation(routing.addresses)
        self.target = ""
        self.aim()
        self._per_try = max(0.5, timeout / 4)
        self._misses = 0
        self._busy_pause = BUSY_PAUSE
        self._refusal: ClientError | None = None
        self.result: Any = None
        self.pause = 0.0
        self.rediscover = False
        self.in_doubt = False
        self._looked_up: set[str] = set()  # addresses asked LOOKUP for the key

    def aim(self) -> None:
        """Target the key's cached leader if there is one, else the next address (call it
        again after the routing learned more, e.g. after a first discovery)."""
        r = self.routing
        self.target = r.avoid_suspect(r.cache.leader_addr(self.key) or next(self._rotation),
                                      self._rotation)

    def needs_lookup(self) -> bool:
        """Whether to ask the target where the key's range is (LOOKUP) before sending: the
        cache knows no range for the key, and this address was not asked yet."""
        return (self.routing.cache.lookup(self.key) is None
                and self.target not in self._looked_up)

    def looked_up(self, resp: ClientResponse) -> None:
        """Take the target's answer to LOOKUP: the descriptors it knows and its leader hint."""
        self._looked_up.add(self.target)
        if resp.status is ClientStatus.OK:
            descriptors, leader = resp.result
            cache = self.routing.cache
            cache.learn_descriptors(descriptors)
            if leader:
                cache.set_leader(self.key, leader)
            self.aim()

    @property
    def register(self) -> bool:
        """Whether the next attempt may open the client's session in the key's range."""
        return not self.in_doubt

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def expired(self) -> bool:
        return self.time_left() <= 0

    def try_timeout(self) -> float:
        """How long to wait for the answer of the attempt about to be sent."""
        return max(0.0, min(self.time_left(), self._per_try))

    def unanswered(self, sent: bool) -> None:
        """The attempt got no answer: ``sent`` says whether the request left (then a write may
        have applied). The next attempt goes to another address."""
        if sent:
            self.in_doubt = self.in_doubt or self.write
            self._refusal = None
        else:
            self._refusal = Unavailable(f"{self.op.name} {self.key!r}: not connected to "
                                        f"{self.target}")
        self.routing.suspect[self.target] = time.monotonic() + SUSPECT_FOR
        self.target = self.routing.avoid_suspect(next(self._rotation), self._rotation)
        self.pause, self.rediscover = 0.0, False

    def answered(self, resp: ClientResponse) -> bool:
        """Take an answer; True if the operation is done (its result in ``result``). Raises
        ``Refused`` for an answer that retrying cannot change."""
        st, routing = resp.status, self.routing
        self.pause, self.rediscover = 0.0, False
        if st is ClientStatus.OK:
            if self.op is ClientOp.SPLIT:  # the two halves: newer than what the cache holds
                routing.cache.learn_descriptors(resp.result)
            routing.cache.set_leader(self.key, routing.cache.node_of(self.target))
            self.result = resp.result
            return True
        if st is ClientStatus.REFUSED:
            raise Refused(f"{self.op.name} {self.key!r}: {resp.result}")
        if st is ClientStatus.TOO_LARGE:
            raise CommandTooLarge(f"{self.op.name} {self.key[:64]!r}: {resp.result}")
        if st is ClientStatus.SESSION_EXPIRED:
            raise SessionExpired(f"{self.op.name} {self.key!r}: outcome unknown: {resp.result}")
        if st is ClientStatus.SESSIONS_FULL:
            raise TooManySessions(f"{self.op.name} {self.key!r}: {resp.result}")
        if st is ClientStatus.RANGE_BOUNDARY:
            raise RangeBoundary(f"{self.op.name} {self.key!r}: {resp.result}")
        what = f"{self.op.name} {self.key!r}"
        if st is ClientStatus.NOT_LEADER:
            hinted = routing.cache.node_addrs.get(resp.result)
            self._refusal = NotLeader(f"{what}: no leader reachable (last hint: node "
                                      f"{resp.result or 'unknown'})", resp.result)
            if hinted is not None and hinted != self.target and not routing.is_suspect(hinted):
                routing.cache.set_leader(self.key, resp.result)
                self.target = hinted
                return False
            # (a hint to an address that just did not answer, e.g. the dead leader a lagging
            # follower still names, is not followed: the next address is tried instead)
            # A hint to a node we have no address for: our view of the cluster is old.
            self.rediscover = bool(resp.result) and hinted is None \
                and time.monotonic() - routing.discovered_at > REDISCOVER_AFTER
        elif st is ClientStatus.BUSY:
            self._refusal = Busy(f"{what}: {resp.result}")
            self.pause = min(self._busy_pause, MAX_PAUSE, max(0.0, self.time_left()))
            self._busy_pause *= 2
            return False  # the same leader, after the pause
        elif st is ClientStatus.RANGE_KEY_MISMATCH:
            self._refusal = RangeKeyMismatch(f"{what}: the key's range changed")
            routing.cache.learn_descriptors(resp.result)
            leader = routing.cache.leader_addr(self.key)
            if leader is not None and leader != self.target:
                self.target = leader
                return False
            self.rediscover = time.monotonic() - routing.discovered_at > REDISCOVER_AFTER
        elif st is ClientStatus.RANGE_NOT_FOUND:
            self._refusal = RangeNotFound(f"{what}: no range for the key on the nodes asked")
        else:  # UNAVAILABLE: the node cannot serve now (stopping, starting)
            self._refusal = Unavailable(f"{what}: {resp.result}")
        # No usable hint (an election is under way, or the node lacks the range): try the next
        # address, and pause after a full round so an election can finish.
        self._misses += 1
        tried, nxt = self.target, next(self._rotation)
        if nxt == tried and len(routing.addresses) > 1:
            # (the attempt went to a cached leader, not to the rotation's pick, so the rotation
            # may point at the address that just answered: a lagging node would be asked twice)
            nxt = next(self._rotation)
        self.target = routing.avoid_suspect(nxt, self._rotation)
        rounds, rem = divmod(self._misses, len(routing.addresses))
        if rem == 0:
            self.pause = min(0.05 * rounds, MAX_PAUSE, max(0.0, self.time_left()))
        return False

    def closed(self) -> ClientError:
        """The error for an operation whose client was closed under it."""
        if self.in_doubt:
            return Timeout(f"{self.op.name} {self.key!r}: client closed (outcome unknown)")
        return ClientError(f"{self.op.name} {self.key!r}: client is closed")

    def give_up(self) -> ClientError:
        """The error for an operation whose time is up."""
        if self._refusal is not None and not self.in_doubt:
            return self._refusal
        return Timeout(f"{self.op.name} {self.key!r}: no answer within {self.timeout}s "
                       f"({'outcome unknown' if self.write else 'not served'})")


class ScanCursor:
    """A scan across ranges: each answer covers at most one range, so the client continues
    after its last key, or at the range's end, until ``end`` or ``limit``."""

    __slots__ = ("pairs", "start", "end", "limit", "_done")

    #: pairs asked for per request
    PAGE = 10_000

    def __init__(self, start: bytes, end: bytes | None, limit: int | None) -> None:
        self.pairs: list[tuple[bytes, bytes]] = []
        self.start, self.end, self.limit = start, end or b"", limit
        self._done = limit is not None and limit <= 0

    def next_args(self) -> tuple[bytes, bytes, int] | None:
        """The next SCAN request's args, or None when the scan is complete."""
        if self._done:
            return None
        want = self.PAGE if self.limit is None else min(self.PAGE, self.limit - len(self.pairs))
        return self.start, self.end, want

    def add(self, pairs: tuple[tuple[bytes, bytes], ...], resume: bytes) -> None:
        """Take one answer to ``next_args()``: its pairs, and where the scan goes on (after
        its last pair if it was cut short, else the next range; b"": nothing more)."""
        self.pairs.extend(pairs)
        if self.limit is not None and len(self.pairs) >= self.limit:
            self._done = True
        elif not resume or (self.end and resume >= self.end):
            self._done = True
        else:
            self.start = resume
