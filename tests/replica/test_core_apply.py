"""``ReplicaCore`` alone (issue 12, defect 9): an entry whose data is not a command (a buggy or
hostile leader's) is applied as an error result, and the replica goes on serving; it used to be
decoded again when answering clients, which raised and killed the replica, on every replica of
the range."""

from __future__ import annotations

from multiraft.raft import StateType
from multiraft.transport.client_protocol import ClientStatus

from .harness import make_replica, put


def test_an_entry_that_is_not_a_command_does_not_kill_the_replica() -> None:
    core, env = make_replica(peers=())  # a one-replica range: it leads at once
    assert core.rn.raft.state == StateType.LEADER
    core.rn.propose(b"\xc1 not a command")  # what no client request can produce
    env.flush()  # applied: an error result, answered to nobody
    reply = put(core, b"k", b"v", seq=1)
    env.flush()
    assert reply.status is ClientStatus.OK
    assert core.sm.applied.index >= 3
