"""``SimClient``: a client of the simulated cluster that records what it saw.

Each client runs one operation at a time (put, get, cas, delete on a small pool of keys, so
operations on a key overlap), as the real ``Client`` would: it sends the request to the node
it believes leads the key's range, follows NOT_LEADER hints, retries elsewhere on the
statuses that say so, and retries a write that went unanswered with the same command id
(``client_id``, ``seq``), which the state machine applies once. Every operation goes into a
``HistoryRecorder`` on virtual time: answered, never applied (discarded), or outcome unknown
(it gave up), for the linearizability check at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from multiraft.check.history import HistoryRecorder, OpKind
from multiraft.transport.client_protocol import (ClientOp, ClientRequest, ClientStatus,
                                                 decode_response)

from .network import SimNetwork
from .world import World

__all__ = ["SimClient"]

_OPS = {OpKind.PUT: ClientOp.PUT, OpKind.GET: ClientOp.GET, OpKind.CAS: ClientOp.CAS,
        OpKind.DELETE: ClientOp.DELETE}
#: what an admin operation's caller is told at its end: (status, result), (None, None) if the
#: client gave up on it
AdminDone = Callable[[ClientStatus | None, Any], None]
#: the token of an operation not recorded in the history (an admin one)
_ADMIN = -1
#: statuses after which the request certainly had no effect and may go to another node
_ELSEWHERE = frozenset({ClientStatus.RANGE_NOT_FOUND, ClientStatus.UNAVAILABLE,
                        ClientStatus.BUSY, ClientStatus.RANGE_KEY_MISMATCH})


class SimClient:
    """Invariant: at most one operation in flight; ``_request_id`` names its current attempt
    (a late answer to an earlier attempt is ignored)."""

    def __init__(self, world: World, network: SimNetwork, client_id: int, nodes: Sequence[int],
                 keys: Sequence[bytes], recorder: HistoryRecorder, *, think: float = 0.02,
                 attempt_timeout: float = 1.0, give_up_after: float = 10.0,
                 sessions: bool = True) -> None:
        """``sessions=False``: the client opts out of deduplication (``client_id`` 0 on the
        wire), so it cannot retry a write that went unanswered: that write's outcome is
        unknown."""
        self.world = world
        self.network = network
        self.client_id = client_id
        self.nodes = list(nodes)
        self.keys = list(keys)
        self.recorder = recorder
        self.think = think
        self.attempt_timeout = attempt_timeout
        self.give_up_after = give_up_after
        self.sessions = sessions
        self.ops = 0
        #: operations answered OK
        self.answered = 0
        self.stopped = False
        self._seq = 0
        self._request_id = 0
        self._leader: dict[bytes, int] = {}
        #: the value this client last read or wrote, per key (what its CAS expects)
        self._seen: dict[bytes, bytes | None] = {}
        # the operation in flight: (kind, args, token, started, request)
        self._op: tuple[OpKind | ClientOp, tuple[Any, ...], int, float,
                        ClientRequest] | None = None
        #: admin operations that succeeded, by op
        self.admin_done: dict[ClientOp, int] = {}
        self._on_done: AdminDone | None = None

    def start(self) -> None:
        self.world.after(self.world.rng.expovariate(1 / self.think), self._next)

    def stop(self) -> None:
        """Issue no new operation (the one in flight still finishes or gives up)."""
        self.stopped = True

    @property
    def busy(self) -> bool:
        return self._op is not None

    def _next(self) -> None:
        if self.stopped:
            return
        rng = self.world.rng
        key = rng.choice(self.keys)
        r = rng.random()
        value = f"{self.client_id}.{self._seq + 1}".encode()
        args: tuple[Any, ...]
        if r < 0.4:
            kind, args = OpKind.PUT, (key, value)
        elif r < 0.75:
            kind, args = OpKind.GET, (key,)
        elif r < 0.9:  # mostly expecting the value last seen, so that some swap
            expected = None if rng.random() < 0.2 else self._seen.get(key)
            kind, args = OpKind.CAS, (key, expected, value)
        elif r < 0.95:
            kind, args = OpKind.DELETE, (key,)
        else:
            self._scan(*sorted(rng.sample(self.keys, 2)))
            return
        self.run(kind, args)

    def _scan(self, lo: bytes, hi: bytes) -> None:
        """SCAN [lo, hi]: recorded as a read of each of the clients' keys it covers, all
        between the scan's call and its answer (a linearizable scan reads each key at one
        point of that interval; each key's history is checked on its own)."""
        ops = self.ops
        tokens = [(k, self.recorder.begin(self.client_id, OpKind.GET, (k,)))
                  for k in self.keys if lo <= k <= hi]
        end = hi + b"\x00"
        self.run(ClientOp.SCAN, (lo, end, 1000),
                 lambda status, result: self._scanned(end, tokens, status, result))
        self.ops = ops + len(tokens)

    def _scanned(self, end: bytes, tokens: list[tuple[bytes, int]], status: ClientStatus | None,
                 result: Any) -> None:
        if status is not ClientStatus.OK:  # not answered: the reads constrain nothing
            for _, token in tokens:
                self.recorder.discard(token)
            return
        pairs, resume = result
        values = dict(pairs)
        covered = end if resume == b"" else min(resume, end)  # (one range's part of it)
        for k, token in tokens:
            if k < covered:
                self.recorder.end(token, values.get(k))
                self._seen[k] = values.get(k)
            else:
                self.recorder.discard(token)

    def run(self, kind: OpKind | ClientOp, args: tuple[Any, ...],
            on_done: AdminDone | None = None) -> None:
        """Start operation ``kind(*args)`` now: a KV operation (``OpKind``), recorded in the
        history, or an admin one (a ``ClientOp`` such as SPLIT), which is not and whose final
        status and result go to ``on_done`` (None, None if it gave up)."""
        assert self._op is None
        self._on_done = on_done
        self._seq += 1
        if isinstance(kind, OpKind):
            self.ops += 1
            token = self.recorder.begin(self.client_id, kind, args)
            op = _OPS[kind]
        else:
            token, op = _ADMIN, kind
        request = ClientRequest(0, op, args, self.client_id if self.sessions else 0,
                                self._seq if self.sessions else 0)
        self._op = (kind, args, token, self.world.now, request)
        self._send(self._leader.get(args[0]) or self.world.rng.choice(self.nodes))

    def _send(self, node: int) -> None:
        assert self._op is not None
        self._request_id += 1
        rid = self._request_id
        request = self._op[4]
        request.request_id = rid
        self.network.client_send(self.client_id, node,
                                 ClientRequest(rid, request.op, request.args, request.client_id,
                                               request.seq, request.register),
                                 lambda data: self._answer(rid, node, data))
        self.world.after(self.attempt_timeout, self._timed_out, rid)

    def _retry(self, node: int | None, delay: float = 0.0) -> None:
        assert self._op is not None
        if self.world.now - self._op[3] >= self.give_up_after:
            self._finish_unknown()
            return
        target = node or self.world.rng.choice(self.nodes)
        self._request_id += 1  # the attempt in flight is abandoned
        rid = self._request_id
        self.world.after(delay, self._resend, rid, target)

    def _resend(self, rid: int, node: int) -> None:
        if self._op is not None and rid == self._request_id:
            self._send(node)

    def _timed_out(self, rid: int) -> None:
        if self._op is None or rid != self._request_id:
            return
        # Unanswered: it may have been applied. Retry the same command id, looking for the
        # session that may have applied it (without a session, a write cannot be retried).
        if not self.sessions and self._op[2] != _ADMIN and self._op[0] is not OpKind.GET:
            self._finish_unknown()
            return
        self._op[4].register = False
        self._leader.pop(self._op[1][0], None)
        self._retry(None)

    def _answer(self, rid: int, node: int, data: bytes) -> None:
        if self._op is None or rid != self._request_id:
            return
        resp = decode_response(data)
        kind, args, token = self._op[0], self._op[1], self._op[2]
        status = resp.status
        if status is ClientStatus.OK:
            self.answered += 1
            self._leader[args[0]] = node
            self._done()
            if token == _ADMIN:
                assert isinstance(kind, ClientOp)
                self.admin_done[kind] = self.admin_done.get(kind, 0) + 1
                self._admin_finished(status, resp.result)
            elif kind is OpKind.GET:
                self.recorder.end(token, resp.result)
                self._seen[args[0]] = resp.result
            elif kind is OpKind.CAS:
                swapped, current = resp.result
                self.recorder.end(token, bool(swapped))
                self._seen[args[0]] = args[2] if swapped else current
            else:
                self.recorder.end(token, None)
                self._seen[args[0]] = args[1] if kind is OpKind.PUT else None
            self._schedule_next()
        elif status is ClientStatus.NOT_LEADER:
            hint = int(resp.result or 0)
            self._retry(hint if hint in self.nodes else None, 0.0 if hint else 0.05)
        elif status in _ELSEWHERE:
            self._retry(None, 0.05)
        elif status is ClientStatus.SESSION_EXPIRED:
            self._finish_unknown()
        else:  # REFUSED, TOO_LARGE, RANGE_BOUNDARY...: never applied
            self._done()
            if token != _ADMIN:
                self.recorder.discard(token)
            else:
                self._admin_finished(status, resp.result)
            self._schedule_next()

    def _finish_unknown(self) -> None:
        assert self._op is not None
        kind, token = self._op[0], self._op[2]
        self._done()
        if token == _ADMIN:
            self._admin_finished(None, None)
        elif kind is OpKind.GET:
            self.recorder.discard(token)  # an unanswered read constrains nothing
        else:
            self.recorder.end_unknown(token)
        self._schedule_next()

    def _admin_finished(self, status: ClientStatus | None, result: Any) -> None:
        done, self._on_done = self._on_done, None
        if done is not None:
            done(status, result)

    def _done(self) -> None:
        self._op = None
        self._request_id += 1

    def _schedule_next(self) -> None:
        if not self.stopped:
            self.world.after(self.world.rng.expovariate(1 / self.think), self._next)
