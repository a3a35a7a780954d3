"""Tests of the linearizability checker and the history recorder (multiraft.check).

Known-good and known-bad hand-written histories, a concurrent recorder run against a locked dict,
property tests on histories generated from a real sequential dict run under random concurrent
schedules (legal by construction; one read falsified: illegal), and a size sanity check.
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from multiraft.check.history import UNKNOWN_OUTPUT, HistoryRecorder, OpKind, Operation
from multiraft.check.linearizability import CheckResult, Verdict, check_linearizable

INF = math.inf
NEVER_WRITTEN = "never-written"


def op(kind: str, args: tuple[Any, ...], output: Any, call: int, ret: float = INF,
       client: int = 0) -> Operation:
    """A hand-written operation; ``ret=INF`` makes its outcome unknown (output ignored)."""
    return Operation(client, OpKind(kind), args, UNKNOWN_OUTPUT if ret == INF else output,
                     call, ret)


def check(*ops: Operation) -> CheckResult:
    return check_linearizable(ops)


# --- hand-written histories ------------------------------------------------------------------

def test_empty_history_is_linearizable() -> None:
    result = check()
    assert result.ok and result.partitions == 0 and result.key is None


def test_sequential_history_of_every_operation_is_linearizable() -> None:
    result = check(
        op("get", ("k",), None, 0, 1),
        op("put", ("k", 1), None, 2, 3),
        op("get", ("k",), 1, 4, 5),
        op("cas", ("k", 1, 2), True, 6, 7),
        op("cas", ("k", 1, 3), False, 8, 9),
        op("get", ("k",), 2, 10, 11),
        op("delete", ("k",), None, 12, 13),
        op("get", ("k",), None, 14, 15),
        op("cas", ("k", None, 4), True, 16, 17),
        op("cas", ("k", None, 5), False, 18, 19),
        op("get", ("k",), 4, 20, 21),
    )
    assert result.ok, result
    assert result.operations == 11


@pytest.mark.parametrize("bad", [
    op("get", ("k",), 1, 10, 11),              # the delete completed before
    op("cas", ("k", None, 7), False, 10, 11),  # the key is absent: the cas must succeed
    op("cas", ("k", 1, 7), True, 10, 11),      # the key is absent: the cas must fail
])
def test_sequential_history_with_a_wrong_answer_is_illegal(bad: Operation) -> None:
    result = check(op("put", ("k", 1), None, 0, 1), op("delete", ("k",), None, 2, 3), bad)
    assert result.illegal and result.key == "k", result


def test_concurrent_writes_linearizable_only_in_one_order() -> None:
    # Both puts overlap; every later read sees 2, so put(1) must come first.
    result = check(
        op("put", ("x", 1), None, 0, 10, client=1),
        op("put", ("x", 2), None, 1, 10, client=2),
        op("get", ("x",), 2, 11, 12, client=3),
        op("get", ("x",), 2, 13, 14, client=1),
    )
    assert result.ok, result


def test_reads_interleaved_with_overlapping_writes_find_the_one_order() -> None:
    # Only A B E C D works: E (reads 1) must fall between put(1) and put(2).
    result = check(
        op("put", ("x", 1), None, 0, 5, client=1),   # A
        op("get", ("x",), 1, 1, 6, client=2),        # B
        op("put", ("x", 2), None, 2, 7, client=3),   # C
        op("get", ("x",), 2, 3, 8, client=4),        # D
        op("get", ("x",), 1, 4, 9, client=5),        # E
    )
    assert result.ok, result


def test_reads_disagreeing_on_the_order_of_two_writes_are_illegal() -> None:
    result = check(
        op("put", ("x", 1), None, 0, 10, client=1),
        op("put", ("x", 2), None, 0, 10, client=2),
        op("get", ("x",), 2, 11, 12, client=3),
        op("get", ("x",), 1, 13, 14, client=4),
    )
    assert result.illegal, result


def test_stale_read_after_a_completed_write_is_illegal() -> None:
    result = check(
        op("put", ("k", "old"), None, 0, 1, client=1),
        op("put", ("k", "new"), None, 2, 3, client=1),
        op("get", ("k",), "old", 4, 5, client=2),
    )
    assert result.illegal and result.key == "k"
    message = str(result)
    assert "not linearizable" in message
    assert "longest linearizable prefix (2 operations" in message
    assert "client 2: get('k') -> 'old'" in message
    assert "state after it: 'new'" in message


def test_lost_update_two_successful_cas_from_the_same_value_is_illegal() -> None:
    base = [op("put", ("n", 0), None, 0, 1)]
    both_won = [op("cas", ("n", 0, 1), True, 2, 10, client=1),
                op("cas", ("n", 0, 1), True, 3, 11, client=2)]
    one_won = [op("cas", ("n", 0, 1), True, 2, 10, client=1),
               op("cas", ("n", 0, 1), False, 3, 11, client=2)]
    assert check(*base, *both_won).illegal
    assert check(*base, *one_won, op("get", ("n",), 1, 12, 13)).ok


def test_timed_out_write_that_later_becomes_visible_is_legal() -> None:
    result = check(
        op("put", ("k", 1), None, 0, 1, client=1),
        op("put", ("k", 2), None, 2, client=1),      # timed out
        op("get", ("k",), 1, 3, 4, client=2),
        op("get", ("k",), 2, 50, 51, client=2),
    )
    assert result.ok, result


def test_timed_out_write_that_never_becomes_visible_is_legal() -> None:
    result = check(
        op("put", ("k", 1), None, 0, 1, client=1),
        op("put", ("k", 2), None, 2, client=1),      # timed out
        op("cas", ("k", 1, 3), None, 3, client=1),   # timed out
        op("get", ("k",), 1, 3, 4, client=2),
        op("get", ("k",), 1, 50, 51, client=2),
    )
    assert result.ok, result


def test_timed_out_write_cannot_take_effect_before_its_call_or_twice() -> None:
    early = check(op("get", ("k",), 2, 0, 1), op("put", ("k", 2), None, 2))
    assert early.illegal
    undone = check(op("put", ("k", 1), None, 0, 1), op("put", ("k", 2), None, 2),
                   op("get", ("k",), 2, 3, 4), op("get", ("k",), 1, 5, 6))
    assert undone.illegal


def test_timed_out_read_is_dropped() -> None:
    result = check(op("put", ("k", 1), None, 0, 1), op("get", ("k",), None, 2))
    assert result.ok and result.operations == 1


def test_read_of_a_value_never_written_is_illegal() -> None:
    result = check(op("put", ("k", 1), None, 0, 10), op("get", ("k",), 9, 1, 11))
    assert result.illegal and result.key == "k"


def test_keys_are_checked_independently() -> None:
    # Interleaved in time across keys; only key "b" is wrong.
    history = [
        op("put", ("a", 1), None, 0, 3, client=1),
        op("put", ("b", 1), None, 1, 4, client=2),
        op("get", ("a",), 1, 5, 8, client=2),
        op("get", ("b",), 1, 6, 9, client=1),
        op("put", ("a", 2), None, 10, 12, client=1),
        op("get", ("b",), 1, 11, 13, client=2),
    ]
    good = check_linearizable(history)
    assert good.ok and good.partitions == 2
    bad = check_linearizable([*history, op("get", ("b",), None, 14, 15, client=1)])
    assert bad.illegal and bad.key == "b"
    assert "key 'b'" in str(bad) and "'a'" not in bad.explanation


def test_search_over_its_step_budget_is_unknown_not_a_hang() -> None:
    writes = [op("put", ("k", v), None, 0, 100, client=v) for v in range(12)]
    reads = [op("get", ("k",), v, 101 + 2 * v, 102 + 2 * v, client=v) for v in range(12)]
    result = check_linearizable(writes + reads, max_steps_per_key=50)
    assert result.verdict is Verdict.UNKNOWN and result.key == "k"
    assert "undecided" in str(result)


# --- the recorder ----------------------------------------------------------------------------

def test_recorder_records_intervals_outputs_and_unknown_outcomes() -> None:
    recorder = HistoryRecorder()
    done = recorder.begin(1, "put", ("k", "v"))
    recorder.end(done, None)
    lost = recorder.begin(2, OpKind.CAS, ("k", "v", "w"))
    recorder.end_unknown(lost)
    rejected = recorder.begin(3, "delete", ("k",))
    recorder.discard(rejected)
    recorder.begin(4, "get", ("k",))  # still in flight
    put, cas, get = recorder.history()
    assert (put.client_id, put.kind, put.key, put.output) == (1, OpKind.PUT, "k", None)
    assert put.call_ns <= put.return_ns and put.outcome_known
    assert cas.output is UNKNOWN_OUTPUT and cas.return_ns == INF and not cas.outcome_known
    assert get.client_id == 4 and not get.outcome_known


@pytest.mark.parametrize("kind, args", [("put", ("k",)), ("get", ("k", 1)), ("put", ("k", None)),
                                        ("cas", ("k", 1, None)), ("increment", ("k",))])
def test_recorder_rejects_malformed_calls(kind: str, args: tuple[Any, ...]) -> None:
    with pytest.raises(ValueError):
        HistoryRecorder().begin(0, kind, args)


def test_threads_on_a_locked_dict_record_a_linearizable_history() -> None:
    recorder, store, lock = HistoryRecorder(), {}, threading.Lock()

    def client(client_id: int) -> None:
        rng = random.Random(client_id)
        for _ in range(200):
            key, value = f"k{rng.randrange(4)}", rng.randrange(5)
            kind = rng.choice(list(OpKind))
            args = {OpKind.PUT: (key, value), OpKind.CAS: (key, rng.choice([None, value]), value)
                    }.get(kind, (key,))
            token = recorder.begin(client_id, kind, args)
            with lock:
                output = _apply(store, kind, args)
            recorder.end(token, output)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = check_linearizable(recorder.history())
    assert result.ok and result.operations == 1600, result


# --- generated histories ---------------------------------------------------------------------

def _apply(store: dict[Any, Any], kind: OpKind, args: tuple[Any, ...]) -> Any:
    """Run one operation on a plain dict: the sequential reference implementation."""
    key = args[0]
    if kind is OpKind.PUT:
        store[key] = args[1]
    elif kind is OpKind.DELETE:
        store.pop(key, None)
    elif kind is OpKind.GET:
        return store.get(key)
    elif store.get(key) == args[1]:
        store[key] = args[2]
        return True
    else:
        return False
    return None


def simulate(rng: random.Random, clients: int, ops_per_client: int, keys: int,
             timeout_rate: float = 0.05) -> list[Operation]:
    """A history that is linearizable by construction.

    Each client issues operations back to back; each operation gets a random interval and a
    random linearization point inside it, and the operations run on a dict in the order of
    those points. A timed-out operation (client gave up at the end of its interval) takes
    effect at a random later moment, or never.
    """
    planned: list[tuple[float, int, OpKind, tuple[Any, ...], int, float]] = []
    written: dict[str, list[str]] = {}  # values put per key, to aim cas at
    for client_id in range(clients):
        now = rng.randrange(10)
        for seq in range(ops_per_client):
            call = now + rng.randrange(5)
            now = call + 1 + rng.randrange(40)
            kind, key, value = rng.choice(list(OpKind)), f"k{rng.randrange(keys)}", f"{client_id}.{seq}"
            recent = written.setdefault(key, [])[-3:]
            args = {OpKind.PUT: (key, value),
                    OpKind.CAS: (key, rng.choice([None, *recent]), value)}.get(kind, (key,))
            if kind in (OpKind.PUT, OpKind.CAS):
                written[key].append(value)
            if rng.random() >= timeout_rate:
                planned.append((rng.uniform(call, now), client_id, kind, args, call, now))
            elif rng.random() < 0.5:  # timed out, takes effect later
                planned.append((rng.uniform(call, now + 200), client_id, kind, args, call, INF))
            else:  # timed out, never takes effect
                planned.append((INF, client_id, kind, args, call, INF))
    store: dict[Any, Any] = {}
    history = []
    for point, client_id, kind, args, call, ret in sorted(planned, key=lambda p: p[0]):
        output = _apply(store, kind, args) if point != INF else None
        history.append(Operation(client_id, kind, args, UNKNOWN_OUTPUT if ret == INF else output,
                                 call, ret))
    return history


def falsify_a_read(history: list[Operation], pick: int) -> list[Operation]:
    """Replace the output of one completed read with a value nobody ever wrote."""
    reads = [i for i, o in enumerate(history) if o.kind is OpKind.GET and o.outcome_known]
    victim = reads[pick % len(reads)]
    bad = history[victim]
    history = list(history)
    history[victim] = Operation(bad.client_id, bad.kind, bad.args, NEVER_WRITTEN, bad.call_ns,
                                bad.return_ns)
    return history


# Sized like the cluster tests' per-key load; many more concurrent or timed-out operations on one
# key make a failing search exponential (see the checker's docstring).
histories = st.builds(simulate, st.randoms(use_true_random=False), clients=st.integers(1, 4),
                      ops_per_client=st.integers(1, 10), keys=st.integers(1, 3),
                      timeout_rate=st.sampled_from([0.0, 0.05, 0.1]))


@settings(max_examples=200, deadline=None)
@given(histories)
def test_generated_histories_are_linearizable(history: list[Operation]) -> None:
    result = check_linearizable(history)
    assert result.ok, result


@settings(max_examples=200, deadline=None)
@given(histories, st.integers(min_value=0))
def test_generated_histories_with_one_falsified_read_are_illegal(history: list[Operation],
                                                                 pick: int) -> None:
    if not any(o.kind is OpKind.GET and o.outcome_known for o in history):
        return
    bad = falsify_a_read(history, pick)
    result = check_linearizable(bad)
    assert result.illegal, result
    # The illegal partition is the falsified read's key. (The explanation need not name the read
    # itself: the search may stop at another operation of that key that can no longer fit.)
    falsified = next(o for o in bad if o.kind is OpKind.GET and o.output == NEVER_WRITTEN)
    assert result.key == falsified.args[0], result


def brute_force_linearizable(history: list[Operation]) -> bool:
    """The definition, by enumeration: some subset of the outcome-unknown writes plus all the
    completed operations, in some order respecting real time, replays on a dict with the
    recorded outputs. For tiny histories only."""
    known = [o for o in history if o.outcome_known]
    unknown = [o for o in history if not o.outcome_known and o.kind is not OpKind.GET]
    for size in range(len(unknown) + 1):
        for chosen in itertools.combinations(unknown, size):
            for order in itertools.permutations(known + list(chosen)):
                if _respects_real_time(order) and _replays(order):
                    return True
    return False


def _respects_real_time(order: tuple[Operation, ...]) -> bool:
    return all(not later.return_ns < earlier.call_ns
               for earlier, later in itertools.combinations(order, 2))


def _replays(order: tuple[Operation, ...]) -> bool:
    store: dict[Any, Any] = {}
    for o in order:
        output = _apply(store, o.kind, o.args)
        if o.outcome_known and o.kind in (OpKind.GET, OpKind.CAS) and output != o.output:
            return False
    return True


@st.composite
def tiny_histories(draw: st.DrawFn) -> list[Operation]:
    """Up to 6 random operations on 2 keys with arbitrary outputs: legal or not."""
    history = []
    for client_id in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(list(OpKind)))
        key, value = draw(st.sampled_from("ab")), draw(st.sampled_from([1, 2]))
        args = {OpKind.PUT: (key, value),
                OpKind.CAS: (key, draw(st.sampled_from([None, 1, 2])), value)}.get(kind, (key,))
        output = {OpKind.GET: draw(st.sampled_from([None, 1, 2])),
                  OpKind.CAS: draw(st.booleans())}.get(kind)
        call = draw(st.integers(0, 10))
        ret = INF if draw(st.integers(0, 4)) == 0 else call + draw(st.integers(0, 10))
        history.append(op(kind, args, output, call, ret, client=client_id))
    return history


@settings(max_examples=500, deadline=None)
@given(tiny_histories())
def test_checker_agrees_with_brute_force_on_tiny_histories(history: list[Operation]) -> None:
    result = check_linearizable(history)
    assert result.ok == brute_force_linearizable(history), result
    assert not result.unknown


def test_sixteen_clients_hundreds_of_ops_fifty_keys_are_decided() -> None:
    history = simulate(random.Random(2024), clients=16, ops_per_client=300, keys=50)
    good = check_linearizable(history, max_steps_per_key=1_000_000)
    assert good.ok, good
    bad = check_linearizable(falsify_a_read(history, 7), max_steps_per_key=1_000_000)
    assert bad.illegal, bad
