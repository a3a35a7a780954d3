"""The ZeroMQ node transport: one thread owns every socket; other threads hand it work.

Sockets (all owned by the transport thread, created and closed there):

- one PULL bound at the node's address receives every peer's frames;
- one PUSH per peer, connected with ``IMMEDIATE=1``: a send to a peer with no live connection
  fails at once (``EAGAIN``) instead of queueing for its next process, so a restarted peer
  gets no stale messages; a full send queue (slow or paused peer) fails the same way. Either
  way the frame's messages are dropped, counted, and ``Handler.on_unreachable`` is called;
- no ZMTP heartbeats (``HEARTBEAT_IVL``) on any socket: with them libzmq 4.3.5 aborts the
  process (``Assertion failed: !_io_error (src/stream_engine_base.cpp:310)``, libzmq #4364,
  #4841) when a node resumes from a pause longer than the heartbeat timeout: its inbound
  engine, stopped at the receive high-water mark with PINGs still buffered, sees the
  connection its peer dropped meanwhile, then answers a buffered PING. A dead peer is found
  by the kernel instead (``_tune_tcp``): a crashed process's connections are reset at once, a
  vanished host's by TCP keepalive (idle connection) or ``TCP_MAXRT`` (``TCP_USER_TIMEOUT``:
  data unacknowledged for 3 s); the reset connection fails sends as above, and libzmq
  reconnects, so a restarted peer is reached again. The nodes' own liveness (a coalesced
  heartbeat frame per peer per tick, ``multiraft.store.liveness``) is independent of this;
- one ROUTER (``ROUTER_MANDATORY``) bound at the client address, if one is given;
- with CURVE, the context's ZAP socket (``ZapHandler``).

``send`` appends a cheap tuple to a deque and, only when the transport thread is not already
awake, writes an eventfd. Each time the thread wakes it drains the deque and sends one frame
per destination (several if the batch passes ``max_frame_bytes``). Received frames are decoded
and handed to the ``Handler`` on the transport thread.
"""

from __future__ import annotations

import heapq
import ipaddress
import logging
import os
import threading
import time
from collections import deque
from functools import partial
from typing import Any, Callable, Mapping

import zmq

from multiraft.raft.types import Message

from .client_protocol import BadRequest, ClientStatus, decode_request
from .codec import (MAX_FRAME_BYTES, DecodeError, DirectoryItem, Heartbeat,
                    ReplicaGone, SnapshotAck, SnapshotChunk, decode_frame, heartbeats_frame,
                    NodeLoadReport, node_directory_frame, node_load_frame, raft_item, raft_frame,
                    ReplicaCheck, replica_check_frame, replica_gone_frame,
                    snapshot_ack_frame, snapshot_chunk_frame)
from .counters import TransportCounters
from .faults import FaultInjector
from .handler import DirectoryReceiver, Handler, Responder, dispatch_frame, frame_messages
from .keys import CurveConfig
from .zap import CLIENT_DOMAIN, NODE_DOMAIN, ZapHandler

__all__ = ["Transport", "DirectoryReceiver"]

log = logging.getLogger(__name__)

#: frames read from one socket before the thread looks at its other work again.
_RECV_BURST = 256
#: Client requests one ZeroMQ message may carry (one per part); the rest are refused.
MAX_REQUESTS_PER_MESSAGE = 1024
#: The largest raft item a frame may carry: the receive limit less room for the envelope.
_MAX_ITEM_BYTES = MAX_FRAME_BYTES - 1024
#: A peer that takes no snapshot frame for this long gets its queued ones dropped (seconds).
SNAPSHOT_STALL_TIMEOUT = 10.0
#: How often the thread retries peers that were not taking snapshot frames (milliseconds).
_SNAPSHOT_RETRY_MS = 10


#: A peer connection is reset by the kernel, not by ZMTP heartbeats (see the module docstring):
#: idle for TCP_KEEPALIVE_IDLE s, then TCP_KEEPALIVE_CNT probes TCP_KEEPALIVE_INTVL s apart go
#: unanswered; or sent data stays unacknowledged (or unsent, the peer's window shut) TCP_MAXRT_MS.
#: A paused process's kernel still answers keepalives and acknowledges data until its receive
#: buffer is full.
TCP_KEEPALIVE_IDLE = 1
TCP_KEEPALIVE_INTVL = 1
TCP_KEEPALIVE_CNT = 2
TCP_MAXRT_MS = 3000


def _tune_tcp(s: zmq.Socket[bytes]) -> None:
    """TCP keepalive and a retransmission bound (``TCP_USER_TIMEOUT`` on Linux) on a node
    socket's connections; never ZMTP heartbeats."""
    s.tcp_keepalive = 1
    s.tcp_keepalive_idle = TCP_KEEPALIVE_IDLE
    s.tcp_keepalive_intvl = TCP_KEEPALIVE_INTVL
    s.tcp_keepalive_cnt = TCP_KEEPALIVE_CNT
    s.setsockopt(zmq.TCP_MAXRT, TCP_MAXRT_MS)


def _endpoint(address: str) -> str:
    """``host:port`` -> a zmq tcp endpoint; port 0 binds a free port."""
    host, _, port = address.rpartition(":")
    return f"tcp://{host}:{'*' if port == '0' else port}"


def _peer_endpoint(listen: str, address: str) -> str:
    """The endpoint a node connects to a peer at: from its own listen address when that is one
    IPv4 address (not a wildcard or a name), so its raft traffic leaves from the address peers
    know it by (a node on 127.0.0.2 is seen as 127.0.0.2, not as 127.0.0.1; partitions made
    with iptables rules on the nodes' addresses rely on it)."""
    host = listen.rpartition(":")[0]
    try:
        source = ipaddress.ip_address(host)
    except ValueError:
        return _endpoint(address)
    if source.version != 4 or source.is_unspecified:
        return _endpoint(address)
    return f"tcp://{host}:0;{address}"


class Transport:
    """Raft traffic between nodes, and the client endpoint, of one node.

    ``peers`` maps node id -> ``host:port``; ``listen`` and ``client_listen`` are ``host:port``
    (port 0: a free port, see ``address``/``client_address``). With ``curve`` every socket
    runs CurveZMQ and only its listed keys are admitted; without it, plaintext (warned).
    ``on_directory`` receives the gossiped node directories and loads (NODE_DIRECTORY and
    NODE_LOAD frames); without one they are dropped.
    """

    def __init__(self, node_id: int, listen: str, peers: Mapping[int, str], handler: Handler, *,
                 client_listen: str | None = None, curve: CurveConfig | None = None,
                 faults: FaultInjector | None = None, max_frame_bytes: int = 64 << 10,
                 send_hwm: int = 1000, on_directory: DirectoryReceiver | None = None) -> None:
        self.node_id = node_id
        self._on_directory = on_directory
        self.counters = TransportCounters()
        self.address = listen
        self.client_address = client_listen
        self._handler = handler
        self._curve = curve
        self._faults = faults
        self._max_frame_bytes = max_frame_bytes
        self._send_hwm = send_hwm
        self._initial_peers = dict(peers)
        # Hand-off from any thread: packed raft items (node, item) and callables for the rest.
        self._outbox: deque[tuple[int, bytes]] = deque()
        self._tasks: deque[Callable[[], None]] = deque()
        #: client responses to send: (routing id, response), in the order they were given
        self._replies: deque[tuple[bytes, bytes]] = deque()
        # True while a wake-up is pending: the thread clears it before it drains the deques.
        self._wake_pending = False
        self._wake_lock = threading.Lock()
        self._wake_fd: int | None = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._stopping = False
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"transport-{node_id}", daemon=True)
        # Transport-thread state: peer sockets and delayed frames (release, seq, node, frame, n).
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._zap: ZapHandler | None = None
        self._inbound: zmq.Socket[bytes] | None = None
        self._clients: zmq.Socket[bytes] | None = None
        self._peers: dict[int, zmq.Socket[bytes]] = {}
        self._delayed: list[tuple[float, int, int, bytes, int]] = []
        self._delay_seq = 0
        # Snapshot chunks are never dropped for a full queue: per peer, the frames not yet
        # taken by ZeroMQ, and since when the oldest waits (transport thread only) ...
        self._snapshot_frames: dict[int, deque[bytes]] = {}
        self._snapshot_stalled_since: dict[int, float] = {}
        # ... and the bytes of chunks handed over and not yet taken by ZeroMQ, per peer
        # (written under the lock, read by the snapshot sender for its flow control).
        self._snapshot_bytes: dict[int, int] = {}
        self._snapshot_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Bind, connect and start the transport thread; raises if a socket cannot bind."""
        if self._curve is None:
            log.warning("node %d: transport runs WITHOUT CurveZMQ: traffic is plaintext and "
                        "any process that reaches the port can inject messages", self.node_id)
        self._thread.start()
        if not self._started.wait(timeout):
            raise TimeoutError("transport thread did not start")
        if self._start_error is not None:
            self._thread.join()
            raise self._start_error

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread and close every socket (linger 0: queued frames are discarded)."""
        self._stopping = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._wake_lock:
            if self._wake_fd is not None:
                os.close(self._wake_fd)
                self._wake_fd = None

    # ---- sending (any thread) --------------------------------------------------------------

    def send(self, node_id: int, range_id: int, message: Message) -> None:
        """Queue one raft message for ``node_id``; never blocks. Dropped if the peer is
        unreachable when its frame goes out (see ``Handler.on_unreachable``)."""
        self._outbox.append((node_id, raft_item(range_id, message)))
        if not self._wake_pending:
            self._wake()

    def send_heartbeats(self, node_id: int, heartbeats: list[Heartbeat]) -> None:
        """Send one coalesced heartbeat frame to ``node_id``."""
        frame = heartbeats_frame(self.node_id, heartbeats)
        self._call(self._send_frame, node_id, frame, len(heartbeats))

    def send_heartbeat_responses(self, node_id: int, responses: list[Heartbeat]) -> None:
        """Send one coalesced heartbeat-response frame to ``node_id``."""
        frame = heartbeats_frame(self.node_id, responses, responses=True)
        self._call(self._send_frame, node_id, frame, len(responses))

    def send_snapshot_chunk(self, node_id: int, chunk: SnapshotChunk) -> None:
        """Send one snapshot chunk, in its own frame. Unlike raft messages it is not dropped
        when the peer's queue is full: it waits its turn (see ``snapshot_bytes_queued``), and
        is dropped only with its whole queue if the peer takes nothing for
        ``SNAPSHOT_STALL_TIMEOUT`` (then ``Handler.on_unreachable``)."""
        frame = snapshot_chunk_frame(self.node_id, chunk)
        with self._snapshot_lock:
            self._snapshot_bytes[node_id] = self._snapshot_bytes.get(node_id, 0) + len(frame)
        self._call(self._queue_snapshot_frame, node_id, frame)

    def snapshot_bytes_queued(self, node_id: int) -> int:
        """Bytes of snapshot chunks for ``node_id`` handed to the transport and not yet taken
        by ZeroMQ: what a snapshot sender keeps bounded (any thread)."""
        return self._snapshot_bytes.get(node_id, 0)

    def send_snapshot_ack(self, node_id: int, ack: SnapshotAck) -> None:
        """Answer a snapshot stream of ``node_id`` (a small frame; if it is lost, the sender
        times out and sends the snapshot again)."""
        self._call(self._send_frame, node_id, snapshot_ack_frame(self.node_id, ack), 1)

    def send_replica_gone(self, node_id: int, gone: ReplicaGone) -> None:
        """Tell a removed replica on ``node_id`` that it is gone (a small frame; if it is lost,
        the replica's next message gets another)."""
        self._call(self._send_frame, node_id, replica_gone_frame(self.node_id, gone), 1)

    def send_node_directory(self, node_id: int, records: list[DirectoryItem]) -> None:
        """Gossip this node's directory to ``node_id`` (one small frame; dropped like a raft
        frame if the peer is unreachable: the next round resends it)."""
        frame = node_directory_frame(self.node_id, records)
        self._call(self._send_frame, node_id, frame, 0)  # a frame, no raft message

    def send_replica_check(self, node_id: int, check: ReplicaCheck) -> None:
        """Ask a member of a range on ``node_id`` whether our replica is still in it."""
        self._call(self._send_frame, node_id, replica_check_frame(self.node_id, check), 1)

    def send_node_load(self, node_id: int, load: NodeLoadReport) -> None:
        """Gossip this node's load to ``node_id`` (with its directory, every round)."""
        self._call(self._send_frame, node_id, node_load_frame(self.node_id, load), 0)

    def add_peer(self, node_id: int, address: str, public_key: bytes | None = None) -> None:
        """Add or re-address a peer (a node joining later). With CURVE, ``public_key`` (Z85)
        admits the node too; it may be omitted if the ``CurveConfig`` already lists it."""
        if self._curve is not None and public_key is None and node_id not in self._curve.node_keys:
            raise ValueError(f"node {node_id}: no public key for a CURVE transport")
        self._call(self._connect_peer, node_id, address, public_key)

    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the transport thread (a wake-up already pending covers it: the
        thread clears the flag before it drains the deques, as for ``send``)."""
        self._tasks.append(partial(fn, *args))
        if not self._wake_pending:
            self._wake()

    def _wake(self) -> None:
        self._wake_pending = True
        with self._wake_lock:
            if self._wake_fd is not None:
                os.eventfd_write(self._wake_fd, 1)

    # ---- the transport thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            poller = self._open()
        except BaseException as e:  # surfaced by start()
            self._start_error = e
            self._close()
            self._started.set()
            return
        self._started.set()
        try:
            while not self._stopping:
                self._loop_once(poller)
        except BaseException:
            log.exception("node %d: transport thread died", self.node_id)
        finally:
            self._close()

    def _open(self) -> zmq.Poller:
        ctx = self._ctx = zmq.Context()
        poller = zmq.Poller()
        poller.register(self._wake_fd, zmq.POLLIN)
        if self._curve is not None:  # before any CURVE server binds: libzmq admits all without
            self._zap = ZapHandler(ctx, self._curve)
            poller.register(self._zap.socket, zmq.POLLIN)
        self._inbound = self._server_socket(zmq.PULL, NODE_DOMAIN, self.address)
        self.address = self._bound_address(self._inbound)
        poller.register(self._inbound, zmq.POLLIN)
        if self.client_address is not None:
            self._clients = self._server_socket(zmq.ROUTER, CLIENT_DOMAIN, self.client_address)
            self._clients.router_mandatory = 1
            self.client_address = self._bound_address(self._clients)
            poller.register(self._clients, zmq.POLLIN)
        for node_id, address in self._initial_peers.items():
            self._connect_peer(node_id, address, None)
        return poller

    def _new_socket(self, kind: int) -> zmq.Socket[bytes]:
        """A socket of the transport's context (transport thread only, once it runs)."""
        ctx = self._ctx
        assert ctx is not None, "the transport thread is not running"
        return ctx.socket(kind)

    def _server_socket(self, kind: int, domain: bytes, address: str) -> zmq.Socket[bytes]:
        s = self._new_socket(kind)
        s.linger = 0
        if kind == zmq.PULL:
            _tune_tcp(s)
        s.maxmsgsize = MAX_FRAME_BYTES
        s.rcvhwm = self._send_hwm
        if self._curve is not None:
            s.curve_server = True
            s.curve_secretkey = self._curve.secret_key
            s.curve_publickey = self._curve.public_key
            s.zap_domain = domain
        s.bind(_endpoint(address))
        return s

    @staticmethod
    def _bound_address(s: zmq.Socket[bytes]) -> str:
        endpoint = s.last_endpoint
        assert isinstance(endpoint, bytes)
        return endpoint.decode().removeprefix("tcp://")

    def _close(self) -> None:
        if self._ctx is not None:
            self._ctx.destroy(linger=0)
        self._peers.clear()

    def _loop_once(self, poller: zmq.Poller) -> None:
        timeout = None
        if self._delayed:
            timeout = max(0, int((self._delayed[0][0] - time.monotonic()) * 1000) + 1)
        if self._snapshot_frames:  # retry the peers that were not taking snapshot frames
            timeout = min(timeout if timeout is not None else _SNAPSHOT_RETRY_MS,
                          _SNAPSHOT_RETRY_MS)
        events = dict(poller.poll(timeout))
        wake_fd = self._wake_fd
        if wake_fd is not None and wake_fd in events:
            try:
                os.eventfd_read(wake_fd)
            except BlockingIOError:
                pass
        self._wake_pending = False
        while self._tasks:
            self._tasks.popleft()()
        if self._outbox:
            self._flush_outbox()
        if self._replies:
            self._flush_replies()
        if self._snapshot_frames:
            self._flush_snapshot_frames()
        if self._delayed:
            self._release_delayed()
        if self._inbound in events:
            self._receive_frames()
        if self._clients is not None and self._clients in events:
            self._receive_client_requests()
        if self._zap is not None and self._zap.socket in events:
            self._zap.handle()

    # ---- outgoing ----------------------------------------------------------------------------

    def _connect_peer(self, node_id: int, address: str, public_key: bytes | None) -> None:
        self._disconnect_peer(node_id)
        s = self._new_socket(zmq.PUSH)
        s.linger = 0
        s.immediate = 1
        s.sndhwm = self._send_hwm
        s.reconnect_ivl = 100
        s.reconnect_ivl_max = 2000
        _tune_tcp(s)  # never ZMTP heartbeats: see the module docstring
        if self._curve is not None:
            key = public_key or self._curve.node_keys[node_id]
            if self._zap is not None:
                self._zap.add_node(node_id, key)
            s.curve_secretkey = self._curve.secret_key
            s.curve_publickey = self._curve.public_key
            s.curve_serverkey = key
        s.connect(_peer_endpoint(self.address, address))
        self._peers[node_id] = s

    def _disconnect_peer(self, node_id: int) -> None:
        s = self._peers.pop(node_id, None)
        if s is not None:
            s.close(linger=0)

    def _flush_outbox(self) -> None:
        """Drain the outbox into one frame per destination, more where the batch would pass
        ``max_frame_bytes``: a frame is closed before an item would take it over the cap, so
        only a single item larger than the cap travels in a frame that large. An item that no
        frame could carry within the peer's receive limit (``MAX_FRAME_BYTES``, ZeroMQ's
        ``maxmsgsize``: a bigger frame makes ZeroMQ drop the whole connection) is dropped and
        counted; raft resends what matters."""
        batches: dict[int, list[Any]] = {}  # node -> [items, bytes]
        cap = self._max_frame_bytes
        outbox = self._outbox
        while outbox:
            node_id, item = outbox.popleft()
            size = len(item)
            if size > _MAX_ITEM_BYTES:
                self.counters.peer(node_id).messages_oversize += 1
                log.error("node %d: dropped a %d-byte raft message for node %d: over the %d-byte "
                          "frame limit", self.node_id, size, node_id, MAX_FRAME_BYTES)
                continue
            batch = batches.get(node_id)
            if batch is None:
                batch = batches[node_id] = [[], 0]
            elif batch[1] + size > cap and batch[0]:
                self._send_frame(node_id, raft_frame(self.node_id, batch[0]), len(batch[0]))
                batch[0] = []
                batch[1] = 0
            batch[0].append(item)
            batch[1] += size
        for node_id, (items, _) in batches.items():
            if items:
                self._send_frame(node_id, raft_frame(self.node_id, items), len(items))

    def _send_frame(self, node_id: int, frame: bytes, n: int) -> None:
        """Send a packed frame of ``n`` messages, through fault injection if any."""
        if self._faults is not None:
            delay = self._faults.verdict(self.node_id, node_id)
            if delay is None or delay > 0:
                self.counters.peer(node_id).messages_faulted += n
                if delay is not None:
                    self._delay_seq += 1
                    heapq.heappush(self._delayed, (time.monotonic() + delay, self._delay_seq,
                                                   node_id, frame, n))
                return
        self._send_now(node_id, frame, n)

    def _queue_snapshot_frame(self, node_id: int, frame: bytes) -> None:
        self._snapshot_frames.setdefault(node_id, deque()).append(frame)

    def _flush_snapshot_frames(self) -> None:
        """Hand each peer's queued snapshot frames to ZeroMQ while it takes them."""
        now = time.monotonic()
        for node_id, frames in list(self._snapshot_frames.items()):
            sent = 0
            while frames:
                if not self._try_send(node_id, frames[0]):
                    break
                sent += len(frames.popleft())
            if sent:
                self._snapshot_stalled_since.pop(node_id, None)
                self._snapshot_taken(node_id, sent)
            if not frames:
                del self._snapshot_frames[node_id]
                continue
            since = self._snapshot_stalled_since.setdefault(node_id, now)
            if now - since > SNAPSHOT_STALL_TIMEOUT:
                dropped = sum(len(f) for f in frames)
                self.counters.peer(node_id).messages_dropped += len(frames)
                del self._snapshot_frames[node_id]
                del self._snapshot_stalled_since[node_id]
                self._snapshot_taken(node_id, dropped)
                log.warning("node %d: dropped %d snapshot frames for node %d: it took none for "
                            "%.0fs", self.node_id, len(frames), node_id, SNAPSHOT_STALL_TIMEOUT)
                self._notify(self._handler.on_unreachable, node_id)

    def _snapshot_taken(self, node_id: int, nbytes: int) -> None:
        with self._snapshot_lock:
            left = self._snapshot_bytes.get(node_id, 0) - nbytes
            if left > 0:
                self._snapshot_bytes[node_id] = left
            else:
                self._snapshot_bytes.pop(node_id, None)

    def _try_send(self, node_id: int, frame: bytes) -> bool:
        """One snapshot frame to ZeroMQ, through fault injection (drops only: a delay rule does
        not hold snapshot frames); False if the peer's queue is full or it has no connection:
        try again later."""
        if self._faults is not None and self._faults.verdict(self.node_id, node_id) is None:
            self.counters.peer(node_id).messages_faulted += 1  # lost, as on the wire
            return True
        return self._push(node_id, frame, 1)

    def _release_delayed(self) -> None:
        now = time.monotonic()
        while self._delayed and self._delayed[0][0] <= now:
            _, _, node_id, frame, n = heapq.heappop(self._delayed)
            self._send_now(node_id, frame, n)

    def _send_now(self, node_id: int, frame: bytes, n: int) -> None:
        if not self._push(node_id, frame, n):
            self.counters.peer(node_id).messages_dropped += n
            self._notify(self._handler.on_unreachable, node_id)

    def _push(self, node_id: int, frame: bytes, n: int) -> bool:
        """Hand a frame of ``n`` messages to ZeroMQ; False if the peer's queue is full or it has
        no connection (nothing was sent)."""
        s = self._peers.get(node_id)
        if s is None:
            return False
        try:
            s.send(frame, zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        c = self.counters.peer(node_id)
        c.frames_sent += 1
        c.messages_sent += n
        c.bytes_sent += len(frame)
        return True

    def _notify(self, fn: Callable[..., None], *args: Any) -> None:
        """Call a handler method; its exception is logged, never kills the thread."""
        try:
            fn(*args)
        except Exception:
            log.exception("node %d: handler %s failed", self.node_id, fn.__name__)

    # ---- incoming ----------------------------------------------------------------------------

    def _receive_frames(self) -> None:
        inbound = self._inbound
        assert inbound is not None
        for _ in range(_RECV_BURST):
            try:
                frame = inbound.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._deliver(frame)

    def _deliver(self, frame: zmq.Frame) -> None:
        try:
            kind, sender, payload = decode_frame(frame.buffer)
        except DecodeError as e:
            self.counters.decode_errors += 1
            log.warning("node %d: dropped a malformed frame (%d so far): %s",
                        self.node_id, self.counters.decode_errors, e)
            return
        if self._curve is not None and frame.get("User-Id") != str(sender):
            self.counters.auth_mismatches += 1
            log.warning("node %d: dropped a frame claiming node %d from authenticated node %s",
                        self.node_id, sender, frame.get("User-Id"))
            return
        c = self.counters.peer(sender)
        c.frames_received += 1
        c.bytes_received += len(frame.buffer)
        c.messages_received += frame_messages(kind, payload)
        self._notify(dispatch_frame, self._handler, self._on_directory, kind, sender, payload)

    def _receive_client_requests(self) -> None:
        clients = self._clients
        assert clients is not None
        for _ in range(_RECV_BURST):
            try:
                parts = clients.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            # [routing id, request, request, ...] from a DEALER: one message may carry a batch
            if len(parts) < 2:
                self.counters.decode_errors += 1
                continue
            reply = partial(self._reply, parts[0])  # (one per message: the batch shares it)
            for i in range(1, len(parts)):
                self._client_request(reply, parts[i], i > MAX_REQUESTS_PER_MESSAGE)

    def _client_request(self, reply: Callable[[bytes], None], data: bytes,
                        over_limit: bool) -> None:
        """Decode one request and hand it to the handler; a malformed one (or one past
        ``MAX_REQUESTS_PER_MESSAGE`` in its message) is answered REFUSED if it names its id,
        else dropped, and counted either way."""
        try:
            request = decode_request(data)
        except BadRequest as e:
            self.counters.decode_errors += 1
            Responder(reply, e.request_id, e.op).respond(
                ClientStatus.REFUSED, str(e))
            return
        except DecodeError as e:
            self.counters.decode_errors += 1
            log.warning("node %d: dropped a malformed client request: %s", self.node_id, e)
            return
        responder = Responder(reply, request.request_id, request.op)
        if over_limit:
            self.counters.decode_errors += 1
            responder.respond(ClientStatus.REFUSED, f"more than {MAX_REQUESTS_PER_MESSAGE} "
                              "requests in one message")
            return
        self.counters.client_requests += 1
        self._notify(self._handler.on_client_request, request, responder)

    def _reply(self, routing_id: bytes, data: bytes) -> None:
        """Queue a client response (any thread)."""
        self._replies.append((routing_id, data))
        if not self._wake_pending:
            self._wake()

    def _flush_replies(self) -> None:
        """Send the queued responses: one multipart message per client, each part one response
        in the order given (a client reading one part at a time sees them one by one)."""
        replies = self._replies
        by_client: dict[bytes, list[bytes]] = {}
        while replies:
            routing_id, data = replies.popleft()
            parts = by_client.get(routing_id)
            if parts is None:
                by_client[routing_id] = [routing_id, data]
            else:
                parts.append(data)
        clients = self._clients
        if clients is None:  # stopped: nobody to answer
            return
        for parts in by_client.values():
            try:
                clients.send_multipart(parts, zmq.NOBLOCK)
            except zmq.ZMQError:  # EHOSTUNREACH: the client is gone; EAGAIN: it reads too slowly
                self.counters.client_responses_dropped += len(parts) - 1
                continue
            self.counters.client_responses += len(parts) - 1
