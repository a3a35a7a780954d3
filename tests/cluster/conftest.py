"""Fixtures of the cluster suite: real 3-node clusters on loopback (ZeroMQ, RocksDB in tmp dirs).

Every cluster test takes the design under test through ONE fixture, ``design``: its params are
``DESIGNS``. Adding the lock-based design (issue 7) is adding ``"locks"`` to ``DESIGNS`` (and,
for the tests that look inside a node, one entry to each ``*_BY_DESIGN`` table below).

Two ways to run a cluster, same interface (``Cluster``):

- ``InProcessCluster``: three ``multiraft.Node`` in the test process. ``stop`` is ``Node.stop``
  (graceful). ``kill`` cannot be a crash (a thread cannot be killed, the engine is closed
  cleanly); it is the closest honest thing: the node's transport is cut first, so the node
  vanishes from the network mid-flight (peers and clients hear nothing more), then it stops.
- ``ProcessCluster``: three ``bin/multiraft-node`` processes. ``kill`` is SIGKILL (a crash:
  nothing flushed, nothing closed), ``stop`` is SIGTERM (must exit 0).

Teardown stops every node it started (by pid for processes, also on failure) and checks that
no thread or socket of the test process leaked.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from multiraft import Client, Node, NodeConfig
from multiraft.local_cluster import NODE_COMMAND

#: The designs every cluster test runs on.
DESIGNS = ["actors", "locks"]

REPO = Path(__file__).resolve().parents[2]
NODE_IDS = (1, 2, 3)

log = logging.getLogger(__name__)


@pytest.fixture(params=DESIGNS)
def design(request: pytest.FixtureRequest) -> str:
    """The design under test; every cluster fixture below depends on it."""
    return request.param


# -- small helpers ------------------------------------------------------------------------------

def free_ports(n: int) -> list[int]:
    """``n`` distinct loopback ports free right now (all bound at once, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05, diagnose: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned) or ``timeout`` passes
    (AssertionError naming ``what``, the last value, and ``diagnose()`` if given)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            extra = f"\n{diagnose()}" if diagnose is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                 f"last: {last!r}{extra}")
        time.sleep(interval)


def key_in(rng: dict[str, Any], suffix: str) -> bytes:
    """A key inside the range described by a STATUS range entry."""
    key = rng["start_key"] + b"\x00" + suffix.encode()
    end = rng["end_key"]
    assert not end or key < end, (rng, key)
    return key


def _socket_fds() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:"):
            out.add(target)
    return out


# -- clusters -----------------------------------------------------------------------------------

class Cluster:
    """Nodes on loopback (``node_ids``: three by default) with fixed ports and data dirs, so a
    node restarts in place.

    Subclasses implement ``_start``, ``_stop`` (graceful) and ``_kill`` (hard) of one node.
    """

    kind = ""

    def __init__(self, tmp_path: Path, design: str, ranges: int, tick_ms: int,
                 engine: str = "rocksdb", node_ids: tuple[int, ...] = NODE_IDS) -> None:
        self.node_ids = node_ids
        self.design = design
        self.ranges = ranges
        self.tick_ms = tick_ms
        self.engine = engine
        self.tmp_path = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        ports = free_ports(2 * len(node_ids))
        self.raft_addr = {n: f"127.0.0.1:{ports[i]}" for i, n in enumerate(node_ids)}
        self.client_addr = {n: f"127.0.0.1:{ports[len(node_ids) + i]}"
                            for i, n in enumerate(node_ids)}
        self.running: set[int] = set()
        self._clients: list[Client] = []
        self._admin = Client(list(self.client_addr.values()), timeout=5.0)
        self._clients.append(self._admin)

    def data_dir(self, node: int) -> Path:
        return self.tmp_path / f"node-{node}"

    def peers(self, node: int) -> dict[int, str]:
        return {n: a for n, a in self.raft_addr.items() if n != node}

    # lifecycle
    def start(self, node: int) -> None:
        assert node not in self.running, f"node {node} is already running"
        self._start(node)
        self.running.add(node)

    def start_all(self) -> None:
        for n in self.node_ids:
            self.start(n)

    def stop(self, node: int) -> None:
        """Graceful stop."""
        self.running.discard(node)
        self._stop(node)

    def kill(self, node: int) -> None:
        """Hard stop (see the module docstring for what "hard" means in-process)."""
        self.running.discard(node)
        self._kill(node)

    def stop_all(self, hard: bool = False) -> None:
        for n in sorted(self.running):
            (self.kill if hard else self.stop)(n)

    def close(self) -> None:
        for c in self._clients:
            c.close()
        self._clients.clear()
        for n in sorted(self.running):
            try:
                self.kill(n)
            except Exception:  # keep tearing down the others
                log.exception("teardown of node %d", n)

    # clients and STATUS
    def client(self, timeout: float = 5.0) -> Client:
        c = Client([self.client_addr[n] for n in self.node_ids], timeout=timeout)
        self._clients.append(c)
        return c

    def status(self, node: int) -> dict[str, Any] | None:
        """The node's STATUS, or None if it does not answer (down, starting, stopping)."""
        if node not in self.running:
            return None
        try:
            return self._admin.status(self.client_addr[node])
        except Exception:  # TimeoutError, ClientError: not answering
            return None

    def statuses(self) -> dict[int, dict[str, Any]]:
        """STATUS of every running node that answers."""
        out = {}
        for n in sorted(self.running):
            st = self.status(n)
            if st is not None:
                out[n] = st
        return out

    def range_table(self) -> dict[int, dict[str, Any]]:
        """range id -> a STATUS range entry (descriptor part) from any answering node."""
        table: dict[int, dict[str, Any]] = {}
        for st in self.statuses().values():
            for r in st["ranges"]:
                if r["start_key"] is not None:
                    table.setdefault(r["range_id"], r)
        return table

    def leaders(self) -> dict[int, int]:
        """range id -> node id of its leader, as the running nodes report it: the node that
        says it leads, in the highest term any node reports for the range."""
        best: dict[int, tuple[int, int]] = {}
        terms: dict[int, int] = {}
        for node, st in self.statuses().items():
            for r in st["ranges"]:
                rid = r["range_id"]
                terms[rid] = max(terms.get(rid, 0), r["term"])
                if r["state"] == "leader" and r["term"] >= best.get(rid, (0, 0))[0]:
                    best[rid] = (r["term"], node)
        return {rid: node for rid, (term, node) in best.items() if term == terms[rid]}

    def wait_all_led(self, timeout: float = 60.0, exclude: int | None = None) -> dict[int, int]:
        """Wait until each of the ``ranges`` ranges has a leader (not on ``exclude``)."""
        def ok() -> dict[int, int] | None:
            lead = self.leaders()
            good = {r: n for r, n in lead.items() if n != exclude}
            return good if len(good) == self.ranges else None
        return wait_until(ok, timeout, f"a leader for all {self.ranges} ranges",
                          interval=0.1, diagnose=self.describe)

    def leader_of(self, range_id: int, timeout: float = 30.0, exclude: int | None = None) -> int:
        """Node id of the leader of ``range_id`` (not ``exclude``), waiting for one."""
        return wait_until(lambda: (lambda n: n if n and n != exclude else None)(
            self.leaders().get(range_id)), timeout, f"a leader of range {range_id}"
            + (f" other than node {exclude}" if exclude else ""), interval=0.1,
            diagnose=self.describe)

    def replica_status(self, node: int, range_id: int) -> dict[str, Any] | None:
        st = self.status(node)
        if st is None:
            return None
        return next((r for r in st["ranges"] if r["range_id"] == range_id), None)

    def wait_serving(self, node: int, timeout: float = 60.0) -> None:
        wait_until(lambda: (st := self.status(node)) is not None and st["node"]["ranges"] > 0,
                   timeout, f"node {node} to answer STATUS", interval=0.1,
                   diagnose=self.describe)

    def describe(self) -> str:
        """A summary of the cluster for failure messages."""
        lines = [f"{self.kind} cluster, design {self.design}, running {sorted(self.running)}"]
        for n, st in self.statuses().items():
            states: dict[str, int] = {}
            for r in st["ranges"]:
                states[r["state"]] = states.get(r["state"], 0) + 1
            q = sum(bool(r["quiesced"]) for r in st["ranges"])
            lines.append(f"  node {n}: {states} quiesced={q} counters={st['node']['counters']}")
        return "\n".join(lines)

    # per-kind
    def _start(self, node: int) -> None:
        raise NotImplementedError

    def _stop(self, node: int) -> None:
        raise NotImplementedError

    def _kill(self, node: int) -> None:
        raise NotImplementedError


class InProcessCluster(Cluster):
    kind = "inproc"

    def __init__(self, *args: Any, node_options: dict[str, Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.nodes: dict[int, Node] = {}
        #: called as ``hook(node_id, node)`` right after each start of a node
        self.on_start: list[Callable[[int, Node], None]] = []
        #: ``NodeConfig`` fields set on every node (``make_cluster(..., node_options={...})``)
        self.node_options: dict[str, Any] = dict(node_options or {})
        #: node id -> ``NodeConfig`` fields set on that node only (over ``node_options``)
        self.overrides: dict[int, dict[str, Any]] = {}

    def config(self, node: int) -> NodeConfig:
        cfg = NodeConfig(node_id=node, listen=self.raft_addr[node],
                         client_listen=self.client_addr[node], peers=self.peers(node),
                         data_dir=str(self.data_dir(node)), engine=self.engine,
                         design=self.design, tick_interval=self.tick_ms / 1000,
                         initial_ranges=self.ranges)
        for name, value in {**self.node_options, **self.overrides.get(node, {})}.items():
            setattr(cfg, name, value)
        return cfg

    def start_all(self) -> None:
        """Start the nodes in parallel (a slow start of one must not stall the others)."""
        errors: list[BaseException] = []

        def one(n: int) -> None:
            try:
                self.start(n)
            except BaseException as e:
                errors.append(e)
        threads = [threading.Thread(target=one, args=(n,)) for n in self.node_ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not any(t.is_alive() for t in threads), "a node took over 120s to start"
        if errors:
            raise errors[0]

    def _start(self, node: int) -> None:
        n = self.nodes[node] = Node(self.config(node)).start()
        for hook in self.on_start:
            hook(node, n)

    def _stop(self, node: int) -> None:
        self.nodes.pop(node).stop()

    def _kill(self, node: int) -> None:
        n = self.nodes.pop(node)
        transport = getattr(n.impl, "transport", None)  # both designs run transport.Transport
        if transport is not None:
            transport.stop()
        n.stop()


class ProcessCluster(Cluster):
    kind = "procs"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.procs: dict[int, subprocess.Popen] = {}
        self.exit_codes: dict[int, list[int]] = {n: [] for n in self.node_ids}
        #: node -> a function run in its child process before the node starts (set limits)
        self.preexec: dict[int, Callable[[], None]] = {}

    def log_path(self, node: int) -> Path:
        return self.tmp_path / f"node-{node}.log"

    def _start(self, node: int) -> None:
        peers = ",".join(f"{n}={a}" for n, a in self.peers(node).items())
        argv = [*NODE_COMMAND, "--id", str(node),
                "--listen", self.raft_addr[node], "--client", self.client_addr[node],
                "--peers", peers, "--data-dir", str(self.data_dir(node)),
                "--engine", self.engine, "--tick-ms", str(self.tick_ms),
                "--ranges", str(self.ranges), "--design", self.design]
        with open(self.log_path(node), "ab") as out:
            self.procs[node] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, cwd=REPO,
                                                preexec_fn=self.preexec.get(node))

    def _signal(self, node: int, sig: int, timeout: float) -> int:
        p = self.procs.pop(node)
        try:
            p.send_signal(sig)
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait(10)
            self.exit_codes[node].append(rc)
            raise AssertionError(f"node {node} (pid {p.pid}) ignored signal {sig} for "
                                 f"{timeout}s\n{self.log_tail(node)}")
        self.exit_codes[node].append(rc)
        return rc

    def _stop(self, node: int) -> None:
        rc = self._signal(node, signal.SIGTERM, 60)
        assert rc == 0, f"node {node} exited {rc} after SIGTERM\n{self.log_tail(node)}"

    def _kill(self, node: int) -> None:
        self._signal(node, signal.SIGKILL, 10)

    def exited(self, node: int) -> int:
        """Take note that ``node``'s process ended by itself; its exit code."""
        p = self.procs.pop(node)
        rc = p.wait(10)
        self.exit_codes[node].append(rc)
        self.running.discard(node)
        return rc

    def close(self) -> None:
        super().close()
        for p in self.procs.values():  # never left behind, whatever happened
            if p.poll() is None:
                p.kill()
                p.wait(10)

    def log_tail(self, node: int, lines: int = 30) -> str:
        try:
            text = self.log_path(node).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return f"--- node {node} log ---\n" + "\n".join(text[-lines:])

    def describe(self) -> str:
        return super().describe() + "".join(
            f"\n  node {n}: pid {p.pid} rc {p.poll()}" for n, p in self.procs.items())


#: design -> number of timer ticks an in-process node has run.
TICKS_BY_DESIGN: dict[str, Callable[[Node], int]] = {
    "actors": lambda node: node.impl.timer.proxy().ticks.get(timeout=10),
    "locks": lambda node: node.impl.store.liveness.ticks,  # an int, read without the lock
}

KINDS: dict[str, type[Cluster]] = {"inproc": InProcessCluster, "procs": ProcessCluster}


def _new_threads(before: set[threading.Thread]) -> list[threading.Thread]:
    """Live threads not in ``before``, except pyzmq's garbage-collector thread: one per process,
    started by the first large zero-copy send (whichever test makes it), never a leak."""
    return [t for t in threading.enumerate() if t not in before and t.is_alive()
            and type(t).__name__ != "GarbageCollectorThread"]


@pytest.fixture
def make_cluster(design: str, tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Factory: ``make_cluster(kind, ranges=64, tick_ms=50, start=True)`` -> a started 3-node
    cluster of ``design`` ("inproc" or "procs"). Torn down at the end of the test, failed or
    not: every node killed (by pid for processes), every client closed; then asserts that the
    test process leaked no thread and no socket."""
    threads_before = set(threading.enumerate())
    sockets_before = _socket_fds()
    made: list[Cluster] = []

    def make(kind: str, ranges: int = 64, tick_ms: int = 50, start: bool = True,
             **kw: Any) -> Cluster:
        c = KINDS[kind](tmp_path / f"cluster-{len(made)}", design, ranges, tick_ms, **kw)
        made.append(c)
        if start:
            c.start_all()
        return c

    try:
        yield make
    finally:
        for c in made:
            c.close()
    wait_until(lambda: not _new_threads(threads_before), 20, "the cluster's threads to end",
               diagnose=lambda: repr([t.name for t in _new_threads(threads_before)]))
    wait_until(lambda: _socket_fds() <= sockets_before, 20, "the cluster's sockets to close",
               diagnose=lambda: f"{len(_socket_fds() - sockets_before)} sockets left open")
