"""The nemesis: its names, its schedule, what each fault and heal does to the nodes (fake
processes and a fake iptables), and partitions between real node processes on 127.0.0.2-4
(real iptables rules: one-way, two-way, majority/minority, seen in the nodes' own liveness)."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from multiraft.check.iptables import Endpoint, Firewall, isolate, one_way, two_way
from multiraft.check.nemesis import NEMESES, Nemesis, parse_nemeses, schedule
from multiraft.check.processes import NodeProcesses, ProcessError
from multiraft.local_cluster import LocalCluster, free_base_port

from .test_iptables import FakeIptables

IDS = [1, 2, 3]
ENDPOINTS = {i: Endpoint(f"127.0.0.{i + 1}", 7100 + i) for i in IDS}


def test_names_parse() -> None:
    assert parse_nemeses("partition,kill,pause,split,move") == list(NEMESES)
    assert parse_nemeses("kill, kill,pause") == ["kill", "pause"]
    assert parse_nemeses("none") == [] and parse_nemeses("") == []
    with pytest.raises(ValueError, match="unknown nemesis 'clock'"):
        parse_nemeses("clock")


@pytest.mark.parametrize("seconds", [10, 12, 30, 60, 600, 3600])
@pytest.mark.parametrize("nemeses", [1, 2, 3])
def test_the_schedule_fits_every_nemesis_from_ten_seconds_on(seconds: float, nemeses: int) -> None:
    plan = schedule(seconds, nemeses)
    cycles = int((plan.faults_until - plan.warmup) / plan.cycle + 1e-9)
    assert cycles >= nemeses, plan
    assert plan.warmup + plan.final + cycles * plan.cycle <= seconds + 1e-6, plan
    assert 2.0 <= plan.final <= 10.0 and plan.fault >= 1.2 and plan.heal >= 0.8
    assert plan.cycle <= 8.0, "a fault every few seconds"


class FakeProcesses(NodeProcesses):
    """Nodes as states: running, stopped (SIGSTOP) or dead; ``abort_on_resume`` nodes die on
    SIGCONT (as a node hit by the libzmq heartbeat assert did)."""

    def __init__(self) -> None:
        self.ids = list(IDS)
        self.state = dict.fromkeys(IDS, "running")
        self.restarts: list[int] = []
        self.abort_on_resume: set[int] = set()

    def pid(self, i: int) -> int | None:
        return 1000 + i if self.state[i] != "dead" else None

    def running(self, i: int) -> bool:
        return self.state[i] != "dead"

    def signal(self, i: int, sig: int) -> None:
        if self.state[i] == "dead":
            raise ProcessError(f"node {i} is not running")
        if sig == signal.SIGSTOP:
            self.state[i] = "stopped"
        elif sig == signal.SIGCONT:
            self.state[i] = "dead" if i in self.abort_on_resume else "running"

    def kill(self, i: int) -> None:
        self.state[i] = "dead"

    def restart(self, i: int) -> None:
        assert self.state[i] == "dead"
        self.state[i] = "running"
        self.restarts.append(i)

    def how_it_ended(self, i: int) -> str:
        return "SIGABRT"

    def log_path(self, i: int) -> Path | None:
        return None


def nemesis(names: list[str]) -> tuple[Nemesis, FakeProcesses, FakeIptables]:
    procs, ipt = FakeProcesses(), FakeIptables()
    splits: list[int] = []

    def splitter() -> str:
        splits.append(1)
        return f"at b'k{len(splits)}': ranges 1 | {len(splits) + 1}"
    def mover() -> str:
        return "range 1: replica moved from node 2 to node 4"
    return Nemesis(names, IDS, nodes=procs, firewall=Firewall("multiraft-nemesis-1", run=ipt),
                   endpoints=ENDPOINTS, rng=random.Random(5), splitter=splitter,
                   mover=mover), procs, ipt


def test_each_fault_is_undone_by_its_heal() -> None:
    n, procs, ipt = nemesis(list(NEMESES))
    for _ in range(6):
        n.fault("partition")
        assert ipt.chain, "a partition inserts rules"
        n.heal()
        assert ipt.chain == []
    n.fault("kill")
    (victim,) = [i for i in IDS if procs.state[i] == "dead"]
    n.heal()
    assert procs.state[victim] == "running" and procs.restarts == [victim]
    n.fault("pause")
    (paused,) = [i for i in IDS if procs.state[i] == "stopped"]
    n.heal()
    assert procs.state[paused] == "running"
    n.fault("split")
    n.heal()
    assert n.events[-2]["detail"] == "at b'k1': ranges 1 | 2"
    n.fault("move")
    n.heal()
    assert n.incidents == [] and n.ran == ["partition", "kill", "pause", "split", "move"]
    assert [e["what"] for e in n.events] == ["fault", "heal"] * 10
    assert n.events[-2]["detail"] == "range 1: replica moved from node 2 to node 4"


def test_partitions_come_in_every_shape() -> None:
    n, _, ipt = nemesis(["partition"])
    shapes = set()
    for _ in range(30):
        n.fault("partition")
        shapes.add(len(ipt.chain))  # one-way 1 rule, two-way 2, majority/minority 4
        n.heal()
    assert shapes == {1, 2, 4}


def test_a_node_that_dies_on_resume_is_an_incident_and_is_started_again() -> None:
    n, procs, _ = nemesis(["pause"])
    procs.abort_on_resume = set(IDS)
    n.fault("pause")
    (paused,) = [i for i in IDS if procs.state[i] == "stopped"]
    n.heal()
    assert procs.state[paused] == "running" and procs.restarts == [paused]
    (incident,) = n.incidents
    assert f"node {paused} died by itself (SIGABRT)" in incident and "pause" in incident


def test_cleanup_resumes_paused_nodes_and_removes_rules_whatever_happened() -> None:
    n, procs, ipt = nemesis(list(NEMESES))
    n.fault("pause")
    n.firewall.apply(two_way(ENDPOINTS[1], ENDPOINTS[2], n.firewall.tag))  # type: ignore[union-attr]
    assert n.cleanup(restart=False) == []
    assert ipt.chain == [] and all(s == "running" for s in procs.state.values())
    n.fault("kill")
    assert n.cleanup(restart=True) == []
    assert all(s == "running" for s in procs.state.values())


def test_run_follows_the_schedule_and_ends_healed() -> None:
    n, procs, ipt = nemesis(list(NEMESES))
    plan = schedule(10, 3)
    plan = type(plan)(0.01, 0.01, 0.01, 0.2, plan.final)  # the same shape, fast
    n.run(plan)
    assert n.ran == list(NEMESES)
    assert ipt.chain == [] and all(s == "running" for s in procs.state.values())


# -- real processes, real rules ---------------------------------------------------------------

HOSTS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]


def _silent(cluster: LocalCluster) -> dict[int, list[int]]:
    """node -> the peers it has not heard from lately (its STATUS), for the nodes that answer."""
    out = {}
    with cluster.client(timeout=1.0) as c:
        for i in cluster.ids:
            try:
                out[i] = sorted(c.status(cluster.client_addr(i), ranges=False)["node"]["silent_peers"])
            except Exception:
                pass
    return out


def _wait_silent(cluster: LocalCluster, want: dict[int, list[int]], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (got := _silent(cluster)) != want:
        assert time.monotonic() < deadline, f"silent peers {got}, want {want}"
        time.sleep(0.2)


def test_real_partitions_cut_exactly_the_directions_they_name(tmp_path: Path) -> None:
    """Three node processes on 127.0.0.2-4; each partition is seen in the nodes' liveness
    (who has not heard from whom), and each heal brings every node back in touch."""
    cluster = LocalCluster(tmp_path, 3, 2, free_base_port(HOSTS), fsync=False, hosts=HOSTS)
    fw = Firewall()
    ep = {i: Endpoint(cluster.host(i), cluster.base_port + i) for i in cluster.ids}
    with cluster:
        try:
            fw.probe()
            _wait_silent(cluster, {1: [], 2: [], 3: []})
            fw.apply(one_way(ep[1], ep[2], fw.tag))  # 1's messages to 2 are lost
            _wait_silent(cluster, {1: [], 2: [1], 3: []})
            fw.heal()
            _wait_silent(cluster, {1: [], 2: [], 3: []})
            fw.apply(two_way(ep[2], ep[3], fw.tag))
            _wait_silent(cluster, {1: [], 2: [3], 3: [2]})
            fw.heal()
            _wait_silent(cluster, {1: [], 2: [], 3: []})
            fw.apply(isolate([ep[3]], [ep[1], ep[2]], fw.tag))
            _wait_silent(cluster, {1: [3], 2: [3], 3: [1, 2]})
        finally:
            fw.heal()
        _wait_silent(cluster, {1: [], 2: [], 3: []})


def test_a_node_that_dies_in_the_final_phase_is_an_incident_once() -> None:
    n, procs, _ = nemesis(["pause"])
    n.final_heal()
    procs.state[2] = "dead"  # after the final heal, by itself
    n.check_alive()
    n.check_alive()
    (incident,) = n.incidents
    assert "node 2 died by itself (SIGABRT) in the final phase" in incident
    assert n.cleanup(restart=True) == [] and procs.state[2] == "running"


def test_a_node_that_dies_just_after_its_heal_is_restarted_without_waiting_out_the_heal() -> None:
    procs, ipt = FakeProcesses(), FakeIptables()
    dies = {2}

    def serving(i: int) -> bool:
        if i in dies:  # aborts on resume, a moment after SIGCONT
            dies.discard(i)
            procs.state[i] = "dead"
            return False
        return procs.state[i] == "running"

    n = Nemesis(["pause"], IDS, nodes=procs, firewall=Firewall("multiraft-nemesis-1", run=ipt),
                endpoints=ENDPOINTS, serving=serving)
    t0 = time.monotonic()
    assert n.wait_serving(timeout=20) == []
    assert time.monotonic() - t0 < 5 and procs.restarts == [2]
    (incident,) = n.incidents
    assert "node 2 died by itself (SIGABRT) after the heal" in incident
