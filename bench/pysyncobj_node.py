"""A PySyncObj node serving the project's client protocol: the benchmarks' outside anchor.

``python -m multiraft.bench.pysyncobj_node --id I --raft-addrs H:P1,H:P2,H:P3 --client-port C
[--journal PATH]`` runs member I (the I-th raft address) of a one-group PySyncObj cluster and
serves ``transport.client_protocol`` on a ZeroMQ ROUTER at 127.0.0.1:C, so
``bench.workload.run_workload`` drives it unchanged (see ``bench.pysyncobj_cluster``).

PUT and DELETE go through the raft log; any node takes them (PySyncObj forwards a follower's
command to its leader) and answers OK once PySyncObj's callback reports SUCCESS, ERROR with the
fail reason's name otherwise. Command ids are ignored (PySyncObj has no dedup). GET reads the
local dict: a local read, NOT linearizable (a follower or deposed leader may be stale). STATUS
is multiraft-shaped with one range (id 1, ``b""``..``b""``: the whole key space); a leader
reports "leader" only once a barrier it proposed on election is applied, so its local reads
see every acknowledged write (a new leader's commit index may lag). CAS and SCAN answer ERROR;
a malformed frame is counted and dropped (ERROR if it has a request id), never fatal.

Threads: PySyncObj calls callbacks on its tick thread (on the caller's for a full queue). Only
the main thread uses the ROUTER: callbacks queue their reply and write a byte to a wake-up
pipe it polls (also the signal wake-up fd, so a SIGTERM landing on any thread wakes it).

SyncObjConf: tuned for throughput, so the anchor is PySyncObj at its best: batched append
entries with a 10 ms append period and a 5 ms tick (the defaults, 100 ms and 50 ms, make every
write wait ~100 ms: 606 writes/s at 64 in flight and 3,907 at 512 with the journal, against
4,129 and 11,417 tuned, 6 s runs on this machine; unbatched: 2,464 and 2,628); compaction
defaults (every 5000 entries or 300 s), membership changes off, connection retries every 1 s
(not 5 s: nodes start in any order). ``--journal PATH`` adds ``journalFile=PATH`` and
``fullDumpFile=PATH.dump`` (without a dump file, compaction drops journal entries whose only
other copy is in memory).

Finding (PySyncObj 0.3.17): FileJournal writes records into an mmap and syncobj.py never calls
its ``flush()`` (only a clean stop msyncs it); the term/vote/commit metadata and the dump are
written without fsync (the commit index once a second). A journal survives a process kill (page cache), not a power loss:
PySyncObj acknowledges writes that are not durable, unlike the project's nodes with fsync on.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import signal
import sys
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, Protocol, cast

import zmq
from pysyncobj import FAIL_REASON, SyncObj, SyncObjConf, SyncObjConsumer, _RAFT_STATE, replicated

from multiraft.transport.client_protocol import (BadRequest, ClientOp, ClientRequest, ClientResponse,
                                       ClientStatus, decode_request, encode_response)
from multiraft.transport.codec import DecodeError

__all__ = ["KVStore", "PySyncObjNode", "make_conf", "main"]

#: Requests read from the ROUTER per loop turn, so replies are not starved under load.
_RECV_BURST = 256

#: FAIL_REASON value -> its name, the message of an ERROR response.
_FAIL_NAMES = {v: k for k, v in vars(FAIL_REASON).items() if k.isupper()}
#: PySyncObj's failures that never reached its log, as our statuses
_NOT_APPENDED = {FAIL_REASON.QUEUE_FULL: ClientStatus.BUSY,
                 FAIL_REASON.MISSING_LEADER: ClientStatus.UNAVAILABLE,
                 FAIL_REASON.NOT_LEADER: ClientStatus.UNAVAILABLE,
                 FAIL_REASON.REQUEST_DENIED: ClientStatus.REFUSED}


class _Replicated(Protocol):
    """A ``@replicated`` method as its callers see it: the method's arguments plus PySyncObj's
    ``callback(result, fail_reason)``; the call only queues the command, so it returns None."""

    def __call__(self, *args: Any, callback: Callable[[Any, int], None]) -> None: ...


# PySyncObj ships no type information. To mypy, ``_replicated`` makes what this module calls,
# and KVStore's base is opaque. ``_replicated`` is ``replicated`` itself (never wrap it: it puts
# the method's versioned copy into its caller's frame, which must be the class body).
_replicated = cast(Callable[[Callable[..., object]], _Replicated], replicated)
if TYPE_CHECKING:
    _Consumer = object
else:
    _Consumer = SyncObjConsumer


class KVStore(_Consumer):
    """The replicated state: a dict of bytes to bytes. ``_data`` is set after the base
    ``__init__``, so PySyncObj's log compaction serializes it into its dump."""

    def __init__(self) -> None:
        super().__init__()
        self._data: dict[bytes, bytes] = {}

    @_replicated
    def put(self, key: bytes, value: bytes) -> None:
        self._data[key] = value

    @_replicated
    def delete(self, key: bytes) -> bool:
        """Whether the key existed."""
        return self._data.pop(key, None) is not None

    @_replicated
    def barrier(self) -> None:
        """A no-op: once applied, every entry before it is applied too."""

    def get(self, key: bytes) -> bytes | None:
        """The local copy's value (not linearizable)."""
        return self._data.get(key)


def make_conf(journal: str | None, on_state_changed: Callable[[int, int], None]) -> SyncObjConf:
    """The node's SyncObjConf (see the module docstring for why each setting)."""
    return SyncObjConf(journalFile=journal,
                       fullDumpFile=None if journal is None else journal + ".dump",
                       appendEntriesPeriod=0.01, autoTickPeriod=0.005,
                       dynamicMembershipChange=False, connectionRetryTime=1.0,
                       onStateChanged=on_state_changed)


class PySyncObjNode:
    """One node. Invariants: ``_router`` is used only by the thread running ``serve`` (the
    one that built the node, which must stay alive: PySyncObj's tick thread stops when its
    creator ends); ``_serving`` is True only while this node leads and has applied the
    barrier of its current leadership (``_leadership`` counts state changes)."""

    def __init__(self, node_id: int, raft_addrs: list[str], client_port: int,
                 journal: str | None = None) -> None:
        if not 1 <= node_id <= len(raft_addrs):
            raise ValueError(f"--id {node_id} is not in 1..{len(raft_addrs)}")
        self.node_id = node_id
        self._ids = {a: i for i, a in enumerate(raft_addrs, start=1)}
        self.decode_errors = 0
        self.replies_dropped = 0
        self._stopping = False
        self._leadership = 0
        self._serving = False
        self._replies: queue.SimpleQueue[tuple[bytes, int, ClientOp, ClientStatus, Any]] = \
            queue.SimpleQueue()
        self._wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK)  # wake_w: also the signal wake-up fd
        self._ctx = zmq.Context()
        self._router = self._ctx.socket(zmq.ROUTER)
        self._router.linger = 0
        self._router.bind(f"tcp://127.0.0.1:{client_port}")
        self.store = KVStore()
        me = raft_addrs[node_id - 1]
        conf = make_conf(journal, self._on_state_changed)
        self._sync = SyncObj(me, [a for a in raft_addrs if a != me], conf, consumers=[self.store])

    # -- the main thread --

    def serve(self) -> None:
        """Answer clients until ``request_stop``."""
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        while not self._stopping:
            ready = dict(poller.poll())
            if self._wake_r in ready:
                os.read(self._wake_r, 1 << 16)  # drain the wake-ups (a pipe holds 64 KiB)
            if self._router in ready:
                self._receive()
            self._send_replies()

    def request_stop(self, *_: object) -> None:
        """Make ``serve`` return (usable as a signal handler)."""
        self._stopping = True
        self._wake()

    def close(self) -> None:
        """Stop PySyncObj (its journal is flushed and closed), then the sockets."""
        self._sync.destroy_synchronous()
        self._ctx.destroy(linger=0)
        os.close(self._wake_r)
        os.close(self.wake_w)

    def _receive(self) -> None:
        for _ in range(_RECV_BURST):
            try:
                parts = self._router.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            # [routing id, request, request, ...]: a message may carry a batch, as ours do
            if len(parts) < 2:
                self.decode_errors += 1
                continue
            routing_id = parts[0]
            for data in parts[1:]:
                try:
                    req = decode_request(data)
                except BadRequest as e:
                    self.decode_errors += 1
                    self._send(routing_id, e.request_id, e.op, ClientStatus.REFUSED, str(e))
                    continue
                except DecodeError:
                    self.decode_errors += 1
                    continue
                self._handle(routing_id, req)

    def _handle(self, routing_id: bytes, req: ClientRequest) -> None:
        op = req.op
        if op is ClientOp.PUT or op is ClientOp.DELETE:
            write = self.store.put if op is ClientOp.PUT else self.store.delete
            write(*req.args, callback=partial(self._on_applied, routing_id, req.request_id, op))
        elif op is ClientOp.GET:
            self._send(routing_id, req.request_id, op, ClientStatus.OK, self.store.get(req.args[0]))
        elif op is ClientOp.STATUS:
            self._send(routing_id, req.request_id, op, ClientStatus.OK, self._status())
        else:
            self._send(routing_id, req.request_id, op, ClientStatus.REFUSED,
                       f"{op.name} is not supported by the PySyncObj node")

    def _status(self) -> dict[str, Any]:
        leader = self._sync._getLeader()
        serving = self._serving and self._sync._isLeader()
        return {
            "node": {"node_id": self.node_id, "ranges": 1, "system": "pysyncobj",
                     "decode_errors": self.decode_errors, "replies_dropped": self.replies_dropped},
            "ranges": [{"range_id": 1, "replica_id": self.node_id, "start_key": b"", "end_key": b"",
                        "leader": 0 if leader is None else self._ids.get(leader.id, 0),
                        "state": "leader" if serving else "follower",
                        "term": self._sync.raftCurrentTerm, "commit": self._sync.raftCommitIndex,
                        "applied": self._sync.raftLastApplied}],
        }

    def _send_replies(self) -> None:
        while not self._replies.empty():  # this thread is the only consumer
            self._send(*self._replies.get_nowait())

    def _send(self, routing_id: bytes, request_id: int, op: ClientOp, status: ClientStatus,
              result: Any) -> None:
        data = encode_response(ClientResponse(request_id, op, status, result))
        try:
            self._router.send_multipart((routing_id, data), zmq.NOBLOCK)
        except zmq.ZMQError:  # the client reads too slowly (high-water mark): drop
            self.replies_dropped += 1

    # -- PySyncObj's tick thread (or the caller's, for a full queue) --

    def _on_applied(self, routing_id: bytes, request_id: int, op: ClientOp, result: Any,
                    err: int) -> None:
        if err == FAIL_REASON.SUCCESS:
            reply = (routing_id, request_id, op, ClientStatus.OK, result)
        elif err in _NOT_APPENDED:
            reply = (routing_id, request_id, op, _NOT_APPENDED[err], _FAIL_NAMES.get(err, str(err)))
        else:  # LEADER_CHANGED, DISCARDED, UNKNOWN_OUTCOME: it may have applied; no answer
            # (the client times out: outcome unknown)
            return
        self._replies.put(reply)
        self._wake()

    def _on_state_changed(self, old: int, new: int) -> None:
        self._leadership += 1
        self._serving = False
        if new == _RAFT_STATE.LEADER:
            self.store.barrier(callback=partial(self._on_barrier, self._leadership))

    def _on_barrier(self, leadership: int, _result: None, err: int) -> None:
        if err == FAIL_REASON.SUCCESS and leadership == self._leadership:
            self._serving = True

    def _wake(self) -> None:
        try:
            os.write(self.wake_w, b"\0")
        except BlockingIOError:  # the pipe is full: a wake-up is pending anyway
            pass


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m multiraft.bench.pysyncobj_node",
                                description=__doc__.split("\n")[0])
    p.add_argument("--id", type=int, required=True, help="1-based index in --raft-addrs")
    p.add_argument("--raft-addrs", required=True, help="every node's raft address, comma-separated")
    p.add_argument("--client-port", type=int, required=True, help="client port on 127.0.0.1")
    p.add_argument("--journal", help="PySyncObj journal file (default: in-memory log)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING,
                        format=f"%(asctime)s node {args.id} %(levelname)s %(name)s: %(message)s")
    try:
        node = PySyncObjNode(args.id, args.raft_addrs.split(","), args.client_port, args.journal)
    except (ValueError, zmq.ZMQError) as e:
        print(f"pysyncobj_node: {e}", file=sys.stderr)
        return 1
    signal.set_wakeup_fd(node.wake_w)
    signal.signal(signal.SIGTERM, node.request_stop)
    signal.signal(signal.SIGINT, node.request_stop)
    try:
        node.serve()
    finally:
        signal.set_wakeup_fd(-1)
        node.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
