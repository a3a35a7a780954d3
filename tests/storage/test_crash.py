"""Crash safety: a child process writes durable group commits to a real RocksDB and is killed
with SIGKILL at random points; after every reopen, each acknowledged batch is there, no batch is
torn, HardState and log agree, and the applied index matches the data. Every other child commits
through ``write_many`` (one batch per range), so a group of batches must not tear either."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from multiraft.raft.types import HardState
from multiraft.storage import KVStateMachine, ReplicaStorage, RocksEngine, keys

from .crash_child import descriptor, user_key

KILLS = 50
N_RANGES = 8
ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(db: str, rng: random.Random, mode: str) -> int:
    """Start the child, kill it at a random point after its first ack; the last acked batch."""
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("crash_child.py")), db,
                              str(N_RANGES), mode], stdout=subprocess.PIPE, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    first = child.stdout.readline()
    assert first.endswith(b"\n"), "child died before its first write"
    time.sleep(rng.uniform(0, 0.05))
    child.send_signal(signal.SIGKILL)
    rest = child.stdout.read()
    child.wait()
    acked = [int(line) for line in (first + rest).split(b"\n")[:-1]]  # last piece: partial
    return acked[-1]


def check(db: str, acked: int) -> int:
    engine = RocksEngine(db)
    try:
        lasts = set()
        for rid in range(1, N_RANGES + 1):
            log, sm = ReplicaStorage(engine, rid), KVStateMachine(engine, rid)
            last = log.last_index()
            lasts.add(last)
            assert last >= acked, f"range {rid}: acknowledged batch {acked} lost (last {last})"
            assert log.initial_state()[0] == HardState(term=1, vote=1, commit=last)
            ents = log.entries(log.first_index(), last + 1)
            assert [e.index for e in ents] == list(range(2, last + 1))
            assert sm.applied.index == last - 1
            lo, hi = descriptor(rid).engine_span()
            stored = [keys.user_key_of(k) for k, _ in engine.scan(lo, hi)]
            assert stored == [user_key(rid, i) for i in range(2, last)]
            assert len(sm.dedup_table()) == 1 and sm.dedup_table()[rid].seq == last - 1
        assert len(lasts) == 1, f"torn batch: ranges end at {sorted(lasts)}"
        return lasts.pop()
    finally:
        engine.close()


def test_acknowledged_batches_survive_sigkill(tmp_path):
    rng = random.Random(0xC0FFEE)
    db = str(tmp_path / "db")
    previous = 0
    started = time.monotonic()
    for kill in range(KILLS):
        acked = run_and_kill(db, rng, ("one", "many")[kill % 2])
        assert acked > previous  # the child made progress from the reopened state
        previous = check(db, acked)
    assert time.monotonic() - started < 120
