"""Issue 15, proposal batching: the writes a leader receives in one burst (before its next Ready)
become one raft entry, applied in one pass, each with its own dedup record and answer (TiKV's
batched proposals); writes never proposed are refused, safely, when the leadership goes first."""

from __future__ import annotations

from multiraft.raft import EntryType, StateType
from multiraft.replica.core import ReplicaCore
from multiraft.storage.commands import decode_entry
from multiraft.transport.client_protocol import ClientOp, ClientRequest, ClientStatus

from .harness import Reply, elect, get, make_replica, put


def log_commands(core: ReplicaCore) -> list[int]:
    """How many commands each normal entry with data in the log holds."""
    rl = core.rn.raft.raft_log
    out = []
    for e in rl.slice(rl.first_index(), rl.last_index() + 1):
        if e.type is EntryType.NORMAL and e.data:
            c = decode_entry(e.data)
            out.append(len(c) if isinstance(c, list) else 1)
    return out


def cas(core: ReplicaCore, key: bytes, expected: bytes | None, new: bytes, seq: int) -> Reply:
    reply = Reply()
    core.client(ClientRequest(seq, ClientOp.CAS, (key, expected, new), 7, seq), reply)
    return reply


def test_a_burst_of_writes_is_one_entry_and_each_gets_its_own_answer() -> None:
    core, env = make_replica(peers=())  # one replica: it leads at once
    before = log_commands(core)
    replies = [put(core, b"k%d" % i, b"v%d" % i, seq=i + 1) for i in range(5)]
    failing = cas(core, b"k1", b"wrong", b"y", seq=6)  # runs after the puts, and fails
    swapped = cas(core, b"k0", b"v0", b"x", seq=7)
    again = cas(core, b"k0", b"v0", b"x", seq=7)  # a retry of it, in the same entry
    assert all(r.status is None for r in replies), "nothing answered before it applies"
    env.flush()
    assert log_commands(core)[len(before):] == [8], "the burst is one entry of 8 commands"
    assert [r.status for r in replies] == [ClientStatus.OK] * 5
    assert (failing.status, failing.result) == (ClientStatus.OK, (False, b"v1"))
    assert (swapped.status, swapped.result) == (ClientStatus.OK, (True, None))
    assert (again.status, again.result) == (ClientStatus.OK, (True, None)), \
        "the retry is not run again (it would fail: k0 is x now): it gets the first answer"
    g = get(core, b"k4")
    env.flush()
    assert g.status is ClientStatus.OK and g.result == b"v4"


def test_one_write_alone_is_a_plain_entry() -> None:
    core, env = make_replica(peers=())
    before = log_commands(core)
    r = put(core, b"a", b"1", seq=1)
    env.flush()
    assert r.status is ClientStatus.OK and log_commands(core)[len(before):] == [1]
    entry = core.rn.raft.raft_log.slice(core.rn.raft.raft_log.last_index(),
                                          core.rn.raft.raft_log.last_index() + 1)[0]
    assert not isinstance(decode_entry(entry.data), list)


def test_writes_not_yet_proposed_when_the_leadership_goes_are_refused_not_lost() -> None:
    core, env = make_replica()  # three replicas; elected by hand, nothing ever commits
    elect(core, env)
    pending_before = core.pending.limit.pending
    r1, r2 = put(core, b"a", b"1", seq=1), put(core, b"b", b"2", seq=2)
    # A higher term arrives before the next Ready: the node steps down.
    from multiraft.raft import Message
    from multiraft.raft.types import MessageType as MT
    core.step_raft(2, [Message(MT.APP, to=1, from_=2, term=core.rn.raft.term + 1)])
    assert core.rn.raft.state == StateType.FOLLOWER
    env.flush()
    assert r1.status is ClientStatus.NOT_LEADER and r2.status is ClientStatus.NOT_LEADER
    assert core.pending.quota.used == 0 and core.pending.limit.pending == pending_before
    assert core.pending.is_idle()
