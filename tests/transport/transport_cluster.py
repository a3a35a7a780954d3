"""Helpers for multi-process transport tests: a recording handler, a peer process driven over
stdin/stdout JSON lines (see ``transport_peer.py``), and a bounded wait."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from multiraft.raft.types import Message
from multiraft.transport import (ClientRequest, ClientStatus, CurveConfig, Heartbeat, Responder,
                       SnapshotChunk, Transport, generate_keypair, load_keypair, load_public_key)

REPO = Path(__file__).resolve().parents[2]


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.01) -> Any:
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def resend_until(send: Callable[[], Any], delivered: Callable[[], bool], timeout: float = 20.0) -> None:
    """Send a probe until it is delivered: with IMMEDIATE=1 whatever is sent before the
    connection is up is dropped, so the first sends to a new peer may be lost."""
    def attempt() -> bool:
        send()
        return delivered()
    wait_until(attempt, timeout, interval=0.05)


class Recorder:
    """A Handler that records everything it is given (thread-safe reads via copies)."""

    def __init__(self) -> None:
        self.raft: list[tuple[int, int, Message]] = []  # (from node, range id, message)
        self.heartbeats: list[tuple[int, Heartbeat]] = []
        self.heartbeat_responses: list[tuple[int, Heartbeat]] = []
        self.chunks: list[tuple[int, SnapshotChunk]] = []
        self.acks: list[tuple[int, Any]] = []
        self.gone: list[tuple[int, Any]] = []
        self.unreachable: list[int] = []
        self.raft_batches = 0

    def on_raft_messages(self, from_node: int, items: list[tuple[int, Message]]) -> None:
        self.raft_batches += 1
        self.raft.extend((from_node, r, m) for r, m in items)

    def on_heartbeats(self, from_node: int, heartbeats: list[Heartbeat]) -> None:
        self.heartbeats.extend((from_node, h) for h in heartbeats)

    def on_heartbeat_responses(self, from_node: int, responses: list[Heartbeat]) -> None:
        self.heartbeat_responses.extend((from_node, h) for h in responses)

    def on_snapshot_chunk(self, from_node: int, chunk: SnapshotChunk) -> None:
        self.chunks.append((from_node, chunk))

    def on_snapshot_ack(self, from_node: int, ack: Any) -> None:
        self.acks.append((from_node, ack))

    def on_replica_gone(self, from_node: int, gone: Any) -> None:
        self.gone.append((from_node, gone))

    def on_replica_check(self, from_node: int, check: Any) -> None:
        self.gone.append((from_node, check))

    def on_unreachable(self, node_id: int) -> None:
        self.unreachable.append(node_id)

    def on_client_request(self, request: ClientRequest, responder: Responder) -> None:
        """Echo: answers OK with the request's args (for GET: its key as the value)."""
        responder.respond(ClientStatus.OK, request.args[0] if request.op.name == "GET" else None)

    def tags_from(self, node_id: int) -> set[int]:
        """The terms (tests use them as tags) of raft messages received from ``node_id``."""
        return {m.term for f, _, m in list(self.raft) if f == node_id}


def curve_config(key_dir: Path, name: str, node_keys: dict[int, str]) -> CurveConfig:
    """A CurveConfig from key files: this node's ``name`` and the listed nodes' public keys."""
    public, secret = load_keypair(key_dir / f"{name}.key_secret")
    return CurveConfig(public, secret, {n: load_public_key(key_dir / f"{k}.key")
                                        for n, k in node_keys.items()})


@contextlib.contextmanager
def curve_node1(key_dir: Path, names: tuple[str, ...]) -> Iterator[tuple[Transport, Recorder]]:
    """Key pairs for ``names`` in ``key_dir``, then node 1 ("n1") running CURVE and admitting
    nodes 1 and 2 ("n2") only, recording what reaches it; stopped on exit."""
    for name in names:
        generate_keypair(key_dir, name)
    recorder = Recorder()
    t1 = Transport(1, "127.0.0.1:0", {}, recorder,
                   curve=curve_config(key_dir, "n1", {1: "n1", 2: "n2"}))
    t1.start()
    try:
        yield t1, recorder
    finally:
        t1.stop()


class PeerProcess:
    """A transport in a child process; ``call`` sends one command and returns its answer."""

    def __init__(self, node_id: int, listen: str = "127.0.0.1:0", peers: dict[int, str] | None = None,
                 key_dir: Path | None = None, key_name: str | None = None,
                 node_keys: dict[int, str] | None = None) -> None:
        config = {"node_id": node_id, "listen": listen, "peers": peers or {},
                  "key_dir": str(key_dir) if key_dir else None, "key_name": key_name,
                  "node_keys": node_keys or {}}
        env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{Path(__file__).parent}")
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("transport_peer.py")), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO, env=env)
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)
        self._lock = threading.Lock()
        self.address: str = self._read(timeout=30)["address"]

    def _read(self, timeout: float) -> dict[str, Any]:
        if not self._selector.select(timeout):
            raise AssertionError(f"peer process {self.proc.pid} did not answer within {timeout}s")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"peer process {self.proc.pid} exited ({self.proc.poll()})")
        return json.loads(line)

    def call(self, op: str, timeout: float = 20.0, **args: Any) -> dict[str, Any]:
        with self._lock:
            self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
            self.proc.stdin.flush()
            return self._read(timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        self.proc.kill()
        self.proc.wait(10)
        self._close_pipes()

    def stop(self) -> dict[str, Any]:
        """Stop the transport cleanly; returns the threads left in the child."""
        answer = self.call("stop")
        self.proc.wait(10)
        self._close_pipes()
        return answer

    def _close_pipes(self) -> None:
        self._selector.close()
        self.proc.stdin.close()
        self.proc.stdout.close()

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
