"""The nemesis' partition rules: what iptables is told (a fake iptables that keeps a chain), that
every rule is removed at heal (also rules of ours it lost track of) and that only the rules of
dead nemesis processes are swept; then the real iptables (CI is root with iptables installed:
a machine where it cannot partition fails here, it does not skip)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

import pytest

from multiraft.check.iptables import (TAG_PREFIX, DropRule, Endpoint, Firewall, FirewallError,
                                      isolate, one_way, partitionable, two_way)

A, B, C = Endpoint("127.0.0.2", 7101), Endpoint("127.0.0.3", 7102), Endpoint("127.0.0.4", 7103)
TAG = "multiraft-nemesis-4242"


class FakeIptables:
    """``iptables -w -I/-D/-S INPUT ...`` on an in-memory chain; every command line kept."""

    def __init__(self) -> None:
        self.chain: list[list[str]] = []
        self.commands: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.commands.append(argv)
        assert argv[:2] == ["iptables", "-w"], argv
        op, chain, spec = argv[2], argv[3], argv[4:]
        assert chain == "INPUT"
        if op == "-I":
            self.chain.insert(0, spec)
        elif op == "-D":
            if spec not in self.chain:
                return subprocess.CompletedProcess(argv, 1, "", "iptables: Bad rule")
            self.chain.remove(spec)
        elif op == "-S":
            lines = ["-P INPUT ACCEPT"] + [shlex.join(["-A", "INPUT", *r]) for r in self.chain]
            return subprocess.CompletedProcess(argv, 0, "\n".join(lines) + "\n", "")
        return subprocess.CompletedProcess(argv, 0, "", "")


def test_a_one_way_rule_drops_what_the_source_sends_to_the_destination_raft_port() -> None:
    (rule,) = one_way(A, B, TAG)
    assert rule.spec() == ["-i", "lo", "-s", "127.0.0.2", "-d", "127.0.0.3", "-p", "tcp",
                           "--dport", "7102", "-m", "comment", "--comment", TAG, "-j", "DROP"]
    unported = DropRule("127.0.0.2", Endpoint("127.0.0.3"), TAG).spec()
    assert "--dport" not in unported and unported[-6:] == ["-m", "comment", "--comment", TAG,
                                                           "-j", "DROP"]


def test_two_way_and_majority_minority_cut_every_direction_between_the_sides() -> None:
    assert {(r.source, r.dest.host) for r in two_way(A, B, TAG)} == \
        {("127.0.0.2", "127.0.0.3"), ("127.0.0.3", "127.0.0.2")}
    cut = {(r.source, r.dest.host) for r in isolate([A], [B, C], TAG)}
    assert cut == {("127.0.0.2", "127.0.0.3"), ("127.0.0.3", "127.0.0.2"),
                   ("127.0.0.2", "127.0.0.4"), ("127.0.0.4", "127.0.0.2")}


def test_apply_inserts_and_heal_removes_every_rule_even_the_ones_it_lost_track_of() -> None:
    ipt = FakeIptables()
    fw = Firewall(TAG, run=ipt)
    other = DropRule("127.0.0.9", Endpoint("127.0.0.8"), "someone-else")
    ipt.chain.append(other.spec())
    fw.apply(isolate([A], [B, C], TAG))
    assert len(ipt.chain) == 5
    assert all(c[2] == "-I" for c in ipt.commands)
    fw.applied.pop()  # a rule it forgot: still found by its tag
    fw.heal()
    assert ipt.chain == [other.spec()], "only the other program's rule is left"
    assert fw.applied == []
    fw.heal()  # healing twice is harmless
    assert ipt.chain == [other.spec()]


def test_sweep_removes_the_rules_of_dead_nemesis_processes_only() -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_tag = f"{TAG_PREFIX}{dead.stdout.strip()}"
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            ipt = FakeIptables()
            fw = Firewall(TAG, run=ipt)
            ipt.chain = [one_way(A, B, dead_tag)[0].spec(),
                         one_way(B, C, f"{TAG_PREFIX}{alive.pid}")[0].spec(),
                         one_way(C, A, TAG)[0].spec()]
            swept = fw.sweep_stale()
            assert len(swept) == 1 and dead_tag in swept[0]
            assert [r[r.index("--comment") + 1] for r in ipt.chain] == \
                [f"{TAG_PREFIX}{alive.pid}", TAG], "live processes' rules and our own stay"
        finally:
            alive.kill()


def test_a_refused_rule_or_a_missing_program_is_a_firewall_error() -> None:
    def refuse(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 4, "", "Permission denied (you must be root)")

    with pytest.raises(FirewallError, match="Permission denied"):
        Firewall(TAG, run=refuse).apply(one_way(A, B, TAG))
    with pytest.raises(FirewallError, match="not installed"):
        Firewall(TAG, program="iptables-that-does-not-exist").probe()


@pytest.mark.parametrize("hosts, why", [
    (["127.0.0.2", "127.0.0.3", "127.0.0.4"], None),
    (["127.0.0.1", "127.0.0.1", "127.0.0.1"], "share 127.0.0.1"),
    (["10.0.0.1", "10.0.0.2"], "loopback clusters only"),
    (["localhost", "127.0.0.3"], "loopback clusters only"),
])
def test_only_nodes_on_distinct_loopback_addresses_can_be_partitioned(hosts: list[str],
                                                                      why: str | None) -> None:
    found = partitionable(hosts)
    assert (found is None) if why is None else (found is not None and why in found), found


# -- the real iptables ------------------------------------------------------------------------

def _tagged(tag: str) -> list[str]:
    out = subprocess.run(["iptables", "-w", "-S", "INPUT"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if tag in line]


def test_real_iptables_takes_the_rules_and_heal_leaves_none() -> None:
    """Fails (does not skip) where iptables is missing or not permitted: CI must partition."""
    fw = Firewall()  # tagged with this process's pid
    tag = fw.tag
    assert tag == f"{TAG_PREFIX}{os.getpid()}"
    try:
        fw.probe()
        fw.apply(two_way(A, B, tag) + one_way(C, A, tag))
        rules = _tagged(tag)
        assert len(rules) == 3, rules
        assert any("-s 127.0.0.2/32 -d 127.0.0.3/32 -i lo -p tcp" in r and "--dport 7102" in r
                   for r in rules), rules
    finally:
        fw.heal()
    assert _tagged(tag) == []
