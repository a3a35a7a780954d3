"""The KV state machine: command semantics, malformed input, idempotent retries, atomic apply,
and a hypothesis model check against a dict."""

from __future__ import annotations

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from multiraft.raft.types import ConfState, Entry, EntryType
from multiraft.storage import (Command, KVStateMachine, MemoryEngine, RangeDescriptor, Result,
                     RocksEngine, Status, bootstrap_range, keys)

RID = 1
DESC = RangeDescriptor(RID, b"b", b"y", ((1, 1),), 0)


def setup(engine):
    b = engine.batch()
    bootstrap_range(b, DESC, ConfState(voters=(1,)))
    bootstrap_range(b, RangeDescriptor(2, b"y", None, ((1, 1),), 0), ConfState(voters=(1,)))
    engine.write(b)
    return KVStateMachine(engine, RID)


def apply(engine, sm, datas, conf_state=None):
    first = sm.applied.index + 1
    ents = [Entry(2, first + i, data=d) for i, d in enumerate(datas)]
    b = engine.batch()
    results = sm.apply(b, ents, conf_state)
    engine.write(b, sync=True)
    return results


def enc(*cmds):
    return [c.encode() for c in cmds]


OK = Result(Status.OK)


def test_commands(engine):
    sm = setup(engine)
    C = Command
    results = apply(engine, sm, enc(
        C.put(0, 0, b"c", b"1"), C.get(0, 0, b"c"), C.get(0, 0, b"d"),
        C.cas(0, 0, b"c", b"2", b"x"), C.cas(0, 0, b"c", b"1", b"3"),
        C.cas(0, 0, b"d", None, b"4"), C.cput(0, 0, b"e", b"5", True),
        C.cput(0, 0, b"e", b"5", False), C.cput(0, 0, b"e", b"6", True),
        C.delete(0, 0, b"d"), C.delete(0, 0, b"d"),
        C.scan(0, 0, b"", None, 10), C.scan(0, 0, b"c", b"e", 10, True),
        C.put(0, 0, b"a", b"out"), C.put(0, 0, b"y", b"out"), C.scan(0, 0, b"d", b"zz", 1)))
    assert results[:13] == [
        OK, Result(Status.OK, b"1"), Result(Status.OK, None),
        Result(Status.FAILED, b"1"), OK, OK, Result(Status.FAILED, None), OK, OK,
        Result(Status.OK, True), Result(Status.OK, False),
        Result(Status.OK, ([[b"c", b"3"], [b"e", b"6"]], False)),
        Result(Status.OK, ([[b"c", b"3"]], False))]  # SCAN: (pairs, cut short?)
    # keys outside the range: not run, answered RANGE_KEY_MISMATCH (a stale client cache)
    assert results[13].status == results[14].status == Status.KEY_MISMATCH
    assert results[15] == Result(Status.OK, ([[b"e", b"6"]], True))  # cut at its limit of 1
    assert sm.read(Command.get(0, 0, b"c")) == Result(Status.OK, b"3")
    assert sm.read(Command.put(0, 0, b"c", b"x")).status == Status.ERROR
    assert engine.get(keys.user_key(b"y")) is None  # range 2's keys untouched


def test_non_command_entries_and_malformed_commands(engine):
    sm = setup(engine)
    def raw(op, cid, seq, *args, time_ms=0, register=True):
        return msgpack.packb([op, cid, seq, time_ms, register, *args])

    bad = [b"\xc1", msgpack.packb(7), raw(99, 1, 1, b"k"), raw(1, -1, 1, b"c", b"v"),
           raw(1, 1, 1, b"c"), raw(1, 1, 1, "c", b"v"),
           raw(6, 0, 0, b"", None, 0, False), raw(1, 1, 1, b"c", b"v") + b"x",
           raw(4, 1, 1, b"c", 3, b"v"), b"\x92" * 1000, msgpack.packb([1, 1, 1, b"c", b"v"]),
           raw(1, 1, 1, b"c", b"v", time_ms=-1), raw(1, 1, 1, b"c", b"v", register=1)]
    first = sm.applied.index + 1
    ents = [Entry(2, first, EntryType.CONF_CHANGE, b"cc"), Entry(2, first + 1)] + [
        Entry(2, first + 2 + i, data=d) for i, d in enumerate(bad)]
    b = engine.batch()
    results = sm.apply(b, ents, ConfState(voters=(1, 2)))
    engine.write(b)
    assert results[:2] == [None, None]
    assert all(r.status == Status.ERROR and isinstance(r.value, str) for r in results[2:])
    sm2 = KVStateMachine(engine, RID)
    assert sm2.applied.index == ents[-1].index
    assert sm2.applied.conf_state == ConfState(voters=(1, 2))
    assert engine.get(keys.user_key(b"c")) is None


def test_retries_get_the_first_result_and_survive_a_restart(engine):
    sm = setup(engine)
    first = apply(engine, sm, enc(Command.cas(5, 1, b"c", None, b"v1")))
    assert first == [OK]
    # the retry would fail if it ran again; it returns the recorded result instead
    assert apply(engine, sm, enc(Command.cas(5, 1, b"c", None, b"v1"))) == [OK]
    sm = KVStateMachine(engine, RID)
    assert apply(engine, sm, enc(Command.cas(5, 1, b"c", None, b"v1"), Command.put(5, 2, b"c", b"v2"),
                                 Command.put(5, 1, b"c", b"old"), Command.put(5, 2, b"c", b"v3"))) == [
        OK, OK, Result(Status.ERROR, "stale seq 1: client 5 is at 2"), OK]
    assert engine.get(keys.user_key(b"c")) == b"v2"
    # reads are not recorded and never refused
    assert apply(engine, sm, enc(Command.get(5, 1, b"c"))) == [Result(Status.OK, b"v2")]


def test_an_unwritten_apply_batch_changes_nothing_on_disk(engine):
    sm = setup(engine)
    applied = sm.applied
    b = engine.batch()
    sm.apply(b, [Entry(2, applied.index + 1, data=Command.put(1, 1, b"c", b"v").encode())])
    sm2 = KVStateMachine(engine, RID)
    assert sm2.applied == applied and sm2.dedup_table() == {}
    assert engine.get(keys.user_key(b"c")) is None
    with pytest.raises(ValueError):  # a gap is a caller bug
        sm.apply(engine.batch(), [Entry(2, sm.applied.index + 2)])
    # entries already applied are skipped
    assert sm.apply(engine.batch(), [Entry(2, sm.applied.index)]) == [None]


def test_uninitialized_range_refuses_commands():
    engine = MemoryEngine()
    sm = KVStateMachine(engine, 42)
    b = engine.batch()
    [r] = sm.apply(b, [Entry(1, 1, data=Command.put(0, 0, b"k", b"v").encode())])
    assert r.status == Status.ERROR


# -- model check --

key_st = st.sampled_from([b"a", b"b", b"c", b"d", b"m", b"x", b"y"])
val_st = st.sampled_from([b"1", b"2", b"3"])
cmd_st = st.one_of(
    st.builds(lambda k, v: ("put", k, v), key_st, val_st),
    st.builds(lambda k: ("get", k), key_st),
    st.builds(lambda k: ("delete", k), key_st),
    st.builds(lambda k, e, v: ("cas", k, e, v), key_st, st.none() | val_st, val_st),
    st.builds(lambda k, v, m: ("cput", k, v, m), key_st, val_st, st.booleans()),
    st.builds(lambda s, e, n, r: ("scan", s, e, n, r), key_st, st.none() | key_st,
              st.integers(1, 5), st.booleans()),
    st.just(("garbage",)),
)


class Model:
    """The reference: a dict restricted to DESC's span, with per-client retry memory."""

    def __init__(self):
        self.data, self.last = {}, {}

    def run(self, cmd, client, seq):
        rec = self.last.get(client)
        if cmd[0] not in ("get", "scan") and rec and rec[0] == seq:
            return rec[1]
        res = self._run(cmd)
        if cmd[0] not in ("get", "scan", "garbage"):
            self.last[client] = (seq, res)
        return res

    def _run(self, cmd):
        op, d = cmd[0], self.data
        if op == "garbage":
            return Status.ERROR
        if op == "scan":
            _, s, e, n, rev = cmd
            s = max(s, DESC.start_key)
            e = DESC.end_key if e is None else min(e, DESC.end_key)
            ks = sorted((k for k in d if s <= k < e), reverse=rev)
            return Result(Status.OK, ([[k, d[k]] for k in ks[:n]], len(ks) >= n))
        k = cmd[1]
        if not DESC.contains(k):
            return Result(Status.KEY_MISMATCH, f"key {k[:64]!r} is not in range {RID}")
        cur = d.get(k)
        if op == "put":
            d[k] = cmd[2]
            return OK
        if op == "get":
            return Result(Status.OK, cur)
        if op == "delete":
            d.pop(k, None)
            return Result(Status.OK, cur is not None)
        ok = cur == cmd[2] if op == "cas" else (cur is not None) == cmd[3]
        if not ok:
            return Result(Status.FAILED, cur)
        d[k] = cmd[3] if op == "cas" else cmd[2]
        return OK


def to_command(cmd, client, seq):
    op = cmd[0]
    if op == "garbage":
        return b"\x93\x01"
    return getattr(Command, op)(client, seq, *cmd[1:]).encode()


steps_st = st.lists(st.tuples(cmd_st, st.integers(1, 3), st.booleans(), st.integers(0, 2)),
                   max_size=40)


@settings(max_examples=200, deadline=None)
@given(steps_st)
def test_state_machine_matches_a_dict_model(steps):
    check_against_model(MemoryEngine(), steps)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps_st)
def test_state_machine_matches_a_dict_model_on_rocksdb(tmp_path_factory, steps):
    engine = RocksEngine(str(tmp_path_factory.mktemp("db")))
    try:
        check_against_model(engine, steps)
    finally:
        engine.close()


def check_against_model(engine, steps):
    """Steps: (command, client, is a retry of the client's last command, batch break)."""
    sm, model = setup(engine), Model()
    seqs = {1: 0, 2: 0, 3: 0}
    pending, expected = [], []
    last_cmd = {}
    for cmd, client, retry, brk in steps:
        if retry and client in last_cmd:
            cmd = last_cmd[client]
        else:
            seqs[client] += 1
            last_cmd[client] = cmd
        pending.append(to_command(cmd, client, seqs[client]))
        expected.append(model.run(cmd, client, seqs[client]))
        if brk == 0:
            got = apply(engine, sm, pending)
            assert [g if g.status != Status.ERROR else Status.ERROR for g in got] == expected
            pending, expected = [], []
            sm = KVStateMachine(engine, RID)  # reload from the engine sometimes
    got = apply(engine, sm, pending)
    assert [g if g.status != Status.ERROR else Status.ERROR for g in got] == expected
    stored = {keys.user_key_of(k): v for k, v in engine.scan(*keys.user_span(b"", None))}
    assert stored == model.data


def test_scan_stops_at_its_byte_budget_with_at_least_one_pair(engine):
    """A SCAN result holds about ``max_scan_bytes`` of pairs (issue 12, defect 4), at least one,
    and says whether it was cut short."""
    sm = setup(engine)
    C = Command
    apply(engine, sm, enc(*(C.put(0, 0, b"k%d" % i, b"v" * 100) for i in range(5))))
    scan = C.scan(0, 0, b"", None, 10)
    sm.max_scan_bytes = 250
    pairs, more = sm.read(scan).value
    assert [k for k, _ in pairs] == [b"k0", b"k1"] and more  # 2 x 102 bytes <= 250 < 3 x 102
    sm.max_scan_bytes = 1
    pairs, more = sm.read(scan).value
    assert [k for k, _ in pairs] == [b"k0"] and more  # never empty
    sm.max_scan_bytes = 1 << 20
    pairs, more = sm.read(scan).value
    assert len(pairs) == 5 and not more
