"""Shared harness for the raft tests: an in-process network of RawNodes over MemoryStorage.

The harness runs etcd's application loop for every node (``Network.process``):

    rd = node.ready()
    persist rd.snapshot, rd.entries, rd.hard_state to the node's MemoryStorage
    queue rd.messages for delivery
    apply rd.committed_entries (conf changes through apply_conf_change)
    node.advance(rd)

and checks, on every Ready, the contract's persistence rules: a follower's APP_RESP / VOTE_RESP /
PRE_VOTE_RESP only travel once what they promise is in the Ready being persisted (or was
persisted before), ``must_sync`` is set whenever entries or term/vote change, committed entries
are contiguous and never beyond what is persisted.

Test modules import it (``from harness import Network, ...``); ``conftest.py`` exposes it as
fixtures. Nothing here needs the raft internals beyond the public RawNode contract.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from multiraft.raft import (Config, ConfChange, ConfChangeV2, ConfState, Entry, EntryType, HardState,
                  MemoryStorage, Message, MessageType, RawNode, ReadState, Snapshot,
                  SnapshotMetadata, StateType)

MT = MessageType

#: Index and term of the bootstrap snapshot every test group starts from (etcd's Bootstrap
#: equivalent in the contract: the snapshot carries the ConfState, HardState(term=1, commit=1)).
BOOT_INDEX = 1
BOOT_TERM = 1

#: Messages whose sender promises something it must have persisted first.
PERSIST_BEFORE = frozenset({MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP})


def bootstrap_storage(voters: Iterable[int], learners: Iterable[int] = (), *,
                      entries: Iterable[tuple[int, bytes]] | Iterable[int] = (),
                      term: int = BOOT_TERM, vote: int = 0, commit: int = BOOT_INDEX) -> MemoryStorage:
    """A MemoryStorage bootstrapped like the contract says: a snapshot at index 1 (term 1)
    carrying the ConfState, then ``entries`` (given by term, or (term, data)) from index 2 on,
    and ``HardState(term, vote, commit)``."""
    s = MemoryStorage()
    cs = ConfState(voters=tuple(sorted(voters)), learners=tuple(sorted(learners)))
    s.apply_snapshot(Snapshot(metadata=SnapshotMetadata(cs, BOOT_INDEX, BOOT_TERM)))
    ents = []
    for i, e in enumerate(entries, start=BOOT_INDEX + 1):
        t, data = (e, b"") if isinstance(e, int) else e
        ents.append(Entry(t, i, EntryType.NORMAL, data))
    if ents:
        s.append(ents)
    s.set_hard_state(HardState(term=term, vote=vote, commit=commit))
    return s


def storage_log(s: MemoryStorage) -> list[Entry]:
    """All entries a MemoryStorage holds after its snapshot."""
    first, last = s.first_index(), s.last_index()
    return list(s.entries(first, last + 1)) if last >= first else []


def log_terms(s: MemoryStorage) -> list[tuple[int, int]]:
    """(index, term) of every entry in storage, the snapshot's included."""
    snap = s.snapshot().metadata
    out = [(snap.index, snap.term)] if snap.index else []
    return out + [(e.index, e.term) for e in storage_log(s)]


def msg(type: MessageType, from_: int, to: int, term: int, **kw: Any) -> Message:
    """Shorthand for a Message."""
    return Message(type=type, from_=from_, to=to, term=term, **kw)


@dataclass
class Node:
    """One RawNode plus what its application keeps: durable storage and the applied state."""

    id: int
    storage: MemoryStorage
    raw: RawNode
    config: Config
    #: every committed entry the application applied, in order
    applied: list[Entry] = field(default_factory=list)
    applied_index: int = 0
    conf_state: ConfState = field(default_factory=ConfState)
    read_states: list[ReadState] = field(default_factory=list)
    #: every ConfState returned by apply_conf_change, in order
    conf_states: list[ConfState] = field(default_factory=list)
    #: every Ready handled, in order (tests inspect them)
    readies: list[Any] = field(default_factory=list)
    #: soft state last reported in a Ready
    lead: int = 0
    state: StateType = StateType.FOLLOWER

    @property
    def hard_state(self) -> HardState:
        return self.storage.initial_state()[0]

    @property
    def term(self) -> int:
        return self.raw.status().hard_state.term

    @property
    def commit(self) -> int:
        return self.raw.status().hard_state.commit

    def log(self) -> list[Entry]:
        return storage_log(self.storage)

    def last_index(self) -> int:
        return self.storage.last_index()

    def raft_state(self) -> StateType:
        return self.raw.status().soft_state.raft_state


class Network:
    """In-process network of RawNodes with etcd's application loop, drops and partitions.

    Messages produced by ``process`` wait in ``queue`` until ``deliver`` steps them into their
    recipient; a message is dropped if its (from, to) pair is cut, its recipient is isolated or
    unknown, or a ``drop_if`` predicate matches.
    """

    def __init__(self, ids: Iterable[int], learners: Iterable[int] = (), *,
                 storages: dict[int, MemoryStorage] | None = None, seed: int = 0,
                 **cfg: Any) -> None:
        self.ids = sorted(ids)
        self.learners = sorted(learners)
        self.cfg = dict(cfg)
        self.seed = seed
        self.nodes: dict[int, Node] = {}
        self.queue: list[Message] = []
        self.cut_pairs: set[tuple[int, int]] = set()
        self.drop_if: Callable[[Message], bool] | None = None
        #: whether delivering (or dropping) a SNAP reports it to the sender (report_snapshot)
        self.report_snapshots = True
        #: every message delivered, in order
        self.delivered: list[Message] = []
        storages = storages or {}
        for i in self.ids + self.learners:
            self.add(i, storages.get(i) or bootstrap_storage(self.ids, self.learners))

    # -- membership of the harness --

    def config(self, id: int, storage: MemoryStorage, **over: Any) -> Config:
        kw = dict(election_tick=10, heartbeat_tick=1, rng=random.Random(f"{self.seed}-{id}"))
        kw.update(self.cfg)
        kw.update(over)
        return Config(id=id, storage=storage, **kw)

    def add(self, id: int, storage: MemoryStorage | None = None, **over: Any) -> Node:
        """Add (or replace, as a restart from durable state) node ``id``."""
        storage = storage if storage is not None else MemoryStorage()
        config = self.config(id, storage, **over)
        raw = RawNode(config)
        node = Node(id, storage, raw, config)
        node.conf_state = storage.initial_state()[1]
        node.applied_index = config.applied or storage.snapshot().metadata.index
        self.nodes[id] = node
        return node

    def restart(self, id: int, **over: Any) -> Node:
        """Crash ``id`` and start a new RawNode over the same durable storage."""
        old = self.nodes[id]
        node = self.add(id, old.storage, applied=old.applied_index, **over)
        node.applied = old.applied
        node.conf_state = old.conf_state
        return node

    def __getitem__(self, id: int) -> Node:
        return self.nodes[id]

    def raw(self, id: int) -> RawNode:
        return self.nodes[id].raw

    # -- the application loop --

    def process(self, id: int) -> Any | None:
        """Run one round of the application loop on ``id``; return the Ready (or None)."""
        node = self.nodes[id]
        raw = node.raw
        if not raw.has_ready():
            return None
        rd = raw.ready()
        node.readies.append(rd)
        prev_hs = node.hard_state
        s = node.storage
        if rd.snapshot is not None and not rd.snapshot.is_empty():
            s.apply_snapshot(rd.snapshot)
            node.applied_index = rd.snapshot.metadata.index
            node.conf_state = rd.snapshot.metadata.conf_state
        if rd.entries:
            s.append(list(rd.entries))
        if rd.hard_state is not None:
            s.set_hard_state(rd.hard_state)
        hs = node.hard_state
        self._check_ready(node, rd, prev_hs, hs)
        if rd.soft_state is not None:
            node.lead = rd.soft_state.lead
            node.state = rd.soft_state.raft_state
        node.read_states.extend(rd.read_states)
        self.queue.extend(rd.messages)
        for e in rd.committed_entries:
            self.apply_entry(node, e)
        raw.advance(rd)
        return rd

    def apply_entry(self, node: Node, e: Entry) -> None:
        assert e.index == node.applied_index + 1, (
            f"node {node.id}: committed entry {e.index} does not follow applied {node.applied_index}")
        node.applied_index = e.index
        node.applied.append(e)
        if e.type in (EntryType.CONF_CHANGE, EntryType.CONF_CHANGE_V2):
            cc = (ConfChange.decode(e.data) if e.type == EntryType.CONF_CHANGE
                  else ConfChangeV2.decode(e.data))
            node.conf_state = node.raw.apply_conf_change(cc)
            node.conf_states.append(node.conf_state)
            # like an application snapshotting its state: the storage's snapshot (what a leader
            # sends to a new node, and the ConfState a restart reads) follows the membership
            node.storage.create_snapshot(e.index, node.conf_state, b"conf@%d" % e.index)

    def _check_ready(self, node: Node, rd: Any, prev: HardState, hs: HardState) -> None:
        """The contract's persistence rules, checked on every Ready the harness handles."""
        s = node.storage
        if rd.entries or (hs.term, hs.vote) != (prev.term, prev.vote):
            assert rd.must_sync, f"node {node.id}: entries/term/vote to persist but must_sync is False"
        for m in rd.messages:
            if m.type not in PERSIST_BEFORE or m.reject:
                continue
            if m.type == MT.VOTE_RESP:
                assert hs.term == m.term and hs.vote == m.to, (
                    f"node {node.id} grants a vote to {m.to} in term {m.term} before persisting "
                    f"it (persisted {hs})")
            elif m.type == MT.PRE_VOTE_RESP:
                pass  # a pre-vote promises nothing durable
            elif m.type == MT.APP_RESP:
                assert s.last_index() >= m.index, (
                    f"node {node.id} acknowledges index {m.index} but has persisted only up to "
                    f"{s.last_index()}")
                assert hs.term >= m.term, f"node {node.id} answers in term {m.term} before persisting it"
        if rd.committed_entries:
            last = rd.committed_entries[-1].index
            assert last <= hs.commit, (
                f"node {node.id}: committed entry {last} beyond persisted commit {hs.commit}")
            assert last <= s.last_index(), f"node {node.id}: committed entry {last} not persisted"

    def deliver(self, pred: Callable[[Message], bool] | None = None) -> list[Message]:
        """Step every queued message (those matching ``pred`` if given) into its recipient."""
        taken, kept = [], []
        for m in self.queue:
            (taken if pred is None or pred(m) else kept).append(m)
        self.queue = kept
        out = []
        for m in taken:
            if self.dropped(m):
                self._snap_status(m, False)
                continue
            self.delivered.append(m)
            self.nodes[m.to].raw.step(m)
            self._snap_status(m, True)
            out.append(m)
        return out

    def _snap_status(self, m: Message, ok: bool) -> None:
        """The transport's part of etcd's loop: tell the leader how sending a snapshot went."""
        if m.type == MT.SNAP and self.report_snapshots and m.from_ in self.nodes:
            self.nodes[m.from_].raw.report_snapshot(m.to, ok)

    def dropped(self, m: Message) -> bool:
        return (m.to not in self.nodes or (m.from_, m.to) in self.cut_pairs
                or (self.drop_if is not None and self.drop_if(m)))

    def stabilize(self, max_rounds: int = 1000) -> None:
        """Run the application loop on every node and deliver messages until nothing moves."""
        for _ in range(max_rounds):
            moved = False
            for id in sorted(self.nodes):
                if self.process(id) is not None:
                    moved = True
            if self.queue:
                self.deliver()
                moved = True
            if not moved:
                return
        raise AssertionError(f"network did not stabilize in {max_rounds} rounds")

    def take(self, id: int | None = None) -> list[Message]:
        """Process ``id`` (or every node) and return (and remove) what it queued, undelivered."""
        for i in [id] if id is not None else sorted(self.nodes):
            self.process(i)
        out = [m for m in self.queue if id is None or m.from_ == id]
        self.queue = [m for m in self.queue if not (id is None or m.from_ == id)]
        return out

    def send(self, *msgs: Message) -> None:
        """Inject messages and stabilize."""
        self.queue.extend(msgs)
        self.stabilize()

    # -- faults --

    def cut(self, a: int, b: int) -> None:
        self.cut_pairs |= {(a, b), (b, a)}

    def isolate(self, id: int) -> None:
        for other in self.nodes:
            if other != id:
                self.cut(id, other)

    def recover(self) -> None:
        self.cut_pairs.clear()
        self.drop_if = None

    # -- driving --

    def tick(self, id: int, n: int = 1) -> None:
        for _ in range(n):
            self.nodes[id].raw.tick()

    def tick_all(self, n: int = 1, *, stabilize: bool = True) -> None:
        """Tick every node once per round, stabilizing after each round."""
        for _ in range(n):
            for node in self.nodes.values():
                node.raw.tick()
            if stabilize:
                self.stabilize()

    def campaign(self, id: int) -> None:
        self.nodes[id].raw.campaign()
        self.stabilize()

    def elect(self, id: int) -> Node:
        """Campaign ``id`` and require that it wins."""
        self.campaign(id)
        node = self.nodes[id]
        assert node.raft_state() == StateType.LEADER, f"{id} did not win: {node.raw.status()}"
        return node

    def propose(self, id: int, data: bytes, *, stabilize: bool = True) -> None:
        self.nodes[id].raw.propose(data)
        if stabilize:
            self.stabilize()

    def leaders(self) -> list[int]:
        return [i for i, n in self.nodes.items() if n.raft_state() == StateType.LEADER]

    def msgs(self, type: MessageType, source: Iterable[Message] | None = None) -> list[Message]:
        return [m for m in (self.queue if source is None else source) if m.type == type]

    def applied_data(self, id: int) -> list[bytes]:
        """Data of the non-empty normal entries ``id`` applied."""
        return [e.data for e in self.nodes[id].applied if e.type == EntryType.NORMAL and e.data]
