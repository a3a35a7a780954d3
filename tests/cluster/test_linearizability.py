"""Issue 5, test 3: 16 concurrent clients doing put/get/cas on 256 keys spread over 64 ranges,
while the leader node of one range after another is killed and restarted; the recorded history
must be linearizable (tests/support checker; a Timeout is an outcome-unknown operation)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from multiraft import ClientError, Timeout
from multiraft.check.history import HistoryRecorder, OpKind
from multiraft.check.linearizability import check_linearizable

from .conftest import Cluster, key_in

RANGES = 64
KEYS_PER_RANGE = 4
CLIENTS = 16
RUN_SECONDS = 20.0       # the workload's time bound ...
OPS_PER_CLIENT = 1_500   # ... and its count bound
MAX_KILLS = 4


def client_loop(cluster: Cluster, cid: int, keys: list[bytes], rec: HistoryRecorder,
                stop: threading.Event, errors: list[BaseException]) -> None:
    """One client thread: random put/get/cas with unique values; every call recorded."""
    client = cluster.client(timeout=3)
    rng = random.Random(cid)
    seen: dict[bytes, bytes | None] = {}
    try:
        for n in range(OPS_PER_CLIENT):
            if stop.is_set():
                return
            key = rng.choice(keys)
            value = f"{cid}:{n}".encode()
            r = rng.random()
            if r < 0.4:
                kind, args, call = OpKind.GET, (key,), lambda: client.get(key)
            elif r < 0.7:
                kind, args, call = OpKind.PUT, (key, value), lambda: client.put(key, value)
            else:
                exp = seen.get(key)
                kind, args, call = (OpKind.CAS, (key, exp, value),
                                    lambda: client.cas(key, exp, value))
            token = rec.begin(cid, kind, args)
            try:
                out = call()
            except Timeout:
                rec.end_unknown(token)
                continue
            except ClientError:
                rec.discard(token)  # not applied (the client's contract)
                continue
            rec.end(token, out)
            if kind is OpKind.GET:
                seen[key] = out
            elif kind is OpKind.PUT or out:
                seen[key] = value
    except BaseException as e:  # surfaced by the test
        errors.append(e)


@contextmanager
def clients_running(cluster: Cluster, keys: list[bytes],
                    clients: int) -> Iterator[tuple[HistoryRecorder, threading.Event]]:
    """``clients`` threads of ``client_loop`` on ``keys`` while the body runs: (the recorder,
    the stop event: set it, or wait on it to pace). On leaving, the threads are stopped and
    must have ended without an error."""
    rec = HistoryRecorder()
    stop = threading.Event()
    errors: list[BaseException] = []
    threads = [threading.Thread(target=client_loop, args=(cluster, cid, keys, rec, stop, errors),
                                name=f"client-{cid}") for cid in range(clients)]
    for t in threads:
        t.start()
    try:
        yield rec, stop
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert not any(t.is_alive() for t in threads), "a client thread did not stop"
    assert not errors, errors


def checked_history(rec: HistoryRecorder, min_known: int) -> tuple[Any, int, int]:
    """Check the recorded history (at least ``min_known`` operations with a known outcome):
    (the checker's result, operations, known ones)."""
    history = rec.history()
    known = [op for op in history if op.outcome_known]
    assert len(known) >= min_known, \
        f"only {len(known)} operations completed ({len(history)} in all)"
    return check_linearizable(history, timeout_s=60), len(history), len(known)


def nemesis(cluster: Cluster, stop: threading.Event, deadline: float) -> list[tuple[int, int]]:
    """Kill the leader node of range 1, 17, 33, ... in turn; wait for a new leader elsewhere,
    restart the node, wait until it serves. Returns the (range, node) kills done."""
    kills: list[tuple[int, int]] = []
    rid = 1
    while time.monotonic() < deadline and len(kills) < MAX_KILLS:
        victim = cluster.leader_of(rid)
        cluster.kill(victim)
        kills.append((rid, victim))
        cluster.leader_of(rid, exclude=victim)
        cluster.start(victim)
        cluster.wait_serving(victim)
        rid = (rid + 16 - 1) % RANGES + 1
        stop.wait(1.0)  # pacing between faults, not synchronization
    return kills


@pytest.mark.parametrize("kind", ["inproc", "procs"])
def test_concurrent_clients_with_leader_kills_are_linearizable(make_cluster: Any,
                                                               kind: str) -> None:
    """Proves linearizability of put/get/cas across leader failures: 16 client threads run for
    ~20 s (count-bounded too) on 256 keys in 64 ranges while leader nodes are killed (SIGKILL
    for processes, network cut + stop in-process) and restarted; the history, Timeouts as
    outcome-unknown, passes the checker; else the test fails with the checker's explanation."""
    cluster = make_cluster(kind, ranges=RANGES)
    cluster.wait_all_led()
    keys = [key_in(r, f"l{i}") for r in cluster.range_table().values()
            for i in range(KEYS_PER_RANGE)]
    with clients_running(cluster, keys, CLIENTS) as (rec, stop):
        deadline = time.monotonic() + RUN_SECONDS
        kills = nemesis(cluster, stop, deadline)
        stop.wait(max(0.0, deadline - time.monotonic()))
    assert len(kills) >= 2, f"only {len(kills)} leader kills ran"
    result, ops, known = checked_history(rec, 500)
    print(f"{kind}: kills {kills}; {ops} ops, {known} known, "
          f"{ops - known} unknown; {result.verdict.value}, {result.steps} steps")
    assert result.ok, f"kills (range, node): {kills}\n{result}"
