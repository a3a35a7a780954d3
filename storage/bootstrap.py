"""Writing the initial state of a brand-new range (etcd's ``Bootstrap``, CockroachDB's
``WriteInitialRangeState``)."""

from __future__ import annotations

from multiraft.raft.types import ConfState, HardState

from . import keys
from .engine import WriteBatch
from .range_descriptor import RangeDescriptor, encode_descriptor
from .records import (AppliedState, TruncatedState, encode_applied_state, encode_hard_state,
                      encode_truncated_state)

__all__ = ["bootstrap_range", "BOOTSTRAP_INDEX", "BOOTSTRAP_TERM"]

#: A bootstrapped range starts as if it had applied (and truncated) an initial snapshot here.
BOOTSTRAP_INDEX = 1
BOOTSTRAP_TERM = 1


def bootstrap_range(batch: WriteBatch, descriptor: RangeDescriptor, conf_state: ConfState) -> None:
    """Put the records of a new range with no data into ``batch``: its descriptor, an initial
    snapshot at (1, 1) with ``conf_state`` (as truncated and applied state) and
    ``HardState(term=1, commit=1)``, which is what raft expects next to an initial snapshot.

    Build ``ReplicaStorage`` / ``KVStateMachine`` for the range after the batch is written.
    """
    rid = descriptor.range_id
    batch.put(keys.descriptor_key(rid), encode_descriptor(descriptor))
    batch.put(keys.truncated_state_key(rid),
              encode_truncated_state(TruncatedState(BOOTSTRAP_INDEX, BOOTSTRAP_TERM)))
    batch.put(keys.applied_state_key(rid),
              encode_applied_state(AppliedState(BOOTSTRAP_INDEX, BOOTSTRAP_TERM, conf_state)))
    batch.put(keys.hard_state_key(rid),
              encode_hard_state(HardState(term=BOOTSTRAP_TERM, commit=BOOTSTRAP_INDEX)))
