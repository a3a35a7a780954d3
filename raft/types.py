"""Plain data of the raft protocol: entries, messages, persistent state, snapshots, conf changes.

These are etcd's ``raftpb`` types. They carry no behaviour beyond encoding a conf change into
an entry's ``data``; the wire codec in ``transport/`` serializes the rest.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from enum import IntEnum

__all__ = [
    "EntryType", "Entry", "MessageType", "Message", "HardState", "SoftState", "StateType",
    "ConfState", "SnapshotMetadata", "Snapshot", "ConfChangeType", "ConfChange",
    "ConfChangeSingle", "ConfChangeTransition", "ConfChangeV2", "ReadState", "NONE",
]

#: The id that means "no node" (no leader, no vote).
NONE = 0


class EntryType(IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1
    CONF_CHANGE_V2 = 2


@dataclass(slots=True)
class Entry:
    """One log entry. Invariant: ``index`` is unique per log; ``term`` never decreases along it."""

    term: int
    index: int
    type: EntryType = EntryType.NORMAL
    data: bytes = b""


class MessageType(IntEnum):
    HUP = 0
    BEAT = 1
    PROP = 2
    APP = 3
    APP_RESP = 4
    VOTE = 5
    VOTE_RESP = 6
    SNAP = 7
    HEARTBEAT = 8
    HEARTBEAT_RESP = 9
    UNREACHABLE = 10
    SNAP_STATUS = 11
    CHECK_QUORUM = 12
    TRANSFER_LEADER = 13
    TIMEOUT_NOW = 14
    READ_INDEX = 15
    READ_INDEX_RESP = 16
    PRE_VOTE = 17
    PRE_VOTE_RESP = 18


#: Messages a node sends to itself; they never travel on the wire.
LOCAL_MESSAGES = frozenset({
    MessageType.HUP, MessageType.BEAT, MessageType.UNREACHABLE, MessageType.SNAP_STATUS,
    MessageType.CHECK_QUORUM,
})

#: Responses: a node that receives one from a higher term must not campaign because of it.
RESPONSE_MESSAGES = frozenset({
    MessageType.APP_RESP, MessageType.VOTE_RESP, MessageType.HEARTBEAT_RESP,
    MessageType.UNREACHABLE, MessageType.READ_INDEX_RESP, MessageType.PRE_VOTE_RESP,
})


def vote_response_type(t: MessageType) -> MessageType:
    """The response type of a (pre-)vote request."""
    if t == MessageType.VOTE:
        return MessageType.VOTE_RESP
    if t == MessageType.PRE_VOTE:
        return MessageType.PRE_VOTE_RESP
    raise ValueError(f"not a vote message: {t!r}")


@dataclass(slots=True, frozen=True)
class ConfState:
    """The membership a snapshot (or applied conf change) leaves in force; ids sorted."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()
    voters_outgoing: tuple[int, ...] = ()
    learners_next: tuple[int, ...] = ()
    auto_leave: bool = False


@dataclass(slots=True, frozen=True)
class SnapshotMetadata:
    conf_state: ConfState = field(default_factory=ConfState)
    index: int = 0
    term: int = 0


@dataclass(slots=True, frozen=True)
class Snapshot:
    data: bytes = b""
    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)

    def is_empty(self) -> bool:
        return self.metadata.index == 0


@dataclass(slots=True)
class Message:
    """A raft message. ``from_`` because ``from`` is a keyword."""

    type: MessageType
    to: int = 0
    from_: int = 0
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] | list[Entry] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


@dataclass(slots=True, frozen=True)
class HardState:
    """What a node must persist before it answers: its term, its vote and what it knows committed."""

    term: int = 0
    vote: int = 0
    commit: int = 0

    def is_empty(self) -> bool:
        return self.term == 0 and self.vote == 0 and self.commit == 0


class StateType(IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


@dataclass(slots=True, frozen=True)
class SoftState:
    """Volatile state worth reporting (not persisted)."""

    lead: int = NONE
    raft_state: StateType = StateType.FOLLOWER


@dataclass(slots=True, frozen=True)
class ReadState:
    """A read request (``request_ctx``) is linearizable once ``index`` is applied."""

    index: int
    request_ctx: bytes


class ConfChangeType(IntEnum):
    ADD_NODE = 0
    REMOVE_NODE = 1
    UPDATE_NODE = 2
    ADD_LEARNER_NODE = 3


class ConfChangeTransition(IntEnum):
    AUTO = 0
    JOINT_IMPLICIT = 1
    JOINT_EXPLICIT = 2


_CC = struct.Struct(">BQ")  # type, node id


def _take_context(data: bytes, pos: int) -> bytes:
    (n,) = struct.unpack_from(">I", data, pos)
    ctx = data[pos + 4: pos + 4 + n]
    if len(ctx) != n or pos + 4 + n != len(data):
        raise ValueError("malformed conf change: bad context length")
    return bytes(ctx)


@dataclass(slots=True, frozen=True)
class ConfChangeSingle:
    type: ConfChangeType
    node_id: int


@dataclass(slots=True, frozen=True)
class ConfChange:
    """A single-step membership change (etcd's ConfChange V1)."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""

    def encode(self) -> bytes:
        return _CC.pack(int(self.type), self.node_id) + struct.pack(">I", len(self.context)) + self.context

    @classmethod
    def decode(cls, data: bytes) -> ConfChange:
        try:
            t, node_id = _CC.unpack_from(data, 0)
            return cls(ConfChangeType(t), node_id, _take_context(data, _CC.size))
        except (struct.error, ValueError) as e:
            raise ValueError(f"malformed conf change: {e}") from None

    def as_v2(self) -> ConfChangeV2:
        return ConfChangeV2(changes=(ConfChangeSingle(self.type, self.node_id),), context=self.context)


@dataclass(slots=True, frozen=True)
class ConfChangeV2:
    """Several changes at once, through a joint configuration unless a single voter changes."""

    changes: tuple[ConfChangeSingle, ...] = ()
    transition: ConfChangeTransition = ConfChangeTransition.AUTO
    context: bytes = b""

    def encode(self) -> bytes:
        """Bytes for an entry's ``data``; an empty change (leave joint) encodes to ``b""``."""
        if not self.changes and self.transition == ConfChangeTransition.AUTO and not self.context:
            return b""
        parts = [struct.pack(">BI", int(self.transition), len(self.changes))]
        parts.extend(_CC.pack(int(c.type), c.node_id) for c in self.changes)
        parts.append(struct.pack(">I", len(self.context)))
        parts.append(self.context)
        return b"".join(parts)

    @classmethod
    def decode(cls, data: bytes) -> ConfChangeV2:
        if not data:
            return cls()
        try:
            transition, n = struct.unpack_from(">BI", data, 0)
            pos = 5
            changes = []
            for _ in range(n):
                t, node_id = _CC.unpack_from(data, pos)
                changes.append(ConfChangeSingle(ConfChangeType(t), node_id))
                pos += _CC.size
            return cls(tuple(changes), ConfChangeTransition(transition), _take_context(data, pos))
        except (struct.error, ValueError) as e:
            raise ValueError(f"malformed conf change v2: {e}") from None

    def as_v2(self) -> ConfChangeV2:
        return self

    def enter_joint(self) -> tuple[bool, bool]:
        """(use a joint config, leave it automatically). etcd's ``EnterJoint``."""
        if self.transition != ConfChangeTransition.AUTO or len(self.changes) > 1:
            if self.transition in (ConfChangeTransition.AUTO, ConfChangeTransition.JOINT_IMPLICIT):
                return True, True
            return True, False
        return False, False

    def leave_joint(self) -> bool:
        """Whether this is the empty change that leaves a joint config (its context aside, as
        etcd's ``LeaveJoint``)."""
        return not self.changes and self.transition == ConfChangeTransition.AUTO
