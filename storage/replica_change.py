"""Replica changes as raft conf changes that carry the descriptor they expect.

A change to a range's replicas is one ``ConfChangeV2`` entry whose context names the
descriptor's ``conf_ver`` it was proposed against, the steps it makes (CockroachDB's
``ChangeReplicasTrigger``) and whether an operator asked for it (every replica learns so when
it applies, so whichever replica leads next leaves the range alone for a while). When the entry applies, every replica checks the
context against its own descriptor (the same on all of them at that index): a change proposed
against a descriptor that has moved on is refused, and neither raft nor the descriptor changes;
otherwise raft applies the conf change and the descriptor becomes ``apply_steps``'s. So raft's
membership and the descriptor change in the same entry, never apart.

Steps (each ``(kind, node_id, replica_id)``):

- ``add_learner``: a new replica, a learner (it gets the log, never votes); its id is the
  descriptor's ``next_id()``, which moves past it: ids are never reused;
- ``promote``: a learner becomes a voter (alone: a simple change; with a ``remove``: both enter
  a joint config, the learner as an incoming voter);
- ``remove``: a replica leaves (a voter alone: simple; with a ``promote``: it becomes an
  outgoing voter of the joint config);
- no step: leave the joint config (the outgoing voters go).
"""

from __future__ import annotations

import msgpack

from multiraft.raft.types import (ConfChangeSingle, ConfChangeTransition, ConfChangeType,
                                  ConfChangeV2)

from .range_descriptor import RangeDescriptor

__all__ = ["Step", "ADD_LEARNER", "PROMOTE", "REMOVE", "encode_change", "decode_change",
           "apply_steps", "add_learner", "promote", "remove", "swap", "leave_joint",
           "ReplicaChangeError"]

ADD_LEARNER, PROMOTE, REMOVE = "add_learner", "promote", "remove"
#: (kind, node id, replica id)
Step = tuple[str, int, int]

_RAFT_TYPE = {ADD_LEARNER: ConfChangeType.ADD_LEARNER_NODE, PROMOTE: ConfChangeType.ADD_NODE,
              REMOVE: ConfChangeType.REMOVE_NODE}


class ReplicaChangeError(ValueError):
    """A change that cannot be made to the descriptor as it is (the proposer checks first)."""


def encode_change(d: RangeDescriptor, steps: tuple[Step, ...],
                  operator: bool = False) -> ConfChangeV2:
    """The conf change making ``steps`` to ``d``: simple if at most one voter changes, else a
    joint config left explicitly (``leave_joint``)."""
    voters_changed = sum(1 for k, _, r in steps if k == PROMOTE or (k == REMOVE and
                                                                     r not in d.learners))
    transition = (ConfChangeTransition.JOINT_EXPLICIT if voters_changed > 1
                  else ConfChangeTransition.AUTO)
    changes = tuple(ConfChangeSingle(_RAFT_TYPE[k], r) for k, _, r in steps)
    context = msgpack.packb([d.conf_ver, [list(s) for s in steps], operator])
    return ConfChangeV2(changes, transition, context)


def decode_change(cc: ConfChangeV2) -> tuple[int, tuple[Step, ...], bool] | None:
    """(expected conf_ver, steps, asked by an operator) of a replica change; None for a conf
    change without that context (applied to raft alone). Raises ValueError for a malformed
    context."""
    if not cc.context:
        return None
    try:
        expected, steps, operator = msgpack.unpackb(cc.context)
        out = tuple((str(k), int(n), int(r)) for k, n, r in steps)
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise ValueError(f"malformed replica change context: {e!r}") from None
    if any(k not in _RAFT_TYPE for k, _, _ in out) or type(expected) is not int \
            or type(operator) is not bool:
        raise ValueError("malformed replica change context: unknown step")
    return expected, out, operator


def apply_steps(d: RangeDescriptor, steps: tuple[Step, ...]) -> RangeDescriptor:
    """The descriptor after ``steps`` (``conf_ver`` one higher). Raises ReplicaChangeError for
    steps that do not fit ``d``."""
    replicas = list(d.replicas)
    learners, incoming, outgoing = set(d.learners), set(d.incoming), set(d.outgoing)
    next_id = d.next_id()
    ids = {r for _, r in replicas}
    if not steps:
        if not d.is_joint():
            raise ReplicaChangeError(f"range {d.range_id} is not in a joint config")
        replicas = [(n, r) for n, r in replicas if r not in outgoing]
        incoming, outgoing = set(), set()
    else:
        if d.is_joint():
            raise ReplicaChangeError(f"range {d.range_id} is in a joint config")
        joint = encode_change(d, steps).transition != ConfChangeTransition.AUTO
        for kind, node, rid in steps:
            if kind == ADD_LEARNER:
                if rid < next_id or d.replica_on(node) is not None:
                    raise ReplicaChangeError(f"range {d.range_id}: node {node} holds a replica "
                                             f"already, or replica id {rid} was used")
                replicas.append((node, rid))
                learners.add(rid)
                next_id = rid + 1
            elif rid not in ids:
                raise ReplicaChangeError(f"range {d.range_id} has no replica {rid}")
            elif kind == PROMOTE:
                if rid not in learners:
                    raise ReplicaChangeError(f"range {d.range_id}: replica {rid} is no learner")
                learners.discard(rid)
                if joint:
                    incoming.add(rid)
            elif rid in learners or not joint:  # REMOVE: a learner, or a voter alone
                learners.discard(rid)
                replicas = [(n, r) for n, r in replicas if r != rid]
            else:
                outgoing.add(rid)
        if not any(r not in learners and r not in outgoing for _, r in replicas):
            raise ReplicaChangeError(f"range {d.range_id}: no voter would remain")
    return RangeDescriptor(d.range_id, d.start_key, d.end_key, tuple(sorted(replicas)),
                           d.generation, tuple(sorted(learners)), tuple(sorted(incoming)),
                           tuple(sorted(outgoing)), next_id, d.conf_ver + 1)


# -- the changes a leader proposes (each checked against ``d`` first) --

def _checked(d: RangeDescriptor, steps: tuple[Step, ...], operator: bool) -> ConfChangeV2:
    apply_steps(d, steps)
    return encode_change(d, steps, operator)


def add_learner(d: RangeDescriptor, node_id: int, operator: bool = False) -> ConfChangeV2:
    return _checked(d, ((ADD_LEARNER, node_id, d.next_id()),), operator)


def promote(d: RangeDescriptor, replica_id: int, operator: bool = False) -> ConfChangeV2:
    return _checked(d, ((PROMOTE, d.node_of(replica_id) or 0, replica_id),), operator)


def remove(d: RangeDescriptor, replica_id: int, operator: bool = False) -> ConfChangeV2:
    return _checked(d, ((REMOVE, d.node_of(replica_id) or 0, replica_id),), operator)


def swap(d: RangeDescriptor, learner_id: int, voter_id: int,
         operator: bool = False) -> ConfChangeV2:
    """Promote learner ``learner_id`` and remove voter ``voter_id`` in one joint change."""
    return _checked(d, ((PROMOTE, d.node_of(learner_id) or 0, learner_id),
                        (REMOVE, d.node_of(voter_id) or 0, voter_id)), operator)


def leave_joint(d: RangeDescriptor, operator: bool = False) -> ConfChangeV2:
    apply_steps(d, ())
    return ConfChangeV2((), ConfChangeTransition.AUTO,
                        msgpack.packb([d.conf_ver, [], operator]))
