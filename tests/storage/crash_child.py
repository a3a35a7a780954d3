"""Child process of test_crash: writes durable group commits until killed.

Usage: python crash_child.py DB_DIR N_RANGES MODE. Each group n appends entry n to every range
with HardState(commit=n) and applies entry n-1 (a PUT of ``r<rid>-<n-1>``); after the synced
write returns it prints ``n``. MODE ``one``: the ranges share one batch (``engine.write``);
``many``: each range has its own batch and the group is one ``engine.write_many``, as the
storage writer commits it. It continues from whatever the database holds.
"""

from __future__ import annotations

import sys

from multiraft.raft.types import ConfState, Entry, HardState
from multiraft.storage import (Command, KVStateMachine, RangeDescriptor, ReplicaStorage, RocksEngine,
                     bootstrap_range)


def descriptor(rid: int) -> RangeDescriptor:
    return RangeDescriptor(rid, b"r%d-" % rid, b"r%d." % rid, ((1, 1),), 0)


def user_key(rid: int, n: int) -> bytes:
    return b"r%d-%08d" % (rid, n)


def main(path: str, n_ranges: int, mode: str) -> None:
    engine = RocksEngine(path)
    rids = range(1, n_ranges + 1)
    if engine.get(b"\x01" + (1).to_bytes(8, "big") + b"d") is None:
        b = engine.batch()
        for rid in rids:
            bootstrap_range(b, descriptor(rid), ConfState(voters=(1,)))
        engine.write(b, sync=True)
    logs = {rid: ReplicaStorage(engine, rid) for rid in rids}
    sms = {rid: KVStateMachine(engine, rid) for rid in rids}
    n = logs[1].last_index() + 1
    while True:
        many = mode == "many"
        batches = [engine.batch() for _ in rids] if many else [engine.batch()] * len(rids)
        for rid, b in zip(rids, batches):
            data = Command.put(rid, n, user_key(rid, n), b"v%d" % n).encode()
            logs[rid].append(b, [Entry(1, n, data=data)])
            logs[rid].set_hard_state(b, HardState(term=1, vote=1, commit=n))
            if n - 1 > sms[rid].applied.index:
                sms[rid].apply(b, logs[rid].entries(n - 1, n))
        if many:
            engine.write_many(batches, sync=True)
        else:
            engine.write(batches[0], sync=True)
        sys.stdout.write(f"{n}\n")
        sys.stdout.flush()
        n += 1


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
