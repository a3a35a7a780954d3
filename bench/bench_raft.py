"""Raft core benchmark: committed entries/s for 3 in-memory RawNodes in one process, and the
cost of an idle tick for 10,000 RawNodes.

    .venv/bin/python -m multiraft.bench.bench_raft [--runs 5] [--seconds 3] [--batch 256]

Writes bench/results/raft.json and prints a table. No I/O, no threads: this is the ceiling the
core leaves to everything built on it.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import TypedDict, Unpack

from multiraft.raft import (Config, ConfState, HardState, MemoryStorage, RawNode, Snapshot,
                  SnapshotMetadata)

ENTRY = b"v" * 100


class _Tuning(TypedDict, total=False):
    """The ``Config`` settings a benchmark overrides (the rest keep Config's defaults)."""

    election_tick: int


def _bootstrapped(node_id: int, voters: tuple[int, ...],
                  **kw: Unpack[_Tuning]) -> tuple[MemoryStorage, RawNode]:
    s = MemoryStorage()
    s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(ConfState(voters=voters), 1, 1)))
    s.set_hard_state(HardState(term=1, commit=1))
    return s, RawNode(Config(node_id, s, rng=random.Random(node_id), **kw))


class Cluster:
    """Three RawNodes wired directly: the etcd application loop, messages delivered in-process."""

    def __init__(self) -> None:
        self.nodes = {i: _bootstrapped(i, (1, 2, 3)) for i in (1, 2, 3)}
        self.applied = dict.fromkeys(self.nodes, 0)

    def pump(self) -> None:
        busy = True
        while busy:
            busy = False
            for i, (s, n) in self.nodes.items():
                if not n.has_ready():
                    continue
                busy = True
                rd = n.ready()
                if rd.hard_state is not None:
                    s.set_hard_state(rd.hard_state)
                if rd.entries:
                    s.append(rd.entries)
                for m in rd.messages:
                    self.nodes[m.to][1].step(m)
                self.applied[i] += len(rd.committed_entries)
                n.advance(rd)


def committed_per_second(seconds: float, batch: int) -> float:
    c = Cluster()
    leader = c.nodes[1][1]
    leader.campaign()
    c.pump()
    base = min(c.applied.values())
    proposed = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds
    while time.perf_counter() < deadline:
        for _ in range(batch):
            leader.propose(ENTRY)
        proposed += batch
        c.pump()
    elapsed = time.perf_counter() - t0
    done = min(c.applied.values()) - base
    assert done == proposed, (done, proposed)  # every proposal committed and applied on all 3
    return done / elapsed


def idle_tick_us(n: int, leaders: bool) -> float:
    """µs per ``tick()`` + ``has_ready()`` of one of ``n`` idle nodes (followers or leaders)."""
    nodes = []
    for i in range(n):
        s, rn = _bootstrapped(1, (1,), election_tick=1_000_000_000 if not leaders else 10)
        if leaders:
            rn.campaign()
            while rn.has_ready():
                rd = rn.ready()
                s.append(rd.entries)
                if rd.hard_state:
                    s.set_hard_state(rd.hard_state)
                rn.advance(rd)
        nodes.append(rn)
    rounds = 20
    t0 = time.perf_counter()
    for _ in range(rounds):
        for rn in nodes:
            rn.tick()
            if rn.has_ready():
                rn.advance(rn.ready())
    return (time.perf_counter() - t0) / (rounds * n) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "raft.json"))
    args = ap.parse_args()
    tput = [committed_per_second(args.seconds, args.batch) for _ in range(args.runs)]
    fol = [idle_tick_us(10_000, leaders=False) for _ in range(args.runs)]
    lead = [idle_tick_us(10_000, leaders=True) for _ in range(args.runs)]
    res = {
        "committed_entries_per_s": {"median": statistics.median(tput), "runs": tput,
                                    "batch": args.batch, "entry_bytes": len(ENTRY)},
        "idle_tick_us_follower_10k": {"median": statistics.median(fol), "runs": fol},
        "idle_tick_us_leader_10k": {"median": statistics.median(lead), "runs": lead},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(res, indent=2))
    print(f"| metric | median of {args.runs} | runs |\n|---|---|---|")
    print(f"| committed entries/s (3 nodes, {len(ENTRY)} B, batch {args.batch}) | "
          f"{res['committed_entries_per_s']['median']:,.0f} | {', '.join(f'{x:,.0f}' for x in tput)} |")
    print(f"| idle tick, 10,000 followers (µs/node) | {statistics.median(fol):.2f} | "
          f"{', '.join(f'{x:.2f}' for x in fol)} |")
    print(f"| idle tick, 10,000 single-voter leaders (µs/node) | {statistics.median(lead):.2f} | "
          f"{', '.join(f'{x:.2f}' for x in lead)} |")


if __name__ == "__main__":
    main()
