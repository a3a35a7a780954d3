"""``RangeDescriptor``: which slice of the user key space a range owns and who replicates it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack

from multiraft.raft.types import ConfState

from . import keys
from .engine import Reader
from .errors import StorageCorruptionError

__all__ = ["RangeDescriptor", "VOTER", "LEARNER", "VOTER_INCOMING", "VOTER_OUTGOING", "Role", "encode_descriptor", "decode_descriptor", "load_descriptors"]


#: A replica's role in its range (CockroachDB's ReplicaType): a full voter; a learner (gets the
#: log, never votes or counts: a replica being added); in a joint config, a voter of the incoming
#: config only (being promoted) or of the outgoing config only (being removed).
VOTER, LEARNER, VOTER_INCOMING, VOTER_OUTGOING = "voter", "learner", "voter_incoming", "voter_outgoing"
Role = str


@dataclass(slots=True, frozen=True)
class RangeDescriptor:
    """A range: user keys in ``[start_key, end_key)`` (``end_key=None``: to the end of the key
    space), replicated on ``replicas`` as ``(node_id, replica_id)`` pairs.

    ``replicas`` lists every member, whatever its role: a replica is a voter unless its id is in
    ``learners``, ``incoming`` (joint: voter of the incoming config only) or ``outgoing``
    (joint: voter of the outgoing config only). ``next_replica_id`` is the id the next added
    replica gets (0 in descriptors written before replica changes: one past the largest).

    Invariants: ``start_key < end_key`` when ``end_key`` is set; ``generation`` grows by one with
    every change of the span (split, merge) and ``conf_ver`` with every change of the replicas,
    so a stale descriptor is recognisable; a replica id is never reused: every id in
    ``replicas`` is below ``next_id()``; at most one replica per node; ``incoming`` and
    ``outgoing`` are empty unless the range is in a joint config.
    """

    range_id: int
    start_key: bytes
    end_key: bytes | None
    replicas: tuple[tuple[int, int], ...] = ()
    generation: int = 0
    learners: tuple[int, ...] = ()
    incoming: tuple[int, ...] = ()
    outgoing: tuple[int, ...] = ()
    next_replica_id: int = 0
    conf_ver: int = 0

    def contains(self, key: bytes) -> bool:
        """Whether user key ``key`` belongs to this range."""
        return self.start_key <= key and (self.end_key is None or key < self.end_key)

    def wire(self) -> tuple[int, bytes, bytes, int]:
        """As the client protocol carries it (RANGE_KEY_MISMATCH, SPLIT answers):
        ``(range_id, start, end (b"" = no end), generation)``."""
        return (self.range_id, self.start_key, self.end_key or b"", self.generation)

    def engine_span(self) -> tuple[bytes, bytes]:
        """The engine keys ``[lo, hi)`` of this range's user data."""
        return keys.user_span(self.start_key, self.end_key)

    # -- replicas and roles --

    def role(self, replica_id: int) -> Role:
        if replica_id in self.learners:
            return LEARNER
        if replica_id in self.incoming:
            return VOTER_INCOMING
        if replica_id in self.outgoing:
            return VOTER_OUTGOING
        return VOTER

    def replica_on(self, node_id: int) -> int | None:
        """The id of the replica on ``node_id`` (None: the range has none there)."""
        return next((r for n, r in self.replicas if n == node_id), None)

    def node_of(self, replica_id: int) -> int | None:
        return next((n for n, r in self.replicas if r == replica_id), None)

    def voter_nodes(self) -> list[int]:
        """The nodes of replicas that vote (in either half of a joint config), sorted."""
        return sorted(n for n, r in self.replicas if r not in self.learners)

    def learner_nodes(self) -> list[int]:
        return sorted(n for n, r in self.replicas if r in self.learners)

    def is_joint(self) -> bool:
        return bool(self.incoming or self.outgoing)

    def next_id(self) -> int:
        """The replica id the next added replica gets."""
        return self.next_replica_id or max((r for _, r in self.replicas), default=0) + 1

    def conf_state(self) -> ConfState:
        """The raft membership this descriptor stands for."""
        learners = set(self.learners)
        full = {r for _, r in self.replicas} - learners - set(self.incoming) - set(self.outgoing)
        voters = tuple(sorted(full | set(self.incoming)))
        outgoing = tuple(sorted(full | set(self.outgoing))) if self.is_joint() else ()
        return ConfState(voters=voters, learners=tuple(sorted(learners)),
                         voters_outgoing=outgoing)

    def info(self, leader_node: int) -> dict[str, Any]:
        """The RANGE_INFO map of the client protocol (CHANGE_REPLICAS, TRANSFER_LEADER answers)."""
        return {"range_id": self.range_id, "start_key": self.start_key, "end_key": self.end_key,
                "generation": self.generation, "conf_ver": self.conf_ver,
                "replicas": [[n, r, self.role(r)] for n, r in sorted(self.replicas)],
                "voters": self.voter_nodes(), "learners": self.learner_nodes(),
                "leader": leader_node}


def encode_descriptor(d: RangeDescriptor) -> bytes:
    return msgpack.packb([d.range_id, d.start_key, d.end_key, d.replicas, d.generation,
                          d.learners, d.incoming, d.outgoing, d.next_replica_id, d.conf_ver])


def decode_descriptor(b: bytes) -> RangeDescriptor:
    try:
        fields = msgpack.unpackb(b)
        # (descriptors written before replica changes have the first five fields only)
        range_id, start, end, replicas, generation = fields[:5]
        learners, incoming, outgoing, next_id, conf_ver = (fields[5:] if len(fields) == 10
                                                           else ((), (), (), 0, 0))
        if not isinstance(start, bytes) or not (end is None or isinstance(end, bytes)):
            raise TypeError("span keys must be bytes")
        return RangeDescriptor(int(range_id), start, end,
                               tuple((int(n), int(r)) for n, r in replicas), int(generation),
                               tuple(int(r) for r in learners), tuple(int(r) for r in incoming),
                               tuple(int(r) for r in outgoing), int(next_id), int(conf_ver))
    except Exception as e:  # msgpack raises several unrelated types on bad input
        raise StorageCorruptionError(f"bad range descriptor record: {e!r}") from None


def load_descriptors(reader: Reader) -> list[RangeDescriptor]:
    """Every range descriptor stored in the engine, by range id: what a store reopens.

    Costs two reads per range (it hops from one range's records to the next), not a scan of
    every log.
    """
    out: list[RangeDescriptor] = []
    lo, hi = keys.range_prefix(0), keys.USER_PREFIX
    while True:
        first = reader.scan(lo, hi, limit=1)
        if not first:
            return out
        rid = keys.range_id_of_key(first[0][0])
        raw = reader.get(keys.descriptor_key(rid))
        if raw is not None:
            out.append(decode_descriptor(raw))
        if rid == 2**64 - 1:
            return out
        lo = keys.range_prefix(rid + 1)
