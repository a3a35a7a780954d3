"""A replica's client requests in flight: proposed writes waiting to apply, reads waiting for
their ReadIndex, and the translation between the client protocol and KV commands."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from multiraft.storage.commands import Command, Op, Result, Status
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus, WireDescriptor
from multiraft.transport.handler import Responder

from .limits import DEFAULT_RANGE_QUOTA_BYTES, PendingLimit, ProposalQuota

__all__ = ["PendingRequests", "to_command", "respond_result", "READ_OPS"]

READ_OPS = frozenset({ClientOp.GET, ClientOp.SCAN})


_OPS = {ClientOp.PUT: Op.PUT, ClientOp.GET: Op.GET, ClientOp.DELETE: Op.DELETE,
        ClientOp.CAS: Op.CAS, ClientOp.SCAN: Op.SCAN}
# (SPLIT is not here: the leader builds that command itself, with the new range id.)


def to_command(req: ClientRequest, time_ms: int) -> Command:
    """The KV command for a client request (GET/SCAN become reads, never log entries), stamped
    with the proposing leader's wall clock ``time_ms`` (for session expiry).

    Raises ValueError for a request the state machine cannot express.
    """
    a, op = req.args, req.op
    kv_op = _OPS.get(op)
    if kv_op is None:
        raise ValueError(f"{op.name} is not a key operation")
    if op == ClientOp.CAS:
        if a[2] is None:
            raise ValueError("CAS needs a new value")
    elif op == ClientOp.SCAN:
        a = (a[0], a[1] or None, a[2], False)
    return Command(kv_op, req.client_id, req.seq, a, time_ms, req.register)


#: the client status of each state-machine status that means "not run"
_REFUSALS = {Status.ERROR: ClientStatus.REFUSED, Status.SESSION_EXPIRED: ClientStatus.SESSION_EXPIRED,
             Status.SESSIONS_FULL: ClientStatus.SESSIONS_FULL,
             Status.BOUNDARY: ClientStatus.RANGE_BOUNDARY}


def respond_result(responder: Responder, op: ClientOp, res: Result, range_end: bytes | None,
                   known: tuple[WireDescriptor, ...]) -> None:
    """Answer a client with a state-machine result, in the client protocol's shapes; a key
    outside the range is answered RANGE_KEY_MISMATCH with the descriptors the replica
    ``known``s (its own, and the right-hand ranges of its recent splits)."""
    status = res.status
    if status is Status.KEY_MISMATCH:
        responder.respond(ClientStatus.RANGE_KEY_MISMATCH, known)
    elif status is not Status.OK and status is not Status.FAILED:
        responder.respond(_REFUSALS[status], str(res.value))
    elif op == ClientOp.CAS:
        responder.respond(ClientStatus.OK, (res.status == Status.OK, res.value))
    elif op == ClientOp.SPLIT:
        left, right = res.value
        responder.respond(ClientStatus.OK, (tuple(left), tuple(right)))
    elif op == ClientOp.SCAN:
        # Where the client resumes: after the last pair if the answer was cut short, else at
        # the next range (b"": the key space ends here).
        pairs, more = res.value
        resume = pairs[-1][0] + b"\x00" if more and pairs else (range_end or b"")
        responder.respond(ClientStatus.OK, (tuple(tuple(p) for p in pairs), resume))
    else:
        responder.respond(ClientStatus.OK, res.value)


@dataclass(slots=True)
class PendingWrite:
    op: ClientOp
    responder: Responder
    since: float
    #: bytes of the range's proposal quota this write holds (0 once given back)
    quota: int = 0


class PendingRequests:
    """Invariant: a write is keyed by the (term, index) of the log entry its proposal appended
    on this leader, so it is answered by that entry's result and no other (two writes with the
    same command id, e.g. ``client_id=0`` or a retry, are two entries; deduplication in the state
    machine keeps a retry applied once); a read batch is keyed by the ReadIndex context it waits
    on."""

    __slots__ = ("writes", "proposing", "read_batch", "reads", "ready_reads", "_next_ctx",
                 "quota", "limit", "_clock")

    def __init__(self, quota: ProposalQuota | None = None,
                 limit: PendingLimit | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        #: the range's proposal quota: a pending write holds its share until it is taken
        #: (applied), expires, or the leadership is lost (``release_quota``)
        self.quota = ProposalQuota(DEFAULT_RANGE_QUOTA_BYTES) if quota is None else quota
        #: the node's bound on pending requests: every write and read held here holds one slot
        #: (acquired by the caller), given back when it is answered, expired or failed
        self.limit = PendingLimit() if limit is None else limit
        #: (term, index, place in the entry) -> write
        self.writes: dict[tuple[int, int, int], PendingWrite] = {}
        #: writes admitted (quota and slot held) and not yet proposed: (command data, op,
        #: responder), proposed together at the next Ready
        self.proposing: list[tuple[bytes, ClientOp, Responder]] = []
        #: reads received since the last ReadIndex was issued (one ReadIndex serves them all)
        self.read_batch: list[tuple[Command, ClientOp, Responder]] = []
        #: ReadIndex context -> the reads it serves
        self.reads: dict[bytes, list[tuple[Command, ClientOp, Responder]]] = {}
        #: (read index, context) whose index is known; served once applied reaches it
        self.ready_reads: list[tuple[int, bytes]] = []
        self._next_ctx = 0
        self._clock = clock

    def add_write(self, term: int, index: int, sub: int, op: ClientOp, responder: Responder,
                  quota: int = 0) -> None:
        """A write proposed as command ``sub`` (0 for an entry of one command) of the entry at
        ``index`` of ``term``, holding ``quota`` bytes of the proposal quota (acquired by the
        caller)."""
        self.writes[(term, index, sub)] = PendingWrite(op, responder, self._clock(), quota)

    def take_write(self, term: int, index: int, sub: int = 0) -> PendingWrite | None:
        """The write waiting for command ``sub`` of the entry (term, index), if it was proposed
        here; its quota is given back."""
        w = self.writes.pop((term, index, sub), None)
        if w is not None:
            self._forget(w)
        return w

    def take_superseded(self, term: int, applied: int, applied_term: int,
                        term_at: Callable[[int], int]) -> list[PendingWrite]:
        """The writes proposed in a term before ``term`` whose entry can never apply, taken out
        (their quota and slots go back): the log applied up to ``applied`` holds an entry of
        another term at the write's index (``term_at(index)``, 0 if unknown), or the write is
        past ``applied`` and of a term before ``applied_term`` (terms never decrease along a
        log, and every later leader's log holds the applied one: no entry after it can be of an
        earlier term). A write at an index whose term is unknown (compacted: a snapshot went past
        it) stays, its outcome unknown; one whose entry applied was taken with its result."""
        dead = []
        for key in self.writes:  # (in the order proposed: terms never decrease)
            t, index, _ = key
            if t >= term:
                break
            if index <= applied:
                at = term_at(index)
                if at == 0 or at == t:
                    continue
            elif t >= applied_term:
                continue
            dead.append(key)
        out = []
        for key in dead:
            w = self.writes.pop(key)
            self._forget(w)
            out.append(w)
        return out

    def _forget(self, w: PendingWrite) -> None:
        """``w`` left ``writes``: its quota and its pending slot go back."""
        self.quota.release(w.quota)
        w.quota = 0
        self.limit.release()

    def refuse_proposing(self, writes: list[tuple[bytes, ClientOp, Responder]],
                         status: ClientStatus, result: object) -> None:
        """Answer ``writes``, admitted and never proposed (so safe to refuse: nothing of them
        can apply), and give back their quota and slots."""
        for data, _, responder in writes:
            self.quota.release(len(data))
            responder.respond(status, result)
        self.limit.release(len(writes))

    def take_reads(self, ctx: bytes) -> list[tuple[Command, ClientOp, Responder]]:
        """The reads waiting on ReadIndex context ``ctx`` (to be served now); their slots go
        back."""
        batch = self.reads.pop(ctx, [])
        self.limit.release(len(batch))
        return batch

    def release_quota(self) -> None:
        """The leadership is lost: the whole quota goes back (a new leadership starts with an
        empty pool). The writes stay: their entries may still apply, and are answered if so."""
        for w in self.writes.values():
            w.quota = 0
        self.quota.reset()

    def start_read_index(self) -> bytes | None:
        """Move the batch of waiting reads under a fresh context; None if there are none."""
        if not self.read_batch:
            return None
        self._next_ctx += 1
        ctx = self._next_ctx.to_bytes(8, "big")
        self.reads[ctx] = self.read_batch
        self.read_batch = []
        return ctx

    def fail_reads(self, status: ClientStatus, result: object) -> None:
        """Answer every read not yet served (reads have no effect: failing them is safe)."""
        for batch in (*self.reads.values(), self.read_batch):
            for _, _, responder in batch:
                responder.respond(status, result)
            self.limit.release(len(batch))
        self.reads.clear()
        self.read_batch = []
        self.ready_reads = []

    def expire_writes(self, older_than: float) -> int:
        """Forget writes proposed more than ``older_than`` seconds ago: their client has timed
        out, and will retry with the same command id if it still cares. Not answered: their
        outcome is unknown (the entry may still commit)."""
        cutoff = self._clock() - older_than
        stale = []
        for k, w in self.writes.items():  # (in the order proposed: the oldest first)
            if w.since >= cutoff:
                break
            stale.append(k)
        for k in stale:
            self._forget(self.writes.pop(k))
        return len(stale)

    def forget_writes(self) -> None:
        """Forget every write, unanswered (this replica stops serving: their outcome is
        unknown here)."""
        for w in self.writes.values():
            self._forget(w)
        self.writes.clear()

    def is_idle(self) -> bool:
        return not (self.writes or self.proposing or self.read_batch or self.reads
                    or self.ready_reads)

