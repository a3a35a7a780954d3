"""Configuration of one raft node (etcd's ``raft.Config``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import IntEnum

from .storage import Storage

__all__ = ["Config", "ReadOnlyOption"]


class ReadOnlyOption(IntEnum):
    #: ReadIndex confirms leadership with a heartbeat round to a quorum (always safe).
    SAFE = 0
    #: ReadIndex trusts the leader lease; needs ``check_quorum`` and bounded clock drift.
    LEASE_BASED = 1


@dataclass(slots=True)
class Config:
    id: int
    storage: Storage
    election_tick: int = 10
    heartbeat_tick: int = 1
    applied: int = 0
    max_size_per_msg: int = 1 << 20
    max_committed_size_per_ready: int = 1 << 26
    max_uncommitted_entries_size: int = 0
    max_inflight_msgs: int = 256
    max_inflight_bytes: int = 0
    check_quorum: bool = False
    pre_vote: bool = False
    read_only_option: ReadOnlyOption = ReadOnlyOption.SAFE
    disable_proposal_forwarding: bool = False
    #: A leader does not send an empty MsgApp only to tell followers of a new commit index:
    #: they learn it from the next MsgApp or heartbeat. One Ready cycle (and write) fewer on
    #: every follower per entry when entries come one at a time (many ranges, a few writes
    #: each); followers apply up to a heartbeat interval later. The commit of a conf change
    #: still goes out at once (a replica it removes hears nothing more). Not in etcd's raft.
    lazy_commit: bool = False
    #: A leader's heartbeat round skips the followers it sent a MsgApp since the last round
    #: (the MsgApp reset their election timers, and their answers count for check_quorum),
    #: unless a read waits for the round. Busy ranges then send no heartbeats. Not in etcd's
    #: raft.
    append_as_heartbeat: bool = False
    rng: random.Random | None = None

    def validate(self) -> None:
        """Raise ``ValueError`` for a config a node cannot run with."""
        if self.id == 0:
            raise ValueError("cannot use none (0) as id")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election tick must be greater than heartbeat tick")
        if self.storage is None:
            raise ValueError("storage cannot be nil")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max inflight messages must be greater than 0")
        if self.max_inflight_bytes and self.max_inflight_bytes < self.max_size_per_msg:
            raise ValueError("max inflight bytes must be >= max message size")
        if self.max_uncommitted_entries_size < 0 or self.max_size_per_msg < 0:
            raise ValueError("sizes must not be negative")
        if self.read_only_option == ReadOnlyOption.LEASE_BASED and not self.check_quorum:
            raise ValueError("check_quorum must be enabled when read_only_option is LEASE_BASED")
