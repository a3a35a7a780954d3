"""The split trigger: what applying a SPLIT writes, in the left range's apply batch.

A split of range L at ``key`` is one raft command on L, applied by every replica of L at the
same log index (CockroachDB's ``splitTrigger``, TiKV's ``exec_batch_split``). In that one batch:

- L's descriptor ends at ``key``, its generation + 1;
- the right range R gets a descriptor (``[key, L's old end)``, the same replicas, its own range
  id chosen by the proposer, the same new generation), an initial raft state (truncated and
  applied state at ``(SPLIT_INDEX, SPLIT_TERM)``, the membership of L, L's log clock) and a
  copy of L's client sessions (a retry of a write applied on L before the split may now go to
  R, which must answer it from the record);
- user data does not move: it is keyed by user key.

R's HardState is *not* written: a replica of R may already exist on this node, uninitialized
(created by R's leader's messages before this split applied here), and may have voted. Its
HardState is kept, and ``ReplicaStorage`` raises whatever it reads to at least the truncated
state (term ``SPLIT_TERM``, commit ``SPLIT_INDEX``), which is what raft expects next to the
initial snapshot (CockroachDB #7600: a right-hand replica must keep its vote).
"""

from __future__ import annotations

import dataclasses

from . import keys
from .range_descriptor import RangeDescriptor, encode_descriptor
from .records import AppliedState, TruncatedState, encode_applied_state, encode_truncated_state
from .sessions import DedupRecord, encode_dedup_record

__all__ = ["SPLIT_INDEX", "SPLIT_TERM", "split_descriptors", "right_range_records"]

#: A right-hand range starts as if it had applied (and truncated) an initial snapshot here, as
#: CockroachDB's ``raftInitialLogIndex``/``raftInitialLogTerm``.
SPLIT_INDEX = 10
SPLIT_TERM = 5


def split_descriptors(d: RangeDescriptor, key: bytes,
                      new_range_id: int) -> tuple[RangeDescriptor, RangeDescriptor]:
    """The left and right descriptors of splitting ``d`` at ``key``.

    Precondition: ``d.start_key < key`` and ``d.contains(key)``."""
    gen = d.generation + 1
    # (the right range starts with the left's replicas, roles, replica ids and conf_ver)
    return (dataclasses.replace(d, end_key=key, generation=gen),
            dataclasses.replace(d, range_id=new_range_id, start_key=key, generation=gen))


def right_range_records(right: RangeDescriptor, left_applied: AppliedState,
                        sessions: dict[int, DedupRecord]) -> list[tuple[bytes, bytes]]:
    """The engine records that create the right-hand range ``right`` (no HardState: see the
    module docstring)."""
    rid = right.range_id
    out = [
        (keys.descriptor_key(rid), encode_descriptor(right)),
        (keys.truncated_state_key(rid),
         encode_truncated_state(TruncatedState(SPLIT_INDEX, SPLIT_TERM))),
        (keys.applied_state_key(rid), encode_applied_state(AppliedState(
            SPLIT_INDEX, SPLIT_TERM, left_applied.conf_state, left_applied.clock_ms))),
    ]
    out += [(keys.dedup_key(rid, cid), encode_dedup_record(rec)) for cid, rec in sessions.items()]
    return out
