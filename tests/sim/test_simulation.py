"""The whole-cluster simulation (``multiraft.sim``): real actor-design nodes on one seeded
thread with a simulated network, disk and clock (simulated by design: it is what this suite
tests). It must be reproducible (a seed replays exactly), keep its command-line contract, run
clean on the real code over many seeds, and catch the known bug classes re-introduced one at
a time (``multiraft.sim.mutations``).

``MULTIRAFT_SIM_SEEDS=N`` runs N seeds instead of the CI's 500 (a soak: 10,000 take about an
hour on 2 cores); ``MULTIRAFT_SIM_EVENTS`` sets the events per seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from multiraft.sim import SimOptions, simulate
from multiraft.sim.mutations import MUTATIONS, MutationError, applied

REPO = Path(__file__).resolve().parents[2]
KEYS = {"seed", "events", "simulated_s", "ops", "trace_hash", "violations"}
#: the events of each seed in the CI's batch and in the mutation searches
EVENTS = int(os.environ.get("MULTIRAFT_SIM_EVENTS", "3000"))


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "multiraft.sim", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=1200)


def test_a_seed_replays_exactly_in_one_process() -> None:
    a = simulate(SimOptions(seed=11, events=EVENTS))
    b = simulate(SimOptions(seed=11, events=EVENTS))
    c = simulate(SimOptions(seed=12, events=EVENTS))
    assert a.as_json() == b.as_json()
    assert a.trace_hash != c.trace_hash


def test_the_command_line_prints_one_json_line_and_replays_in_another_process() -> None:
    runs = [_sim("--seed", "5", "--events", "2000", "--nodes", "3", "--ranges", "8")
            for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    lines = [r.stdout.splitlines() for r in runs]
    assert [len(x) for x in lines] == [1, 1]
    row = json.loads(lines[0][0])
    assert set(row) == KEYS and row["seed"] == 5 and row["violations"] == []
    assert row["events"] >= 2000 and row["ops"] > 0 and row["simulated_s"] > 0
    assert lines[0] == lines[1], "the same seed gives the same run, trace_hash included"


def test_seeds_a_to_b_print_a_line_each() -> None:
    r = _sim("--seeds", "3:6", "--events", "1000")
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [row["seed"] for row in rows] == [3, 4, 5]
    assert len({row["trace_hash"] for row in rows}) == 3


def test_a_violation_exits_1_and_bad_usage_2() -> None:
    caught = _sim("--seeds", "0:10", "--events", str(EVENTS), "--mutation", "follower_read")
    assert caught.returncode == 1, caught.stdout + caught.stderr
    rows = [json.loads(line) for line in caught.stdout.splitlines()]
    assert len(rows) == 10 and any(row["violations"] for row in rows)
    for bad in (["--seeds", "5:3"], ["--seeds", "x"], ["--seed", "1", "--events", "0"], []):
        assert _sim(*bad).returncode == 2


def _batch(lo: int, hi: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "multiraft.sim", "--seeds", f"{lo}:{hi}",
                             "--events", str(EVENTS)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_many_seeds_find_no_violation_in_the_real_code() -> None:
    """The CI's batch (500 seeds, split over two processes: the machine has two cores)."""
    n = int(os.environ.get("MULTIRAFT_SIM_SEEDS", "500"))
    procs = [_batch(0, n // 2), _batch(n // 2, n)]
    rows = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=3 * 3600)
            rows += [json.loads(line) for line in out.splitlines()]
            assert p.returncode in (0, 1), err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    failed = [r for r in rows if r["violations"]]
    assert len(rows) == n
    assert not failed, "\n".join(f"seed {r['seed']} (replay: python -m multiraft.sim --seed "
                                 f"{r['seed']} --events {EVENTS}): {r['violations']}"
                                 for r in failed[:5])


#: the seeds searched for each mutation, at most: each was caught well within (README)
SEARCH = {"ack_before_fsync": 40, "apply_twice_after_snapshot": 20,
          "stale_route_after_split": 60, "follower_read": 10}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_reintroduced_bug_is_caught(name: str) -> None:
    with applied(MUTATIONS[name]):
        for seed in range(SEARCH[name]):
            r = simulate(SimOptions(seed=seed, events=EVENTS))
            if r.violations:
                return
    raise AssertionError(f"{name}: no violation in seeds 0..{SEARCH[name] - 1}")


def test_the_real_code_is_back_after_a_mutation() -> None:
    before = simulate(SimOptions(seed=2, events=1000)).trace_hash
    with applied(MUTATIONS["follower_read"]):
        pass
    assert simulate(SimOptions(seed=2, events=1000)).trace_hash == before


def test_a_mutation_that_no_longer_matches_the_code_says_so() -> None:
    from multiraft.sim.mutations import Edit, Mutation
    from multiraft.store.group_commit import GroupCommit
    stale = Mutation("stale", "x", (Edit(GroupCommit, "flush", "no such text", "x"),))
    with pytest.raises(MutationError), applied(stale):
        pass
