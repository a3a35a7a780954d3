"""``multiraft check``: run a workload and a nemesis against a live cluster, then print whether
the history the clients recorded is linearizable.

    multiraft check [--seconds S] [--clients N] [--nemesis partition,kill,pause,split]
                    [--local [--dir DIR] [--design actors|locks]] [--seed N]
    multiraft check --history FILE        (check a saved history again)

The cluster is the one the global flags name (``--addr``, ``--cluster DIR``, ...), or, with
``--local``, a 3-node cluster this command starts in DIR (a temporary folder by default) on
127.0.0.2-4 with free ports and stops at the end, every process gone. ``kill`` and ``pause``
signal the nodes by pid: against a cluster this command did not start, they need
``--cluster DIR`` (its ``cluster.json`` lists the pids; a killed node is started again the way
it was started). ``partition`` needs every node on its own loopback address (127.0.0.x): not a
``multiraft-cluster``, whose nodes share 127.0.0.1.

The history is saved as JSON (``multiraft.check.history_file``) when it is not linearizable or
the checker could not decide: in DIR with ``--local --dir DIR``, else in the current folder.

Exit status: 0 linearizable; 1 not linearizable; 2 usage error; 3 could not run (the cluster
is unreachable or did not start, the nemesis could not be applied, no operation completed, the
checker gave up): the message says which. With ``--json`` stdout holds exactly one JSON value,
``{"linearizable": bool, "ops": int, "nemesis": [names that ran], "history": path or null}``
(``"linearizable": null`` and an ``"error"`` with exit status 3); progress goes to stderr.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import pids
from ..cli.addresses import AddressError, resolve_addresses
from ..cli.cluster_view import ClusterView
from ..cli.interrupts import sigterm_interrupts
from ..client import Client
from ..errors import ClientError, RangeBoundary
from ..local_cluster import LocalCluster, free_base_port
from multiraft.transport.keys import ClientCurve

from .history import HistoryRecorder, Operation
from .history_file import HistoryFileError, dump_history, load_history, save_history
from .iptables import Endpoint, Firewall, FirewallError, endpoints_of, partitionable
from .linearizability import CheckResult, check_linearizable
from .nemesis import NEMESES, Nemesis, NemesisError, schedule
from .processes import LocalNodes, ManifestNodes, NodeProcesses, ProcessError
from .workload import KeyPool, Workload

__all__ = ["CheckOptions", "CheckUsageError", "run", "LOCAL_HOSTS",
           "EXIT_LINEARIZABLE", "EXIT_NOT_LINEARIZABLE", "EXIT_USAGE", "EXIT_COULD_NOT_RUN"]

EXIT_LINEARIZABLE, EXIT_NOT_LINEARIZABLE, EXIT_USAGE, EXIT_COULD_NOT_RUN = 0, 1, 2, 3

#: ``--local``: node i on 127.0.0.(i+1), so that iptables rules can tell the nodes apart
LOCAL_HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
LOCAL_RANGES = 8
MAX_SECONDS = 7 * 24 * 3600.0
MAX_CLIENTS = 256


class CheckUsageError(ValueError):
    """A bad invocation of ``multiraft check`` (exit status 2)."""


class _CouldNotRun(Exception):
    """The check could not run (exit status 3); the message says why."""


@dataclass(slots=True)
class CheckOptions:
    seconds: float = 30.0
    clients: int = 8
    nemesis: list[str] = field(default_factory=lambda: list(NEMESES))
    local: bool = False
    dir: str | None = None
    design: str | None = None
    addr: str | None = None
    cluster: str | None = None
    json: bool = False
    timeout: float = 5.0
    history: str | None = None
    seed: int | None = None
    #: the CurveZMQ keys for the cluster's client addresses (``--keys``), if any
    curve: Callable[[list[str]], ClientCurve | None] = lambda addrs: None


def _say(text: str) -> None:
    print(f"multiraft check: {text}", file=sys.stderr, flush=True)


def validate(o: CheckOptions) -> None:
    """Raise ``CheckUsageError`` for a bad combination or value (before anything runs)."""
    if not 0 < o.seconds <= MAX_SECONDS:
        raise CheckUsageError(f"--seconds must be in (0, {MAX_SECONDS:.0f}]")
    if not 1 <= o.clients <= MAX_CLIENTS:
        raise CheckUsageError(f"--clients must be 1 to {MAX_CLIENTS}")
    if o.history is not None:
        if o.local or o.dir is not None or o.design is not None:
            raise CheckUsageError("--history checks a saved history: no --local, --dir or "
                                  "--design")
        return
    if not o.local:
        if o.dir is not None:
            raise CheckUsageError("--dir is for --local (where its cluster lives)")
        if o.design is not None:
            raise CheckUsageError("--design is for --local (the design of the cluster it starts)")
        needs_pids = [n for n in o.nemesis if n in ("kill", "pause")]
        if needs_pids and o.cluster is None:
            raise CheckUsageError(
                f"{' and '.join(needs_pids)} need{'s' if len(needs_pids) == 1 else ''} the "
                f"nodes' pids: give --cluster DIR (its "
                f"cluster.json, written by multiraft-cluster), or use --local")
    elif o.addr is not None or o.cluster is not None:
        raise CheckUsageError("--local starts its own cluster: no --addr or --cluster")


@dataclass(slots=True)
class _Target:
    """The cluster under test."""

    addresses: list[str]
    client_addr: dict[int, str]          # node id -> client address
    nodes: NodeProcesses | None
    endpoints: dict[int, Endpoint] | None  # node id -> raft endpoint, for partitions
    info: dict[str, Any]
    curve: ClientCurve | None = None
    cluster: LocalCluster | None = None
    history_dir: Path = field(default_factory=Path.cwd)


def run(o: CheckOptions) -> int:
    """Run ``multiraft check``; its exit status."""
    validate(o)
    if o.history is not None:
        return _recheck(o)
    with sigterm_interrupts():
        return _Check(o).run()


def _recheck(o: CheckOptions) -> int:
    try:
        history, doc = load_history(o.history or "")
    except HistoryFileError as e:
        raise CheckUsageError(str(e)) from None
    result = check_linearizable(history, timeout_s=_checker_timeout(o.seconds))
    ran = list(doc.get("run", {}).get("nemesis", []))
    return _report(o, history, result, ran, o.history, None)


def _checker_timeout(seconds: float) -> float:
    return max(60.0, seconds)


def _split_at(admin: Client, key: bytes) -> str:
    """Split the range of ``key`` at ``key``; what happened, for the nemesis' record (a split
    the faulted cluster could not make is not an error of the check)."""
    try:
        left, right = admin.split(key)
    except RangeBoundary:
        return f"at {key!r}: already a range boundary"
    except ClientError as e:
        return f"at {key!r}: not made ({type(e).__name__}: {e})"
    return f"at {key!r}: ranges {left[0]} | {right[0]} (generation {right[3]})"


def _move_replica(admin: Client, key: bytes, rng: random.Random) -> str:
    """Move a replica of the range of ``key``: to a node holding none if there is one, else off
    a follower's node and back (the node gets a new replica id); what happened, for the
    nemesis' record (a move the faulted cluster could not make is not an error of the check)."""
    try:
        view = ClusterView.fetch(admin)
        target_range = next((r for r in view.described_ranges
                     if r.start_key is not None and r.start_key <= key
                     and (not r.end_key or key < r.end_key)), None)
        if target_range is None:
            return f"range of {key!r}: not found"
        nodes = sorted({n for v in view.nodes if v.status is not None
                        for n in [v.status["node"]["node_id"]]})
        members = sorted(target_range.replicas)
        outside = [n for n in nodes if n not in members]
        followers = [n for n in members if n != target_range.leader] or members
        frm = rng.choice(followers)
        if outside:
            to = rng.choice(outside)
            admin.move_replica(target_range.range_id, frm, to)
            return f"range {target_range.range_id}: replica moved from node {frm} to node {to}"
        admin.remove_replica(target_range.range_id, frm)
        admin.add_replica(target_range.range_id, frm)
        return f"range {target_range.range_id}: node {frm}'s replica removed and added again"
    except ClientError as e:
        return f"range of {key!r}: not moved ({type(e).__name__}: {e})"


class _Check:
    def __init__(self, o: CheckOptions) -> None:
        self.o = o
        self.rng = random.Random(o.seed)
        self.stop = threading.Event()
        self.tmp: Path | None = None

    def run(self) -> int:
        o = self.o
        target: _Target | None = None
        nemesis: Nemesis | None = None
        workload: Workload | None = None
        recorder = HistoryRecorder()
        problem: str | None = None
        incidents: list[str] = []
        try:
            target = self._target()
            firewall = self._firewall(target) if "partition" in o.nemesis else None
            with Client(target.addresses, timeout=min(o.timeout, 2.0), curve=target.curve) as admin, \
                    Client(target.addresses, timeout=20.0, curve=target.curve) as mover:
                view = ClusterView.fetch(admin)
                if view.unreachable:
                    raise _CouldNotRun(f"cluster unreachable: no answer from "
                                       f"{', '.join(view.unreachable)}")
                spans = [(r.start_key, r.end_key) for r in view.ranges if r.start_key is not None]
                pool = KeyPool(spans, active=max(2, o.clients // 2), ops_per_key=100)
                workload = Workload(target.addresses, o.clients, pool, recorder,
                                    timeout=o.timeout, max_ops=int(o.seconds * 1000) + 1000,
                                    curve=target.curve, seed=self.rng.randrange(1 << 30))
                nemesis = Nemesis(o.nemesis, sorted(target.client_addr), nodes=target.nodes,
                                  firewall=firewall, endpoints=target.endpoints,
                                  serving=lambda i: _answers(admin, target.client_addr[i]),
                                  rng=self.rng, say=_say, stop=self.stop,
                                  splitter=lambda: _split_at(admin, pool.pick(self.rng)),
                                  mover=lambda: _move_replica(mover, pool.pick(self.rng),
                                                              self.rng))
                plan = schedule(o.seconds, len(o.nemesis))
                _say(f"{o.clients} clients for about {o.seconds:g} s; nemesis: "
                     f"{', '.join(o.nemesis) or 'none'} (faults of {plan.fault:.1f} s, heals of "
                     f"{plan.heal:.1f} s, final {plan.final:.1f} s without faults)")
                workload.start()
                try:
                    nemesis.run(plan)
                except NemesisError as e:
                    problem = f"nemesis could not be applied: {e}"
                    _say(problem)
                else:
                    self.stop.wait(plan.final)
                    nemesis.check_alive()
        except _CouldNotRun as e:
            problem = str(e)
        finally:
            if workload is not None:
                stuck = workload.finish(timeout=o.timeout + 30)
                if stuck:
                    problem = problem or f"client threads did not stop: {stuck}"
            if nemesis is not None:
                for err in nemesis.cleanup(restart=target is not None and target.cluster is None):
                    _say(f"cleanup: {err}")
                incidents = nemesis.incidents
            if target is not None and target.cluster is not None:
                self._stop_local(target.cluster)
        if workload is not None and workload.errors:
            problem = problem or f"the workload failed: {workload.errors[0]!r}"
        history = recorder.history()
        if problem is not None and not history:
            return _could_not_run(o, problem, [] if nemesis is None else nemesis.ran)
        assert target is not None and nemesis is not None and workload is not None
        stats = workload.total()
        _say(f"{len(history)} operations ({stats.ok} ok, {stats.unknown} of unknown outcome; "
             f"{stats.failed} not applied, left out) on {workload.keys.keys_used} keys; "
             f"checking ...")
        if stats.ok == 0:
            problem = problem or "no operation completed: is the cluster available?"
        t0 = time.monotonic()
        result = check_linearizable(history, timeout_s=_checker_timeout(o.seconds))
        _say(f"checked in {time.monotonic() - t0:.1f} s: {result.verdict.value}")
        path = None
        if not result.ok:
            info = {**target.info, "seconds": o.seconds, "clients": o.clients,
                    "nemesis": nemesis.ran, "events": nemesis.events, "incidents": incidents,
                    "problem": problem}
            path = save_history(target.history_dir / _history_name(),
                                dump_history(history, result.verdict.value, result.explanation,
                                             info))
        for text in incidents:
            _say(f"INCIDENT: {text}")
        if problem is not None and not result.illegal:
            return _could_not_run(o, problem, nemesis.ran, len(history), path)
        return _report(o, history, result, nemesis.ran, None if path is None else str(path),
                       incidents)

    # -- the cluster under test ---------------------------------------------------------------

    def _target(self) -> _Target:
        o = self.o
        if o.local:
            return self._start_local()
        try:
            addrs = resolve_addresses(o.addr, o.cluster)
        except AddressError as e:
            raise CheckUsageError(str(e)) from None
        manifest = _manifest(o.cluster) if o.cluster is not None else None
        if "partition" in o.nemesis:  # the nodes' raft addresses, else their client addresses
            hosts = [a.rpartition(":")[0] for a in
                     ([n["raft"] for n in manifest] if manifest is not None else addrs)]
            why = partitionable(hosts)
            if why is not None:
                raise CheckUsageError(why)
            if len(hosts) < 2:
                raise CheckUsageError("partition needs at least two nodes")
        curve = o.curve(addrs)
        client_addr = ({int(n["id"]): n["client"] for n in manifest} if manifest is not None
                       else self._node_ids(addrs, curve))
        endpoints = None
        if "partition" in o.nemesis:
            endpoints = (endpoints_of({int(n["id"]): n["raft"] for n in manifest}, True)
                         if manifest is not None else endpoints_of(client_addr, False))
        nodes = None
        if "kill" in o.nemesis or "pause" in o.nemesis:
            assert o.cluster is not None  # validate()
            try:
                nodes = ManifestNodes(o.cluster)
            except ProcessError as e:
                raise _CouldNotRun(f"nemesis could not be applied: {e}") from None
        return _Target(addrs, client_addr, nodes, endpoints,
                       {"cluster": o.cluster, "addresses": addrs}, curve)

    def _node_ids(self, addrs: list[str], curve: ClientCurve | None) -> dict[int, str]:
        """node id -> client address, from each address's STATUS."""
        out = {}
        with Client(addrs, timeout=min(self.o.timeout, 2.0), curve=curve) as c:
            for a in addrs:
                try:
                    out[int(c.status(a, ranges=False)["node"]["node_id"])] = a
                except (ClientError, TimeoutError) as e:
                    raise _CouldNotRun(f"cluster unreachable: {a}: {e or type(e).__name__}") from None
        return out

    def _start_local(self) -> _Target:
        o = self.o
        if o.dir is None:
            self.tmp = Path(tempfile.mkdtemp(prefix="multiraft-check-"))
        directory = Path(o.dir) if o.dir is not None else self.tmp
        assert directory is not None
        hosts = list(LOCAL_HOSTS)
        design = o.design or "actors"
        cluster = LocalCluster(directory, len(hosts), LOCAL_RANGES, free_base_port(hosts),
                               design, hosts=hosts)
        _say(f"starting a 3-node {design} cluster on {hosts[0]}-{hosts[-1].rpartition('.')[2]} "
             f"in {directory}")
        try:
            cluster.start(timeout=120)
        except (RuntimeError, TimeoutError, OSError) as e:
            self._stop_local(cluster)
            raise _CouldNotRun(f"the local cluster did not start: {e}") from None
        ids = cluster.ids
        return _Target(cluster.client_addrs, {i: cluster.client_addr(i) for i in ids},
                       LocalNodes(cluster),
                       endpoints_of({i: cluster.raft_addr(i) for i in ids}, True),
                       {"local": str(directory), "design": design, "hosts": hosts,
                        "addresses": cluster.client_addrs},
                       cluster=cluster,
                       history_dir=Path(o.dir) if o.dir is not None else Path.cwd())

    def _stop_local(self, cluster: LocalCluster) -> None:
        started = [p.pid for p in cluster.procs.values()]
        cluster.stop()
        left = [p for p in started if pids.alive(p)]
        if left:
            _say(f"node processes still running after the stop: {left}")
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _firewall(self, target: _Target) -> Firewall:
        fw = Firewall()
        try:
            for rule in fw.sweep_stale():
                _say(f"removed a rule left by a nemesis that is gone: {rule}")
            fw.probe()
        except FirewallError as e:
            raise _CouldNotRun(f"nemesis could not be applied: partition: {e}") from None
        return fw


def _manifest(directory: str) -> list[dict[str, Any]]:
    path = Path(directory) / "cluster.json"
    try:
        nodes = [{"id": int(n["id"]), "client": str(n["client"]), "raft": str(n["raft"])}
                 for n in json.loads(path.read_text())["nodes"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckUsageError(f"cannot read {path}: {e!r}") from None
    return nodes


def _answers(client: Client, address: str) -> bool:
    try:
        client.status(address, ranges=False)
    except (ClientError, TimeoutError):
        return False
    return True


def _history_name() -> str:
    return f"multiraft-check-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(1 << 16):04x}.json"


def _emit_json(data: dict[str, Any]) -> None:
    print(json.dumps(data, indent=2), flush=True)


def _could_not_run(o: CheckOptions, problem: str, ran: list[str], ops: int = 0,
                   path: Path | None = None) -> int:
    print(f"multiraft: could not run the check: {problem}", file=sys.stderr)
    if path is not None:
        print(f"multiraft: history saved to {path}", file=sys.stderr)
    if o.json:
        _emit_json({"linearizable": None, "ops": ops, "nemesis": ran,
                    "history": str(path) if path is not None else None, "error": problem})
    return EXIT_COULD_NOT_RUN


def _report(o: CheckOptions, history: list[Operation], result: CheckResult, ran: list[str],
            path: str | None, incidents: list[str] | None) -> int:
    """Print the verdict; its exit status."""
    if result.unknown:
        problem = f"the checker gave up (undecided): {result.explanation.splitlines()[0]}"
        print(f"multiraft: could not run the check: {problem}", file=sys.stderr)
        if path is not None:
            print(f"multiraft: history saved to {path}", file=sys.stderr)
        if o.json:
            _emit_json({"linearizable": None, "ops": len(history), "nemesis": ran,
                        "history": path, "error": problem})
        return EXIT_COULD_NOT_RUN
    if result.illegal:
        print(f"multiraft: NOT linearizable: {result}", file=sys.stderr)
        if path is not None:
            print(f"multiraft: history saved to {path}", file=sys.stderr)
    if o.json:
        _emit_json({"linearizable": result.ok, "ops": len(history), "nemesis": ran,
                    "history": path})
    else:
        print(f"linearizable: {'yes' if result.ok else 'NO'}")
        print(f"operations: {len(history)} on {result.partitions} keys")
        print(f"nemesis: {', '.join(ran) or 'none'}")
        if incidents:
            print(f"incidents: {len(incidents)} (see above)")
        if path is not None:
            print(f"history: {path}")
    return EXIT_LINEARIZABLE if result.ok else EXIT_NOT_LINEARIZABLE
